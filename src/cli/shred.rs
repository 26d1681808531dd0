//! `tvault shred`: destroy a record when consent is withdrawn or it endangers the witness.

use tvault::RecordIdPrefix;

use super::error::CliError;
use super::{Context, print_json};

/// Destroy every version of a record: content, metadata, identity and keys
///
/// A tombstone keeps the intake hashes, the time, the operator and the reason, never the
/// content. Copies and backups made earlier still hold the record.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// Why: consent withdrawn, a risk to the witness… (kept in the tombstone and the log)
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::usage("--reason needs some text"));
    }
    let mut vault = ctx.unlock()?;
    let tombstone = vault.shred(&args.id, args.reason.trim())?;
    if ctx.json {
        return print_json(&tombstone);
    }
    ctx.say(&format!(
        "Shredded record {} ({} version(s)). Copies and backups made before now still hold it: destroy them too.",
        tombstone.record,
        tombstone.versions.len()
    ));
    Ok(())
}
