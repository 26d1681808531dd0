//! `tvault open-export`: verify a bundle completely, then write its records as plain files.

use std::path::PathBuf;

use tvault::Error;

use super::error::CliError;
use super::export::bundle_unlock;
use super::{Context, print, print_json};

/// Verify a bundle completely, then write its records as plain files into a new folder
///
/// Nothing is written until every checksum and signature is good. Names that could escape
/// the folder, links, devices and duplicates are refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    /// The folder to create (0700) and fill
    #[arg(long, value_name = "DIR")]
    into: PathBuf,

    /// An age identity file or unencrypted OpenSSH ed25519 key to open the payload with
    #[arg(long, value_name = "FILE", conflicts_with = "export_passphrase_file")]
    identity: Option<PathBuf>,

    /// The export passphrase, on the first line of FILE (otherwise asked on the terminal)
    #[arg(long, value_name = "FILE")]
    export_passphrase_file: Option<PathBuf>,

    /// The signer you expect: an ssh-ed25519 public key or its SHA256: fingerprint
    #[arg(long, value_name = "PUBKEY_OR_FINGERPRINT")]
    signer: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.into.exists() {
        return Err(
            CliError::usage(format!("{} already exists", args.into.display()))
                .hint("name a folder that does not exist yet; tvault creates it"),
        );
    }
    let unlock = bundle_unlock(
        ctx,
        args.identity.as_deref(),
        args.export_passphrase_file.as_deref(),
        true,
    )?;
    let (report, _) = tvault::export::verify_bundle(
        &args.file,
        args.signer.as_deref(),
        unlock.as_ref(),
        Some(&args.into),
    )
    .map_err(|e| CliError::from(Error::Bundle(e)))?;
    if ctx.json {
        return print_json(&report);
    }
    print(&format!(
        "ok: {} records, {} files written into {}, signed by {}\n",
        report.records,
        report.files,
        args.into.display(),
        report.fingerprint
    ))?;
    if args.signer.is_none() {
        ctx.say("warning: no --signer given; compare the fingerprint above with the one the sender gave you another way");
    }
    Ok(())
}
