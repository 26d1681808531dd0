//! `tvault export`: a sealed, signed bundle for a court, a UN body or a partner.

use std::path::PathBuf;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use tvault::bundle::{BundleReport, SignerTrust, Unlock};
use tvault::vault::{ExportRequest, Seal, Selection};
use tvault::{Purpose, RecordIdPrefix};
use zeroize::Zeroizing;

use super::error::{CliError, Exit};
use super::progress::Bar;
use super::{Context, print_json};

/// Write a sealed, signed export bundle of records
///
/// Records leave only for a purpose their consent lists. The witness's identity and audio,
/// video and photo attachments (recognised by their content; anything unrecognised counts as
/// video) stay behind unless asked for and consented to. When the identity stays behind, the
/// witness's names are replaced by the pseudonym in the statement, the metadata and text
/// attachments, automatically: review the result before you send it. Recipients can check and
/// open the bundle with tar, sha256sum, ssh-keygen and age alone (see VERIFY.txt inside it).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "tag", "witness", "all"])))]
pub struct Args {
    /// The bundle to write (never replaces a file)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,

    /// What the export is for: archive, advocacy, public, un or court
    #[arg(long, value_parser = |s: &str| s.parse::<Purpose>())]
    purpose: Purpose,

    /// Why; required with --override-consent, logged either way
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,

    /// Records to export, by id or unique prefix
    #[arg(value_name = "ID")]
    ids: Vec<RecordIdPrefix>,

    /// Every record with this tag
    #[arg(long, value_name = "T")]
    tag: Option<String>,

    /// Every record of this witness pseudonym
    #[arg(long, value_name = "W")]
    witness: Option<String>,

    /// Every record
    #[arg(long)]
    all: bool,

