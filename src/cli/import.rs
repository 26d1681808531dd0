//! `tvault import`: take in another vault's export bundle (an HQ merging field vaults).

use std::path::PathBuf;

use super::error::CliError;
use super::export::BundleKeyArgs;
use super::progress::Bar;
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

    #[command(flatten)]
    key: BundleKeyArgs,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let unlock = args.key.unlock(ctx, true)?.expect("a prompt was allowed");
    let bar = Bar::bytes(ctx, "checking and importing");
    let summary = vault.import(
        &args.file,
        &unlock,
        args.key.signer.as_deref(),
        &mut |done, total| bar.set(done, total),
    )?;
    drop(bar);
    if ctx.json {
        return print_json(&summary);
    }
    print(&format!(
        "imported {} record version(s) from export {} ({} already here)\n",
        summary.imported, summary.export_id, summary.skipped
    ))?;
    if args.key.signer.is_none() {
        ctx.say(
            "warning: no --signer given; make sure you trust the vault that signed this bundle",
        );
    }
    Ok(())
}
