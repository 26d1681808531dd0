//! `tvault verify-export`: check a bundle without any vault.

use std::path::PathBuf;

use tvault::Error;
use tvault::bundle::{ApprovalReport, BundleReport};

use super::error::{CliError, Exit};
use super::export::{BundleKeyArgs, UNTRUSTED_SIGNER, no_signer, warn_untrusted};
use super::{Context, print, print_json};

/// Check an export bundle: sums, signatures, checkpoint and receipt; with a key, every file
/// inside the payload too. Needs no vault.
///
/// The bundle must be signed by the key named with --signer, whose fingerprint the sender
/// gives you out of band (on paper, by phone); --trust-bundle-signer checks it against the
/// key it carries instead, which proves nothing about who made it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle
    file: PathBuf,

    #[command(flatten)]
    key: BundleKeyArgs,

    /// Ask for the export passphrase on the terminal and check the payload too (for a
    /// bundle sealed with a passphrase)
    #[arg(long, conflicts_with_all = ["identity", "export_passphrase_file"])]
    ask_export_passphrase: bool,

    /// Fail unless N different operators' personal keys signed the manifest (a two-person
    /// export: --require-approvals 2); needs the payload's key or passphrase
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=9))]
    require_approvals: Option<u8>,

    /// An operator's personal key you trust, its SHA256: fingerprint or ssh-ed25519 line as
    /// published (`tvault operator key NAME`); repeatable. Then only signatures by these
    /// keys count towards --require-approvals
    #[arg(
        long = "operator-key",
        value_name = "KEY",
        requires = "require_approvals"
    )]
    operator_keys: Vec<String>,
}

/// The report, with a warning in words when nothing vouches for the signer.
#[derive(serde::Serialize)]
pub struct Shown<'a> {
    #[serde(flatten)]
    pub report: &'a BundleReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'static str>,
}

impl<'a> Shown<'a> {
    pub fn new(report: &'a BundleReport) -> Self {
        Shown {
            report,
            warning: (!report.signer_trusted).then_some(UNTRUSTED_SIGNER),
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let trust = args.key.signer_trust().ok_or_else(no_signer)?;
    let unlock = args.key.unlock(ctx, args.ask_export_passphrase)?;
    if args.require_approvals.is_some() && unlock.is_none() {
        return Err(
            CliError::usage("--require-approvals checks signatures inside the payload").hint(
                "give --identity FILE, --export-passphrase-file FILE or --ask-export-passphrase",
            ),
        );
    }
    let (report, _) = tvault::bundle::verify_bundle(&args.file, &trust, unlock.as_ref(), None)
        .map_err(|e| CliError::from(Error::from(e)))?;
    if !report.signer_trusted {
        warn_untrusted(&report);
    }
    let named = |a: &ApprovalReport| {
        args.operator_keys.is_empty() || args.operator_keys.iter().any(|k| a.is_key(k))
    };
    if let Some(required) = args.require_approvals {
        let counted = report.approvals.iter().filter(|a| named(a)).count();
        if counted < usize::from(required) {
            return Err(CliError::new(
                Exit::Integrity,
                format!(
                    "approvals: {counted} operator signature(s){} over the manifest, {required} required",
                    if args.operator_keys.is_empty() { "" } else { " by the keys you named" }
                ),
            )
            .hint("the bundle was not made under the two-person rule you expect: do not rely on it, and ask the sender"));
        }
    }
    if ctx.json {
        return print_json(&Shown::new(&report));
    }
    let mut signers = String::new();
    for a in &report.approvals {
        signers += &format!(
            "    {}: {} {}{}\n",
            a.role,
            super::terminal::escape(&a.operator, false),
            a.fingerprint,
            if args.operator_keys.is_empty() {
                ""
            } else if named(a) {
                " (a key you named)"
            } else {
                " (NOT among the keys you named)"
            }
        );
    }
    if !signers.is_empty() {
        signers = format!(
            "    manifest signed by {} operator(s){}:\n{signers}",
            report.approvals.len(),
            if args.operator_keys.is_empty() {
                "; compare their keys with the ones they published"
            } else {
                ""
            }
        );
    }
    print(&format!(
        "ok: export {} from vault {}, signed by {}{}\n    receipt: event {} of {} in the signed custody log\n    payload: {}\n{signers}",
        report.export_id.as_deref().unwrap_or("?"),
        report.vault_id,
        report.fingerprint,
        if report.signer_rotated {
            " (the key the signer you named handed over to when its vault was rekeyed; \
             ask the sender to confirm this newer fingerprint)"
        } else if report.signer_trusted {
            " (the signer you named)"
        } else {
            " (NOT checked against a key you named)"
        },
        report.event_index,
        report.tree_size,
        if report.payload_checked {
            format!(
                "decrypted; {} records, {} files, every checksum and signature good",
                report.records, report.files
            )
        } else {
            "not checked (give --identity, --export-passphrase-file or --ask-export-passphrase to check it)".to_owned()
        }
    ))?;
    for t in &report.timestamps {
        print(&format!(
            "    timestamp: the first {} events existed by {} (authority: {}{})\n",
            t.tree_size,
            t.time,
            super::terminal::escape(&t.authority, false),
            if t.certificate_expired {
                "; its certificate has expired since, and was valid at that time"
            } else {
                ""
            }
        ))?;
    }
    Ok(())
}