    /// Seal to this recipient: an age key (age1…) or an ssh-ed25519 public key; repeatable
    #[arg(
        long = "recipient",
        value_name = "KEY",
        conflicts_with = "export_passphrase_file"
    )]
    recipients: Vec<String>,

    /// Seal to the recipients listed in FILE, one per line (# starts a comment)
    #[arg(long, value_name = "FILE", conflicts_with = "export_passphrase_file")]
    recipients_file: Option<PathBuf>,

    /// Seal with the passphrase on the first line of FILE (age's scrypt)
    #[arg(long, value_name = "FILE")]
    export_passphrase_file: Option<PathBuf>,

    /// Include the witness's identity where its consent level is `named`
    #[arg(long)]
    include_identity: bool,

    /// Include audio, video and photos where the media consent covers them
    #[arg(long)]
    include_media: bool,

    /// Include PDF and office documents of records whose identity stays behind: they cannot
    /// be redacted automatically and may name the witness
    #[arg(long)]
    include_documents: bool,

    /// Release derived items of this kind (transcript, translation, redaction, summary);
    /// repeatable. A reviewed redaction (`tvault redact`) leaves in place of a source whose
    /// names consent withholds, which is then withheld; the lineage travels with it
    #[arg(long, value_name = "KIND", value_parser = tvault::record::DerivedKind::from_str)]
    prefer: Vec<tvault::record::DerivedKind>,

    /// Include records whose consent does not list the purpose (needs --reason; logged)
    #[arg(long, requires = "reason")]
    override_consent: bool,

    /// Accept an export passphrase that the strength estimate rates as guessable
    #[arg(long, conflicts_with_all = ["recipients", "recipients_file"])]
    allow_weak_passphrase: bool,

    /// With --all, --tag or --witness: export the records whose consent lists the purpose and
    /// list the others as skipped (exit 3 when any was), instead of refusing the export
    #[arg(long, conflicts_with_all = ["override_consent", "ids"])]
    only_consented: bool,

    #[command(flatten)]
    approvers: super::policy::ApproverArgs,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    super::refuse_existing(&args.output)?;
    let mut keys = args.recipients.clone();
    if let Some(file) = &args.recipients_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::new(Exit::Io, format!("cannot read {}", file.display())).with_source(&e)
        })?;
        keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if keys.is_empty() && (args.recipients_file.is_some() || !args.recipients.is_empty()) {
        return Err(CliError::usage("the recipients file lists no recipient")
            .hint("one age1… or ssh-ed25519 key per line; # starts a comment"));
    }
    if keys.is_empty() && args.export_passphrase_file.is_none() && !ctx.export_recipients.is_empty()
    {
        keys = ctx.export_recipients.clone();
        if let Some(p) = &ctx.config_path {
            ctx.say(&format!(
                "sealing to the {} recipient(s) of the config file {}",
                keys.len(),
                p.display()
            ));
        }
    }
    let mut vault = ctx.unlock()?;
    let seal = if !keys.is_empty() {
        Seal::Recipients(keys)
    } else {
        let passphrase = export_passphrase(ctx, args.export_passphrase_file.as_deref(), true)?;
        // The bundle travels; whoever holds it can try passphrases offline, at scrypt's cost.
        if !args.allow_weak_passphrase {
            super::passphrase::check_text_strength(
                passphrase.expose_secret(),
                "anyone holding the bundle can guess at its passphrase offline: seal to the \
                 recipient's key with --recipient instead, or use seven random words",
            )?;
        }
        Seal::Passphrase(passphrase)
    };
    let selection = if args.all {
        Selection::All
    } else if let Some(t) = args.tag {
        Selection::Tag(t)
    } else if let Some(w) = args.witness {
        Selection::Witness(w)
    } else {
        Selection::Ids(args.ids)
    };
    let approvers = args.approvers.read(ctx)?;
    let bar = Bar::bytes(ctx, "exporting");
    let summary = vault.export(
        ExportRequest {
            purpose: args.purpose,
            reason: args.reason,
            selection,
            include_identity: args.include_identity,
            include_media: args.include_media,
            include_documents: args.include_documents,
            override_consent: args.override_consent,
            only_consented: args.only_consented,
            prefer: args.prefer,
            seal,
            output: &args.output,
            approvers,
        },
        &mut |done, total| bar.set(done, total),
    )?;
    drop(bar);
    let partial = (!summary.skipped.is_empty()).then(|| {
        CliError::new(
            Exit::Partial,
            format!(
                "{} record(s) skipped: their consent does not include {}",
                summary.skipped.len(),
                args.purpose.as_str()
            ),
        )
        .hint("the bundle holds the others; its manifest lists the skipped records")
    });
    let review = (!summary.redacted.is_empty()).then(|| review_warning(&summary));
    if ctx.json {
        #[derive(serde::Serialize)]
        struct Output<'a> {
            #[serde(flatten)]
            summary: &'a tvault::vault::ExportSummary,
            #[serde(skip_serializing_if = "Option::is_none")]
            warning: Option<&'a str>,
        }
        print_json(&Output {
            summary: &summary,
            warning: review.as_deref(),
        })?;
        warn_review(review.as_deref());
        return partial.map_or(Ok(()), Err);
    }
    ctx.say(&format!(
        "Wrote {} ({} record(s), {} item(s) withheld), export {}.\nSHA-256 {}\nSigned by {}; the recipient should compare it with the fingerprint you give them another way.",
        summary.path.display(),
        summary.records,
        summary.withheld.len(),
        summary.export_id,
        summary.bundle_sha256,
        summary.signer_fingerprint
    ));
    if summary.approvals.len() > 1 {
        let who: Vec<String> = summary
            .approvals
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    super::terminal::escape(&a.operator, false),
                    a.role
                )
            })
            .collect();
        ctx.say(&format!(
            "Its manifest is signed by the personal keys of {}.",
            who.join(", ")
        ));
    }
    for w in &summary.withheld {
        ctx.say(&format!(
            "  withheld from {}: {}{} ({})",
            &w.record[..12],
            w.what,
            w.name
                .as_deref()
                .map(|n| format!(" {}", super::terminal::escape(n, false)))
                .unwrap_or_default(),
            w.why
        ));
    }
    for s in &summary.skipped {
        ctx.say(&format!("  skipped {}: {}", s.record, s.why));
    }
    for r in &summary.redacted {
        let record = &r.record[..12];
        ctx.say(&if r.redaction.changed.is_empty() {
            format!(
                "  searched {record} for the witness's names: none found (automatic, not reviewed)"
            )
        } else {
            format!(
                "  replaced the witness's names in {record}: {} (automatic, not reviewed)",
                super::terminal::escape(&r.redaction.changed.join(", "), false)
            )
        });
    }
    warn_review(review.as_deref());
    partial.map_or(Ok(()), Err)
}

