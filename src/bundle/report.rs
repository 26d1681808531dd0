//! `REPORT.html`: the printable summary inside every bundle, for a reader (a judge, a
//! lawyer) who will not run a command.
//!
//! Decisions:
//! - It lives inside the sealed payload, listed in the signed inner `SHA256SUMS`, and says
//!   nothing the files beside it do not: the manifest, each record's `metadata.json` and
//!   `custody.json`, the payload's own files (names, sizes, SHA-256 of the bytes delivered),
//!   and the signer's key from `allowed_signers`. So no hash of anything withheld can appear
//!   here, only what was withheld and why.
//! - Plain words over codes: purposes, consent, custody events and times are written out
//!   ("1 December 2026, 07:32 UTC"); every table column is named; the raw values stay in the
//!   JSON files for programs.
//! - One self-contained page: no script, no external resource, every value escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::audit::{self, Action};
use crate::record::{IdentityLevel, Metadata, Purpose};

use super::Manifest;

/// Everything `REPORT.html` says, all of it carried by the bundle beside it.
pub struct ReportInput<'a> {
    pub manifest: &'a Manifest,
    /// Each record's custody events, as its `custody.json` carries them.
    pub custody: &'a BTreeMap<String, Vec<audit::Event>>,
    /// Each record's metadata, as its `metadata.json` carries it.
    pub metadata: &'a BTreeMap<String, Metadata>,
    /// The payload's files so far (every file but the report, the manifest and the sums):
    /// size and SHA-256 of the bytes delivered.
    pub files: &'a BTreeMap<String, (u64, [u8; 32])>,
    /// The signing key's `SHA256:` fingerprint (its key is in `allowed_signers`).
    pub fingerprint: &'a str,
}

/// Escapes text for HTML element content and attribute values.
pub(super) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_html(&mut out, text);
    out
}

