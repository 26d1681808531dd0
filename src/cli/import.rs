//! `tvault import`: take in another vault's export bundle (an HQ merging field vaults).

use std::path::PathBuf;

use super::error::CliError;
use super::export::{BundleKeyArgs, UNTRUSTED_SIGNER};
use super::progress::Bar;
use super::{Context, print, print_json};

/// Import an export bundle into this vault, keeping record ids, versions, intake hashes and
/// custody; or a field kit's bundle, writing the kit's receipt
///
/// The bundle is verified completely first, against the signer named with --signer (its
/// fingerprint comes from the sender out of band). Versions this vault already holds are
/// skipped, so importing the same bundle twice changes nothing. A bundle adds a version to a
/// record held here only when it is the next version, comes from the vault and signer first
/// trusted for that record, and does not widen its consent; anything else is refused (exit 13)
/// and nothing is imported.
///
/// A field kit's bundle (from `tvault kit send`) is checked against the kit made here with
/// `tvault kit create`: its key, its log (which must extend the one imported before) and
/// every sealed file. A receipt signed by this vault is written for `tvault kit confirm`.
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

    /// A field kit's bundle: write the receipt for the kit here [default: FILE.receipt]
    #[arg(long, value_name = "FILE")]
    receipt_out: Option<PathBuf>,

    /// A field kit's bundle: import it although the kit was revoked (with --reason; logged)
    #[arg(long, requires = "reason")]
    accept_revoked: bool,

    /// Why a revoked kit's bundle is accepted
    #[arg(long, value_name = "TEXT", requires = "accept_revoked")]
    reason: Option<String>,

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
    // A field kit's bundle is recognised by its first entry; it is checked against the kit
    // made here, not against a named signer. A file with no first entry is refused before
    // any key is asked for.
    let kind = tvault::bundle::kit::bundle_kind(&args.file).map_err(tvault::Error::from)?;
    if kind == tvault::bundle::kit::BundleKind::Kit {
        return super::kit::import(
            ctx,
            &args.file,
            args.receipt_out,
            args.reason.as_deref().filter(|_| args.accept_revoked),
        );
    }
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
