//! `tvault import`: take in another vault's export bundle (an HQ merging field vaults).

use std::path::PathBuf;

use super::error::CliError;
use super::export::{BundleKeyArgs, UNTRUSTED_SIGNER};
use super::progress::Bar;
use super::{Context, print, print_json};

/// Import an export bundle into this vault, keeping record ids, versions, intake hashes and
/// custody
///
/// The bundle is verified completely first, against the signer named with --signer (its
/// fingerprint comes from the sender out of band). Versions this vault already holds are
/// skipped, so importing the same bundle twice changes nothing. A bundle adds a version to a
/// record held here only when it is the next version, comes from the vault and signer first
/// trusted for that record, and does not widen its consent; anything else is refused (exit 13)
/// and nothing is imported.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    /// Let this bundle's vault and signer add versions to records that were recorded in this
    /// vault (for example HQ's amendments coming back to a field vault); logged
    #[arg(long)]
    trust_source: bool,

    /// Accept versions whose consent allows more than the consent held here; logged with the
    /// old and the new consent
    #[arg(long)]
    accept_consent_change: bool,

    #[command(flatten)]
    key: BundleKeyArgs,
}

/// The summary, with a warning in words when nothing vouches for the signer.
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    summary: &'a tvault::vault::ImportSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'static str>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    // Without --signer or --trust-bundle-signer, the bundle's source and signer must be the
    // ones this vault pinned at an earlier import (checked once the manifest is read).
    let trust = args
        .key
        .signer_trust()
        .unwrap_or(tvault::bundle::SignerTrust::Pinned);
    let mut vault = ctx.unlock()?;
    let unlock = args.key.unlock(ctx, true)?.expect("a prompt was allowed");
    let bar = Bar::bytes(ctx, "checking and importing");
    let summary = vault.import(
        &args.file,
        &unlock,
        &trust,
        tvault::vault::ImportOptions {
            trust_source: args.trust_source,
            accept_consent_change: args.accept_consent_change,
        },
        &mut |done, total| bar.set(done, total),
    )?;
    drop(bar);
    if !summary.signer_trusted {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "WARNING: {UNTRUSTED_SIGNER}.\n         It is signed by {}; the records keep that fingerprint as their source.",
            summary.signer
        );
    }
    if ctx.json {
        return print_json(&Shown {
            summary: &summary,
            warning: (!summary.signer_trusted).then_some(UNTRUSTED_SIGNER),
        });
    }
    print(&format!(
        "imported {} record version(s) from export {} ({} already here)\n",
        summary.imported, summary.export_id, summary.skipped
    ))
}
