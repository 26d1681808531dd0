//! `tvault verify-export`: check a bundle without any vault.

use std::path::PathBuf;

use tvault::Error;

use super::error::CliError;
use super::export::BundleKeyArgs;
use super::{Context, print, print_json};

/// Check an export bundle: sums, signatures, checkpoint and receipt; with a key, every file
/// inside the payload too. Needs no vault.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    #[command(flatten)]
    key: BundleKeyArgs,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let unlock = args.key.unlock(ctx, false)?;
    let (report, _) = tvault::bundle::verify_bundle(
        &args.file,
        args.key.signer.as_deref(),
        unlock.as_ref(),
        None,
    )
    .map_err(|e| CliError::from(Error::Bundle(e)))?;
    if ctx.json {
        return print_json(&report);
    }
    print(&format!(
        "ok: export {} from vault {}, signed by {}\n    receipt: event {} of {} in the signed custody log\n    payload: {}\n",
        report.export_id.as_deref().unwrap_or("?"),
        report.vault_id,
        report.fingerprint,
        report.event_index,
        report.tree_size,
        if report.payload_checked {
            format!(
                "decrypted; {} records, {} files, every checksum and signature good",
                report.records, report.files
            )
        } else {
            "not checked (give --identity or --export-passphrase-file to check it)".to_owned()
        }
    ))?;
    if args.key.signer.is_none() {
        ctx.say("warning: no --signer given; compare the fingerprint above with the one the sender gave you another way");
    }
    Ok(())
}