/// [`html`], appended to `out`.
fn push_html(out: &mut String, text: &str) {
    // Most values need no escape: copied whole.
    let plain =
        |c: char| !matches!(c, '&' | '<' | '>' | '"' | '\'') && (c == '\n' || !c.is_control());
    if text.chars().all(plain) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

const STYLE: &str = "\
body{font-family:Georgia,'DejaVu Serif',serif;max-width:52em;margin:2em auto;padding:0 1em;line-height:1.45;color:#111}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.3em;margin-top:2em;border-bottom:2px solid #333;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.4em 0 .3em}
table{border-collapse:collapse;margin:.4em 0 1em;width:100%}
td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee;font-weight:bold}table.facts th{width:13em}
td.num{text-align:right;white-space:nowrap}
code{font-family:'DejaVu Sans Mono',monospace;font-size:.8em;word-break:break-all}
.verify{border:2px solid #333;background:#f4f4f0;padding:.6em 1em;margin:1em 0}
.verify h2{border:none;margin-top:.2em}.note{color:#333;font-style:italic}
code.cmd{display:block;margin:.3em 0;word-break:normal;overflow-wrap:anywhere}td.when{white-space:nowrap}
.record{page-break-before:always}@media print{body{margin:0;max-width:none}}
";

/// `REPORT.html`: one self-contained printable page.
pub fn report_html(input: &ReportInput<'_>) -> String {
    let m = input.manifest;
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Export {}: testimony for {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        html(&m.export_id),
        html(&purpose_words(&m.purpose)),
    );
    page += &format!(
        "<h1>Testimony exported for {}</h1>\n<p>{} {} from a tvault vault, on {}.</p>\n",
        html(&purpose_words(&m.purpose)),
        m.records.len(),
        if m.records.len() == 1 {
            "record"
        } else {
            "records"
        },
        html(&readable_time(&m.time)),
    );
    page += &verify_box(m, input.fingerprint);

    page += "<h2>This export</h2>\n<table class=\"facts\">\n";
    page += &fact("Export id", &code(&m.export_id));
    page += &fact("Purpose", &html(&purpose_words(&m.purpose)));
    page += &fact("Exported by (operator)", &html(&m.operator));
    page += &fact("Exported on", &html(&readable_time(&m.time)));
    if let Some(reason) = &m.reason {
        page += &fact("Reason given for going beyond consent", &html(reason));
    }
    page += &fact("Signed by the key", &code(input.fingerprint));
    // Each operator whose personal key signed the manifest (approvals/).
    for a in &m.approvals {
        let role = if a.role == "exporter" {
            "the operator who exported".to_owned()
        } else {
            format!("an approving operator ({})", a.role)
        };
        let fingerprint = ssh_key::PublicKey::from_openssh(&a.key)
            .map(|k| k.fingerprint(ssh_key::HashAlg::Sha256).to_string())
            .unwrap_or_default();
        page += &fact(
            &format!("Also signed by {role}"),
            &format!("{} {}", html(&a.operator), code(&fingerprint)),
        );
    }
    if let Some(n) = m.approvals_required.filter(|n| *n > 1) {
        page += &fact(
            "Sender's rule",
            &html(&format!("every export needs {n} operators to sign")),
        );
    }
    page += &fact("Vault id", &code(&m.vault_id));
    page += &fact("Bundle format", &html(&m.format));
    page += "</table>\n";
    if !m.skipped.is_empty() {
        page += "<h3>Records selected but left out</h3>\n<table>\n\
                 <tr><th>Record id</th><th>Why it was left out</th></tr>\n";
        for s in &m.skipped {
            page += &format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                code(&s.record),
                html(&s.why)
            );
        }
        page += "</table>\n";
    }

    // The intent event and the withheld list are read once for the whole page, not once
    // per record.
    let intent = Intent::read(m);
    let mut withheld: BTreeMap<&str, Vec<&super::Withheld>> = BTreeMap::new();
    for w in &m.withheld {
        withheld.entry(w.record.as_str()).or_default().push(w);
    }
    // Each record's section is written straight into the page: about 2 KiB a record.
    page.reserve(m.records.len() * 2048);
    for (n, r) in m.records.iter().enumerate() {
        let shown = RecordContext {
            intent: intent.as_ref().filter(|i| i.names(&r.id)),
            withheld: withheld.get(r.id.as_str()).map_or(&[], Vec::as_slice),
        };
        record_section(&mut page, input, &shown, n + 1, r);
    }
    page += "</body>\n</html>\n";
    page
}

fn verify_box(m: &Manifest, fingerprint: &str) -> String {
    format!(
        "<div class=\"verify\">\n<h2>How to verify</h2>\n\
         <p>This page is part of a signed, sealed bundle, and is only as good as the bundle. \
         Before relying on it, have the bundle checked as its file <code>VERIFY.txt</code> \
         explains, with the signer's fingerprint that the sender gave you separately (on paper, \
         by phone), never one taken from the bundle. This bundle was signed by the key</p>\n\
         <p><code>{}</code></p>\n\
         <p>and every check must confirm that key. With tvault installed, one command checks \
         everything, given the key (<code>--identity FILE</code>) or the passphrase \
         (<code>--ask-export-passphrase</code>) that opens the bundle:</p>\n\
         <p><code class=\"cmd\">tvault verify-export EXPORT.tar --signer '{}'</code></p>\n\
         <p>The export's id is <code>{}</code>; the sender's custody log holds an entry for \
         it.</p>\n</div>\n",
        html(fingerprint),
        html(fingerprint),
        html(&m.export_id),
    )
}

/// What one record's section shows beside its own entries: this export's intent event, when
/// it names the record, and what was withheld from the record.
struct RecordContext<'a> {
    intent: Option<&'a Intent>,
    withheld: &'a [&'a super::Withheld],
}