/// Says, on stderr and even with `--quiet` or `--json`, that the redaction needs a person's
/// review: sending an unreviewed redaction can name a witness.
fn warn_review(review: Option<&str>) {
    if let Some(review) = review {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "REVIEW: {review}");
    }
}

/// What the operator must do before a bundle with automatic redactions leaves.
fn review_warning(summary: &tvault::vault::ExportSummary) -> String {
    format!(
        "the witness's names were searched for and replaced automatically in {} record(s) and nobody has reviewed the result; automatic redaction misses spellings it was not given, nicknames, and names in pictures or scanned pages. Review the redacted statements, metadata and text attachments before you send the bundle: seal it to a key of your own as well (another --recipient) and read it with `tvault open-export`.",
        summary.redacted.len()
    )
}

/// The export passphrase: the first line of FILE, or typed on the terminal (twice when
/// sealing).
pub fn export_passphrase(
    ctx: &Context,
    file: Option<&std::path::Path>,
    confirm: bool,
) -> Result<SecretString, CliError> {
    let raw = match file {
        Some(f) => {
            let text = Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                CliError::new(Exit::NoSecretSource, format!("cannot read {}", f.display()))
                    .with_source(&e)
            })?);
            Zeroizing::new(
                text.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('\r')
                    .to_owned(),
            )
        }
        None => {
            let mut tty = ctx.sources.terminal().map_err(|e| {
                e.hint("seal to recipients with --recipient, or give --export-passphrase-file FILE")
            })?;
            let first = tty.prompt("Export passphrase: ")?;
            if confirm {
                let again = tty.prompt("Repeat it: ")?;
                if first != again {
                    return Err(CliError::new(Exit::Failure, "the two passphrases differ"));
                }
            }
            Zeroizing::new(String::from_utf8(first.to_vec()).map_err(|_| {
                CliError::new(Exit::Failure, "the passphrase is not valid UTF-8 text")
            })?)
        }
    };
    if raw.is_empty() {
        return Err(CliError::new(
            Exit::Failure,
            "the export passphrase is empty",
        ));
    }
    Ok(SecretString::from(raw.as_str().to_owned()))
}

/// How a recipient opens and checks a bundle: the flags `verify-export`, `open-export` and
/// `import` share.
#[derive(Debug, clap::Args)]
pub struct BundleKeyArgs {
    /// An age identity file or unencrypted OpenSSH ed25519 key to open the payload with
    #[arg(long, value_name = "FILE", conflicts_with = "export_passphrase_file")]
    pub identity: Option<PathBuf>,

    /// The export passphrase, on the first line of FILE
    #[arg(long, value_name = "FILE")]
    pub export_passphrase_file: Option<PathBuf>,

    /// The signer you expect: an ssh-ed25519 public key or its SHA256: fingerprint, as the
    /// sender gave it to you out of band (on paper, by phone)
    #[arg(long, value_name = "PUBKEY_OR_FINGERPRINT", value_parser = parse_signer)]
    pub signer: Option<String>,

    /// Check the bundle against whatever key it carries, named by nobody: it shows the
    /// bundle is whole, not who made it (anyone could have)
    #[arg(long, conflicts_with = "signer")]
    pub trust_bundle_signer: bool,
}

/// Says, on stderr, that nothing vouches for the sender (whatever `--quiet` says).
pub const UNTRUSTED_SIGNER: &str =
    "the signer was not checked against a key you named: anyone could have made this bundle";

impl BundleKeyArgs {
    /// The way to open the payload, if any; with `prompt`, asks for a passphrase on the
    /// terminal when no key is given.
    pub fn unlock(&self, ctx: &Context, prompt: bool) -> Result<Option<Unlock>, CliError> {
        bundle_unlock(
            ctx,
            self.identity.as_deref(),
            self.export_passphrase_file.as_deref(),
            prompt,
        )
    }

