//! Logging: `RUST_LOG` levels, human or JSON lines, the request id on every line (from the
//! request span). Colours only when stderr is a terminal: a file or a pipe gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if format == LogFormat::Json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
