//! `tvault verify-export`: check a bundle without any vault.

use std::path::PathBuf;

use tvault::Error;

use super::error::CliError;
use super::export::bundle_unlock;
use super::{Context, print, print_json};

/// Check an export bundle: sums, signatures, checkpoint and receipt; with a key, every file
/// inside the payload too. Needs no vault.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    /// An age identity file or unencrypted OpenSSH ed25519 key to open the payload with
    #[arg(long, value_name = "FILE", conflicts_with = "export_passphrase_file")]
    identity: Option<PathBuf>,

    /// The export passphrase, on the first line of FILE
    #[arg(long, value_name = "FILE")]
    export_passphrase_file: Option<PathBuf>,

    /// The signer you expect: an ssh-ed25519 public key or its SHA256: fingerprint
    #[arg(long, value_name = "PUBKEY_OR_FINGERPRINT")]
    signer: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let unlock = bundle_unlock(
        ctx,
        args.identity.as_deref(),
        args.export_passphrase_file.as_deref(),
        false,
    )?;
    let (report, _) =
        tvault::export::verify_bundle(&args.file, args.signer.as_deref(), unlock.as_ref(), None)
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
    if args.signer.is_none() {
        ctx.say("warning: no --signer given; compare the fingerprint above with the one the sender gave you another way");
    }
    Ok(())
}