/// One record's section, appended to `out` (written in place: a page holds thousands).
fn record_section(
    out: &mut String,
    input: &ReportInput<'_>,
    shown: &RecordContext<'_>,
    n: usize,
    r: &super::ManifestRecord,
) {
    let meta = input.metadata.get(&r.id);
    let title = meta
        .and_then(|m| m.title.as_deref())
        .unwrap_or("(untitled)");
    let _ = write!(
        out,
        "<div class=\"record\">\n<h2>Record {n} of {}: <bdi>",
        input.manifest.records.len()
    );
    push_html(out, title);
    *out += "</bdi></h2>\n<table class=\"facts\">\n";
    push_fact(out, "Record id", &code(&r.id));
    push_fact(
        out,
        "Version",
        &format!(
            "{}{}",
            r.version,
            if r.version > 1 {
                " (amended after it was first recorded; see the custody below)"
            } else {
                ""
            }
        ),
    );
    push_fact(out, "Witness", &witness_words(r, meta));
    if let Some(meta) = meta {
        if let Some(date) = &meta.date {
            push_fact(
                out,
                "Date of the interview",
                &html(&readable_date(date.as_str())),
            );
        }
        if let Some(language) = &meta.language {
            push_fact(out, "Language", &html(&language_words(language)));
        }
        if let Some(location) = &meta.location {
            push_fact(out, "Place", &html(location));
        }
        if let Some(interviewer) = &meta.interviewer {
            push_fact(out, "Interviewer", &html(interviewer));
        }
        if !meta.tags.is_empty() {
            push_fact(out, "Tags", &html(&meta.tags.join(", ")));
        }
    }
    push_fact(out, "Consent", &consent_words(r));
    *out += "</table>\n";

    // Delivered: every payload file of this record, as delivered.
    let prefix = format!("records/{}/", r.id);
    *out += "<h3>Delivered in this bundle</h3>\n<table>\n\
            <tr><th>File</th><th>Size</th><th>SHA-256 of the file as delivered</th></tr>\n";
    for (name, (size, sha)) in input.files.range(prefix.clone()..) {
        let Some(short) = name.strip_prefix(&prefix) else {
            break;
        };
        *out += "<tr><td>";
        push_html(out, short);
        // A size in words and a hex hash need no escape.
        let _ = writeln!(
            out,
            "</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            readable_size(*size),
            hex::encode(sha)
        );
    }
    *out += "</table>\n";

    let withheld = shown.withheld;
    *out += "<h3>Withheld from this bundle</h3>\n";
    if withheld.is_empty() {
        *out += "<p>Nothing.</p>\n";
    } else {
        *out += "<p class=\"note\">Listed by kind and reason only: this bundle holds no copy and \
                no hash of anything withheld.</p>\n<table>\n\
                <tr><th>What</th><th>Why</th></tr>\n";
        for w in withheld {
            let what = match (w.what.as_str(), &w.name) {
                ("identity", _) => html("the witness's real name and contact"),
                ("pseudonym", _) => html("the witness's pseudonym"),
                (kind, Some(name)) => format!("{} {}", html(kind), html(name)),
                (kind, None) => html(kind),
            };
            let _ = writeln!(out, "<tr><td>{what}</td><td>{}</td></tr>", html(&w.why));
        }
        *out += "</table>\n";
    }

    let notes = derived_notes(input, r);
    if !notes.is_empty() {
        *out += "<h3>Where the delivered files come from</h3>\n<ul>\n";
        for note in notes {
            let _ = writeln!(out, "<li>{note}</li>");
        }
        *out += "</ul>\n";
    }

    if !r.lineage.is_empty() {
        *out += "<h3>Derived items and their lineage</h3>\n<p class=\"note\">Transcripts, \
                translations, redactions and summaries made from the record, each under what it \
                was made from. The originals were never changed. Of anything withheld only its \
                kind, name and how it was made are told.</p>\n";
        *out += &lineage_tree(r);
    }

    *out += "<h3>Custody</h3>\n<p class=\"note\">What the sender's custody log records about \
            this record, oldest first.</p>\n<table>\n\
            <tr><th>When</th><th>What happened</th><th>Operator</th></tr>\n";
    let events = input.custody.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
    for e in events.iter().chain(shown.intent.map(|i| &i.event)) {
        *out += "<tr><td class=\"when\">";
        push_html(out, &readable_time(&e.time));
        *out += "</td><td>";
        *out += &event_words(e, &input.manifest.export_id);
        *out += "</td><td>";
        push_html(out, &e.operator);
        *out += "</td></tr>\n";
    }
    *out += "</table>\n</div>\n";
}

