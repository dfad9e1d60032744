//! Bodies of the `latchkey` subcommands that are more than a call or two (main.rs stays thin).

pub mod audit;
pub mod import;
pub mod sinks;
pub mod staging;

/// The process exit code for a failed command: 2 when an audit chain did not verify (so scripts
/// can tell "tampered" from "could not run"), 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<audit::ChainBroken>().is_some() {
        2
    } else {
        1
    }
}
