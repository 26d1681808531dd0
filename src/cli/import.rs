//! `tvault import`: take in another vault's export bundle (an HQ merging field vaults).

use std::path::PathBuf;

use super::error::CliError;
use super::export::bundle_unlock;
use super::{Context, print, print_json};

/// Import an export bundle into this vault, keeping record ids, versions, intake hashes and
/// custody
///
/// The bundle is verified completely first. Versions this vault already holds are skipped, so
/// importing the same bundle twice changes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

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
    let mut vault = ctx.unlock()?;
    let unlock = bundle_unlock(
        ctx,
        args.identity.as_deref(),
        args.export_passphrase_file.as_deref(),
        true,
    )?
    .expect("a prompt was allowed");
    let summary = vault.import(&args.file, &unlock, args.signer.as_deref())?;
    if ctx.json {
        return print_json(&summary);
    }
    print(&format!(
        "imported {} record version(s) from export {} ({} already here)\n",
        summary.imported, summary.export_id, summary.skipped
    ))?;
    if args.signer.is_none() {
        ctx.say(
            "warning: no --signer given; make sure you trust the vault that signed this bundle",
        );
    }
    Ok(())
}