/// The record's derived items as nested lists under their originals (escaped HTML).
fn lineage_tree(r: &super::ManifestRecord) -> String {
    fn item(r: &super::ManifestRecord, n: &super::LineageNode) -> String {
        let mut words = format!("<li><b>{}</b>: {}", html(&n.name), html(&n.kind));
        if let Some(language) = &n.language {
            words += &format!(" in {}", html(&language_words(language)));
        }
        words += &format!(", {}", html(&n.method));
        if let Some(masks) = n.masks {
            words += &format!(" ({masks} mask(s), reviewed)");
        }
        words += &format!(
            ", by {} on {}; {}",
            html(&n.operator),
            html(&readable_time(&n.created_at)),
            if n.released {
                "delivered in this bundle"
            } else {
                "withheld"
            }
        );
        let children: Vec<String> = r
            .lineage
            .iter()
            .filter(|c| c.source == "derived" && c.source_name.as_ref() == Some(&n.name))
            .map(|c| item(r, c))
            .collect();
        if !children.is_empty() {
            words += &format!("\n<ul>\n{}</ul>\n", children.concat());
        }
        words + "</li>\n"
    }
    let mut roots: Vec<(&str, Option<&String>, bool)> = Vec::new();
    for n in &r.lineage {
        let above = n.source == "derived"
            && r.lineage
                .iter()
                .any(|m| Some(&m.name) == n.source_name.as_ref());
        let root = (n.source.as_str(), n.source_name.as_ref(), n.source_released);
        if !above
            && !roots
                .iter()
                .any(|(s, name, _)| (*s, *name) == (root.0, root.1))
        {
            roots.push(root);
        }
    }
    let mut out = "<ul class=\"lineage\">\n".to_owned();
    for (source, name, released) in roots {
        let what = match (source, name) {
            ("statement", _) => "the statement".to_owned(),
            (kind, Some(name)) => format!("{} {}", html(kind), html(name)),
            (kind, None) => html(kind),
        };
        out += &format!(
            "<li>{what} ({})\n<ul>\n",
            if released { "delivered" } else { "withheld" }
        );
        for n in r
            .lineage
            .iter()
            .filter(|n| n.source == source && n.source_name == name.cloned())
        {
            out += &item(r, n);
        }
        out += "</ul>\n</li>\n";
    }
    out + "</ul>\n"
}

/// This export's intent event (sealed in the manifest), and the ids of the records it names.
struct Intent {
    event: audit::Event,
    records: BTreeSet<String>,
}

impl Intent {
    fn read(m: &Manifest) -> Option<Intent> {
        let event: audit::Event = serde_json::from_str(m.intent_event.as_deref()?).ok()?;
        let records = event
            .detail
            .as_ref()?
            .get("records")?
            .as_array()?
            .iter()
            .filter_map(|r| r.as_str())
            .filter_map(|r| r.split('@').next())
            .map(str::to_owned)
            .collect();
        Some(Intent { event, records })
    }

    /// Whether the intent names record `id`.
    fn names(&self, id: &str) -> bool {
        self.records.contains(id)
    }
}

fn fact(name: &str, value: &str) -> String {
    let mut out = String::new();
    push_fact(&mut out, name, value);
    out
}

