//! `tvault open-export`: verify a bundle completely, then write its records as plain files.

use std::path::PathBuf;

use tvault::Error;

use super::error::CliError;
use super::export::BundleKeyArgs;
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

    #[command(flatten)]
    key: BundleKeyArgs,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.into.exists() {
        return Err(
            CliError::usage(format!("{} already exists", args.into.display()))
                .hint("name a folder that does not exist yet; tvault creates it"),
        );
    }
    let unlock = args.key.unlock(ctx, true)?;
    let (report, _) = tvault::bundle::verify_bundle(
        &args.file,
        args.key.signer.as_deref(),
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
    if args.key.signer.is_none() {
        ctx.say("warning: no --signer given; compare the fingerprint above with the one the sender gave you another way");
    }
    Ok(())
}