    /// Who vouches for the bundle's signer, as the flags say: `None` when neither `--signer`
    /// nor `--trust-bundle-signer` was given (see [`no_signer`]).
    pub fn signer_trust(&self) -> Option<SignerTrust> {
        match (&self.signer, self.trust_bundle_signer) {
            (Some(s), _) => Some(SignerTrust::Named(s.clone())),
            (None, true) => Some(SignerTrust::BundleOnly),
            (None, false) => None,
        }
    }
}

/// The usage error for a bundle command given no signer.
pub fn no_signer() -> CliError {
    CliError::usage("no signer given: name the key the bundle must be signed by with --signer")
        .hint("the signer's fingerprint (SHA256:…) or public key comes from the sender out of band, on paper or by phone, never from the bundle itself: --signer 'SHA256:…'")
        .hint("--trust-bundle-signer checks the bundle only against the key it carries itself; then anyone could have made it")
}

/// Warns, on stderr and even with `--quiet`, that nothing vouches for the bundle's sender.
pub fn warn_untrusted(report: &BundleReport) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "WARNING: {UNTRUSTED_SIGNER}.\n         It is signed by {}; compare that with the fingerprint the sender gives you on paper or by phone.",
        report.fingerprint
    );
}

/// A `--signer` value: an OpenSSH ssh-ed25519 public key line, or a `SHA256:` fingerprint
/// (43 characters of unpadded base64).
fn parse_signer(value: &str) -> Result<String, String> {
    use base64::Engine;
    let value = value.trim();
    let fingerprint = value.strip_prefix("SHA256:").is_some_and(|b| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b)
            .is_ok_and(|d| d.len() == 32)
    });
    let key =
        ssh_key::PublicKey::from_openssh(value).is_ok_and(|k| k.key_data().ed25519().is_some());
    if fingerprint || key {
        Ok(value.to_owned())
    } else {
        Err(
            "expected an ssh-ed25519 public key (ssh-ed25519 AAAA…) or its SHA256: fingerprint"
                .into(),
        )
    }
}

/// How to open a bundle's payload: an identity file, a passphrase file, or (when `prompt`)
/// a passphrase typed on the terminal.
pub fn bundle_unlock(
    ctx: &Context,
    identity: Option<&std::path::Path>,
    passphrase_file: Option<&std::path::Path>,
    prompt: bool,
) -> Result<Option<Unlock>, CliError> {
    if let Some(path) = identity {
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| {
            CliError::new(
                Exit::NoSecretSource,
                format!("cannot read {}", path.display()),
            )
            .with_source(&e)
        })?);
        let bad = || {
            CliError::usage(format!(
                "{} is not an age identity file or an unencrypted OpenSSH ed25519 key",
                path.display()
            ))
        };
        let ssh_marker: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY-----";
        let ids: Vec<Box<dyn age::Identity>> =
            if text.windows(ssh_marker.len()).any(|w| w == ssh_marker) {
                match age::ssh::Identity::from_buffer(&text[..], Some(path.display().to_string()))
                    .map_err(|_| bad())?
                {
                    age::ssh::Identity::Unencrypted(k) => {
                        vec![Box::new(age::ssh::Identity::Unencrypted(k))]
                    }
                    _ => {
                        return Err(bad().hint(
                            "decrypt the key first (ssh-keygen -p), or use an age identity",
                        ));
                    }
                }
            } else {
                age::IdentityFile::from_buffer(&text[..])
                    .map_err(|_| bad())?
                    .into_identities()
                    .map_err(|_| bad())?
                    .into_iter()
                    .map(|i| i as Box<dyn age::Identity>)
                    .collect()
            };
        return Ok(Some(Unlock::Identities(ids)));
    }
    if passphrase_file.is_some() || prompt {
        return Ok(Some(Unlock::Passphrase(export_passphrase(
            ctx,
            passphrase_file,
            false,
        )?)));
    }
    Ok(None)
}