/// [`fact`], appended to `out`.
fn push_fact(out: &mut String, name: &str, value: &str) {
    *out += "<tr><th>";
    push_html(out, name);
    *out += "</th><td>";
    *out += value;
    *out += "</td></tr>\n";
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", html(text))
}

fn witness_words(r: &super::ManifestRecord, meta: Option<&Metadata>) -> String {
    let level = meta.map(|m| m.consent.identity_level);
    let how = match level {
        Some(IdentityLevel::Anonymous) => "a label for this export only; the witness is anonymous",
        _ if r.identity_included => "pseudonym; the real name and contact are in identity.json",
        _ => "pseudonym",
    };
    format!("<bdi>{}</bdi> ({how})", html(&r.witness))
}

fn consent_words(r: &super::ManifestRecord) -> String {
    let c = &r.consent;
    let purposes: Vec<String> = c
        .purposes
        .iter()
        .map(|p| purpose_words(p.as_str()))
        .collect();
    let purposes = if purposes.is_empty() {
        "no purpose".to_owned()
    } else {
        purposes.join(", ")
    };
    let identity = match c.identity_level {
        IdentityLevel::Named => "may be named",
        IdentityLevel::Pseudonym => "only under a pseudonym",
        IdentityLevel::Anonymous => "anonymous (not even under a pseudonym)",
    };
    let media = match (c.media.voice, c.media.face) {
        (true, true) => "recordings of the voice and images of the face may be released",
        (true, false) => "recordings of the voice may be released; images of the face may not",
        (false, true) => "images of the face may be released; recordings of the voice may not",
        (false, false) => "no recording of the voice and no image of the face may be released",
    };
    let mut out = format!(
        "Use agreed for: {}.<br>\nIdentity: {}.<br>\nMedia: {}.",
        html(&purposes),
        identity,
        media
    );
    if r.consent_overridden {
        out += "<br>\n<strong>Exported although this consent does not cover the purpose of \
                this export</strong> (the reason is given above).";
    }
    out
}

fn derived_notes(input: &ReportInput<'_>, r: &super::ManifestRecord) -> Vec<String> {
    let mut notes = Vec::new();
    match &r.redaction {
        Some(redaction) if !redaction.changed.is_empty() => {
            let files: Vec<String> = redaction.changed.iter().map(|f| code(f)).collect();
            notes.push(format!(
                "{} {} derived from the record as recorded: names that identify the witness \
                 were replaced by the pseudonym or label, automatically ({}). Each SHA-256 \
                 above is that of the file delivered; the originals are not in this bundle.",
                files.join(", "),
                if files.len() == 1 { "is" } else { "are" },
                if redaction.reviewed {
                    "reviewed by a person"
                } else {
                    "not reviewed by a person"
                },
            ));
        }
        Some(_) => notes.push(
            "The record's texts were searched automatically for names that identify the \
             witness, and none was found (not reviewed by a person)."
                .to_owned(),
        ),
        None if r.statement_redacted => notes.push(
            "statement.txt is derived from the statement as recorded: names that identify the \
             witness were replaced by the pseudonym. Its SHA-256 above is that of the text \
             delivered; the statement as recorded is not in this bundle."
                .to_owned(),
        ),
        None => {}
    }
    let anonymous = input
        .metadata
        .get(&r.id)
        .is_some_and(|m| m.consent.identity_level == IdentityLevel::Anonymous);
    if anonymous {
        notes.push(format!(
            "The witness appears as {}, a label made for this export; the interviewer and the \
             place are left out.",
            html(&r.witness)
        ));
    }
    for e in input.custody.get(&r.id).into_iter().flatten() {
        if e.action == Action::RecordImported {
            let detail = e.detail.as_ref();
            let get = |k: &str| {
                detail
                    .and_then(|d| d.get(k))
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_owned()
            };
            notes.push(format!(
                "Version {} was imported from export {} of vault {}.",
                e.version.map(|v| v.to_string()).unwrap_or_default(),
                code(&get("export_id")),
                code(&get("source_vault")),
            ));
        }
    }
    notes
}

