//! Bodies of the `latchkey` subcommands that are more than a call or two (main.rs stays thin).

pub mod audit;
pub mod import;
pub mod sinks;
pub mod staging;

use crate::service::{Committed, Latchkey};

/// The value of a committed write. The command line answers no header and serves no reads
/// after it, so the revisions only reach this process's snapshots (those of a server learn of
/// them through the notification PostgreSQL delivers at commit); they are logged at debug.
pub fn wrote<T>(service: &Latchkey, committed: Committed<T>) -> T {
    service.apply_revisions(&committed.revisions);
    for r in committed.revisions.iter() {
        tracing::debug!(app_id = r.app_id, revision = r.seq, "committed");
    }
    committed.value
}

/// A body as the command line prints it: one line of JSON, keys sorted. The commands printed
/// JSON maps (whose keys serde_json sorts) before they printed the API's wire types, and scripts
/// may compare the lines; `latchkey apps …` keeps that order although the API answers an
/// application in the vendor's field order.
pub fn json_line(body: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_value(body)?.to_string())
}

/// The process exit code for a failed command: 2 when an audit chain did not verify (so scripts
/// can tell "tampered" from "could not run"), 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<audit::ChainBroken>().is_some() {
        2
    } else {
        1
    }
}
