//! `tvault shred`: destroy a record when consent is withdrawn or it endangers the witness.

use serde::Serialize;
use tvault::RecordIdPrefix;
use tvault::vault::Tombstone;

use super::error::CliError;
use super::{Context, print_json};

/// Destroy every version of a record: content, metadata, identity and keys
///
/// A tombstone keeps the intake hashes, the time, the operator and the reason, never the
/// content. The record's rows are overwritten in the vault file and in its rollback journal.
/// Backups and earlier copies of the vault still hold the record: destroy them, and run
/// `tvault rekey --reencrypt` so that nothing left of it opens with this vault's keys.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// Why: consent withdrawn, a risk to the witness… (kept in the tombstone and the log)
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

/// What is left elsewhere, and what to do about it (SECURITY.md, "Shredding").
const EARLIER_COPIES: &str = "Backups and earlier copies of the vault still hold it, and so may \
    exports made before now and blocks an SSD or filesystem keeps: destroy the copies you can. \
    To make what is left undecryptable with this vault's keys, run `tvault rekey --reencrypt` \
    (a new master key and new file keys); copies made before it still open with the \
    passphrases of their time, so change those as well (`tvault passphrase change`).";

const REKEY_COMMAND: &str = "tvault rekey --reencrypt";

/// `shred --json`: the tombstone, and what the shred could not reach.
#[derive(Serialize)]
struct Shredded<'a> {
    #[serde(flatten)]
    tombstone: &'a Tombstone,
    earlier_copies_hold_record: bool,
    rekey_command: &'static str,
    note: &'static str,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::usage("--reason needs some text"));
    }
    let mut vault = ctx.unlock()?;
    let tombstone = vault.shred(&args.id, args.reason.trim())?;
    if ctx.json {
        return print_json(&Shredded {
            tombstone: &tombstone,
            earlier_copies_hold_record: true,
            rekey_command: REKEY_COMMAND,
            note: EARLIER_COPIES,
        });
    }
    ctx.say(&format!(
        "Shredded record {} ({} version(s)): its keys and content are overwritten in this vault \
         file and its journal.\n{EARLIER_COPIES}",
        tombstone.record,
        tombstone.versions.len()
    ));
    Ok(())
}