/// A custody event in plain words (escaped HTML).
fn event_words(e: &audit::Event, this_export: &str) -> String {
    let version = e
        .version
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default();
    let words = match e.action {
        Action::RecordAdded => format!("Recorded{version}"),
        Action::RecordAmended => format!("Amended: a new version recorded{version}"),
        Action::RecordDerived => {
            let kind = e
                .detail
                .as_ref()
                .and_then(|d| d.get("kind"))
                .and_then(|v| v.as_str())
                .unwrap_or("derived item");
            format!("Derived: a {kind} added in a new version{version}")
        }
        Action::RecordInventoried => format!(
            "Entered in a new custody log{version}; it was recorded before the vault kept one"
        ),
        Action::RecordImported if e.detail.as_ref().is_some_and(|d| d.get("kit").is_some()) => {
            format!("Recorded on a field kit and imported at headquarters{version}")
        }
        Action::RecordImported => format!("Imported from another vault's export{version}"),
        Action::RecordShown => format!("Opened for reading{version}"),
        Action::AttachmentRead => format!("An attachment opened{version}"),
        Action::HistoryRead => "Its list of versions read".to_owned(),
        Action::RecordShredded => "Shredded: its content destroyed".to_owned(),
        Action::RecordRekeyed => format!("Sealed anew under a new vault key{version}"),
        Action::ExportIntent => {
            let id = e
                .detail
                .as_ref()
                .and_then(|d| d.get("export_id"))
                .and_then(|v| v.as_str());
            if id == Some(this_export) {
                "Exported: this export was logged before the bundle was written".to_owned()
            } else {
                "Exported".to_owned()
            }
        }
        Action::ExportComplete => "Export completed".to_owned(),
        Action::ExportRefused => "An export refused for want of approvals".to_owned(),
        Action::ApprovalRefused => "A change refused for want of approvals".to_owned(),
        Action::PolicyChanged => "A rule of the vault changed".to_owned(),
        Action::VaultCreated => "Vault created".to_owned(),
        Action::SigningKeyCreated => "Signing key created".to_owned(),
        Action::RecordsListed => "Records listed".to_owned(),
        Action::Searched => "Records searched".to_owned(),
        Action::LogRead => "Custody log read".to_owned(),
        Action::Verified => "Vault verified".to_owned(),
        Action::RollbackAccepted => "An older copy of the vault accepted".to_owned(),
        Action::OperatorsListed => "Operators listed".to_owned(),
        Action::OperatorAdded => "Operator added".to_owned(),
        Action::OperatorRemoved => "Operator removed".to_owned(),
        Action::PassphraseChanged => "Passphrase changed".to_owned(),
        Action::BackupMade => "Backup made".to_owned(),
        Action::RecoveryCodeUsed => "Vault opened with its recovery code".to_owned(),
        Action::VaultRekeyed => "Vault sealed under a new key".to_owned(),
        Action::LogRestarted => "New custody log started".to_owned(),
        Action::AnchorMissingAccepted => "Opened although its anchor was missing".to_owned(),
        Action::SigningKeyRotated => "Signing key replaced".to_owned(),
        Action::KitCreated => "Field kit made".to_owned(),
        Action::KitsListed => "Field kits listed".to_owned(),
        Action::KitRevoked => "Field kit revoked".to_owned(),
        Action::KitImported => "Field kit bundle imported".to_owned(),
        Action::KitRevokedAccepted => {
            "A bundle from a revoked field kit accepted, with a reason".to_owned()
        }
        Action::KitSent => "Sent from the field kit to headquarters".to_owned(),
        Action::KitConfirmed => "Headquarters' receipt checked on the field kit".to_owned(),
        Action::RecordDelivered => {
            "Deleted from the field kit once headquarters held it".to_owned()
        }
        Action::KitLogRestarted => {
            "A new field kit log begun once headquarters held everything".to_owned()
        }
        Action::CustodiansSplit => "Recovery split among custodians".to_owned(),
        Action::CustodianSharesUsed => "Vault opened with custodians' shares".to_owned(),
        Action::OperatorKeyCreated => "An operator's personal signing key made".to_owned(),
        Action::TimestampRequested => "A trusted timestamp of the log requested".to_owned(),
        Action::TimestampAdded => "A trusted timestamp of the log received".to_owned(),
        Action::TimestampsListed => "Trusted timestamps listed".to_owned(),
    };
    html(&words)
}

