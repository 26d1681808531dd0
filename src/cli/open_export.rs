//! `tvault open-export`: verify a bundle completely, then write its records as plain files.

use std::path::PathBuf;

use tvault::Error;

use super::error::CliError;
use super::export::{BundleKeyArgs, no_signer, warn_untrusted};
use super::verify_export::Shown;
use super::{Context, print, print_json};

/// Verify a bundle completely, then write its records as plain files into a new folder
///
/// The files are written into a hidden folder beside the new one as they are checked; it
/// takes the folder's name only once every checksum and signature is good, holding only files
/// the signed listing and the manifest name, and on any failure nothing is left. Names that
/// could escape the folder or alias another name, links, devices and duplicates are refused.
/// The bundle must be signed by the key named with --signer, whose fingerprint the sender
/// gives you out of band.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    /// The folder to create (0700) and fill
    #[arg(long, value_name = "DIR")]
    into: PathBuf,

    #[command(flatten)]
    key: BundleKeyArgs,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let trust = args.key.signer_trust().ok_or_else(no_signer)?;
    if args.into.exists() {
        return Err(
            CliError::usage(format!("{} already exists", args.into.display()))
                .hint("name a folder that does not exist yet; tvault creates it"),
        );
    }
    let unlock = args.key.unlock(ctx, true)?;
    let (report, _) =
        tvault::bundle::verify_bundle(&args.file, &trust, unlock.as_ref(), Some(&args.into))
            .map_err(|e| CliError::from(Error::from(e)))?;
    if !report.signer_trusted {
        warn_untrusted(&report);
    }
    if ctx.json {
        return print_json(&Shown::new(&report));
    }
    print(&format!(
        "ok: {} records, {} files written into {}, signed by {}{}\n",
        report.records,
        report.files,
        args.into.display(),
        report.fingerprint,
        if report.signer_trusted {
            " (the signer you named)"
        } else {
            " (NOT checked against a key you named)"
        },
    ))
}