/// A purpose in words.
fn purpose_words(purpose: &str) -> String {
    match purpose.parse::<Purpose>() {
        Ok(Purpose::Archive) => "archiving".into(),
        Ok(Purpose::Advocacy) => "advocacy".into(),
        Ok(Purpose::Public) => "publication".into(),
        Ok(Purpose::Un) => "United Nations bodies".into(),
        Ok(Purpose::Court) => "court proceedings".into(),
        Err(_) => purpose.into(),
    }
}

/// A language code with its English name when it is a common one ("Uyghur (ug)").
fn language_words(code: &str) -> String {
    let name = match code.trim().to_ascii_lowercase().as_str() {
        "ar" => "Arabic",
        "de" => "German",
        "en" => "English",
        "es" => "Spanish",
        "fa" => "Persian",
        "fr" => "French",
        "kk" => "Kazakh",
        "ky" => "Kyrgyz",
        "ru" => "Russian",
        "tr" => "Turkish",
        "ug" => "Uyghur",
        "uk" => "Ukrainian",
        "uz" => "Uzbek",
        "zh" => "Chinese",
        _ => return code.to_owned(),
    };
    format!("{name} ({code})")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2026-11-02` as "2 November 2026"; anything else as given.
fn readable_date(date: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(date, &format) {
        Ok(d) => format!(
            "{} {} {}",
            d.day(),
            MONTHS[usize::from(u8::from(d.month())) - 1],
            d.year()
        ),
        Err(_) => date.to_owned(),
    }
}

/// An RFC 3339 time as "1 December 2026, 07:32 UTC"; anything else as given.
fn readable_time(t: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(t, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{} {} {}, {:02}:{:02} UTC",
                t.day(),
                MONTHS[usize::from(u8::from(t.month())) - 1],
                t.year(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => t.to_owned(),
    }
}

/// A size in bytes, with thousands separated, and in KiB or MiB when large.
fn readable_size(size: u64) -> String {
    let digits = size.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let unit = if size == 1 { "byte" } else { "bytes" };
    #[allow(
        clippy::cast_precision_loss,
        reason = "an approximate size for reading"
    )]
    match size {
        0..1024 => format!("{grouped} {unit}"),
        1024..1_048_576 => format!("{grouped} {unit} ({:.1} KiB)", size as f64 / 1024.0),
        _ => format!("{grouped} {unit} ({:.1} MiB)", size as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_dates_and_sizes_read_as_words() {
        assert_eq!(
            readable_time("2026-12-01T07:32:10Z"),
            "1 December 2026, 07:32 UTC"
        );
        assert_eq!(
            readable_time("2026-12-01T09:32:10+02:00"),
            "1 December 2026, 07:32 UTC"
        );
        assert_eq!(readable_time("<not a time>"), "<not a time>");
        assert_eq!(readable_date("2026-11-02"), "2 November 2026");
        assert_eq!(readable_size(1), "1 byte");
        assert_eq!(readable_size(999), "999 bytes");
        assert_eq!(readable_size(3_000), "3,000 bytes (2.9 KiB)");
        assert_eq!(readable_size(200_000_000), "200,000,000 bytes (190.7 MiB)");
        assert_eq!(language_words("ug"), "Uyghur (ug)");
        assert_eq!(language_words("xx-YY"), "xx-YY");
    }
}
