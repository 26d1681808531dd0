//! `tvault show`: one record's metadata, consent, statement and attachments.

use serde::Serialize;
use tvault::RecordIdPrefix;
use tvault::record::{Derived, InterviewDate, PartInfo, SealedMeta, SourceKind};

use super::error::CliError;
use super::terminal::escape;
use super::{Context, human_size, print, print_json};

/// Show a record: metadata, consent, statement, attachments and derived items
///
/// The witness's real identity is shown only with --identity.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// Also show the witness's real name, contact and aliases
    #[arg(long)]
    identity: bool,

    /// Show this earlier version (as `history` lists them)
    #[arg(long, value_name = "N")]
    version: Option<u32>,
}

#[derive(Serialize)]
struct AttachmentJson<'a> {
    name: &'a str,
    size: u64,
    sha256: &'a str,
}

fn attachment_json(p: &PartInfo) -> AttachmentJson<'_> {
    AttachmentJson {
        name: p.name.as_deref().unwrap_or_default(),
        size: p.size,
        sha256: &p.sha256,
    }
}

/// Where an imported version came from, for `--json`: `null` for a version recorded here.
pub fn origin_json(sealed: &tvault::record::SealedMeta) -> serde_json::Value {
    if let Some(k) = &sealed.kit {
        return serde_json::json!({
            "field_kit": k.kit,
            "kit_id": k.kit_id,
            "kit_fingerprint": k.kit_fingerprint,
            "kit_operator": k.kit_operator,
            "recorded_at": k.recorded_at,
            "imported_at": k.imported_at,
            "imported_by": k.imported_by,
        });
    }
    match &sealed.imported {
        None => serde_json::Value::Null,
        Some(o) => serde_json::json!({
            "source_vault": o.source_vault,
            "signer_fingerprint": o.signer_fingerprint,
            "export_id": o.export_id,
            "purpose": o.purpose,
            "source_operator": sealed.operator,
            "source_time": sealed.created_at,
            "imported_at": o.imported_at,
            "imported_by": o.imported_by,
            "statement_redacted": o.statement_redacted,
        }),
    }
}

/// Where an imported version came from, as a line for people.
pub fn origin_line(sealed: &tvault::record::SealedMeta) -> Option<String> {
    if let Some(k) = &sealed.kit {
        return Some(format!(
            "recorded on field kit {} by {} at {} (kit's clock; kit key {}), imported on {} by {}",
            escape(&k.kit, false),
            escape(&k.kit_operator, false),
            escape(&k.recorded_at, false),
            escape(&k.kit_fingerprint, false),
            escape(&k.imported_at, false),
            escape(&k.imported_by, false),
        ));
    }
    sealed.imported.as_ref().map(|o| {
        format!(
            "imported from vault {} (signer {}, export {}) on {} by {}",
            escape(&o.source_vault, false),
            escape(&o.signer_fingerprint, false),
            escape(&o.export_id, false),
            escape(&o.imported_at, false),
            escape(&o.imported_by, false),
        )
    })
}

/// A derived item and its lineage, for `--json` (`show`, `history`).
pub fn derived_json(d: &Derived) -> serde_json::Value {
    serde_json::json!({
        "name": d.name(),
        "kind": d.kind,
        "source": {
            "what": d.source.what,
            "name": d.source.name,
            "part": d.source.part,
            "stored_at": d.source.stored_at,
            "sha256": d.source.sha256,
        },
        "language": d.language,
        "method": d.method,
        "masks": d.masks,
        "note": d.note,
        "operator": d.operator,
        "created_at": d.created_at,
        "stale": d.stale,
        "part": d.part.part,
        "size": d.part.size,
        "sha256": d.part.sha256,
        "upstream": d.upstream.iter().map(|u| serde_json::json!({
            "name": u.name,
            "kind": u.kind,
            "language": u.language,
            "method": u.method,
            "operator": u.operator,
            "created_at": u.created_at,
            "source": u.source,
            "source_name": u.source_name,
        })).collect::<Vec<_>>(),
    })
}

/// One line of lineage: `transcript (ug) · manual · by alice on 2026-…`.
fn lineage_words(d: &Derived) -> String {
    let mut words = d.kind.as_str().to_owned();
    if let Some(lang) = &d.language {
        words += &format!(" ({})", escape(lang, false));
    }
    words += &format!(" · {}", escape(&d.method, false));
    if let Some(n) = d.masks {
        words += &format!(", {n} mask(s)");
    }
    words += &format!(
        " · by {} on {}",
        escape(&d.operator, false),
        escape(&d.created_at, false)
    );
    words
}

/// The derived items as a tree under their sources: the statement and the attachments
/// first, each with what was derived from it, and so on down.
pub fn derived_tree(sealed: &SealedMeta) -> String {
    fn children(
        sealed: &SealedMeta,
        what: SourceKind,
        name: Option<&str>,
        depth: usize,
        out: &mut String,
    ) {
        for d in sealed
            .derived
            .iter()
            .filter(|d| d.source.what == what && d.source.name.as_deref() == name)
        {
            let stale = if d.stale {
                "  [STALE: its source changed after it was made]"
            } else {
                ""
            };
            *out += &format!(
                "{}└─ {}  {}  {}  sha256:{}{stale}\n",
                "   ".repeat(depth),
                escape(d.name(), false),
                lineage_words(d),
                human_size(d.part.size),
                d.part.sha256,
            );
            for u in d.upstream.iter() {
                *out += &format!(
                    "{}   (made from {} {}{}, {} by {} on {}; not held here)\n",
                    "   ".repeat(depth),
                    u.kind.as_str(),
                    escape(&u.name, false),
                    u.language
                        .as_deref()
                        .map(|l| format!(" ({})", escape(l, false)))
                        .unwrap_or_default(),
                    escape(&u.method, false),
                    escape(&u.operator, false),
                    escape(&u.created_at, false),
                );
            }
            children(sealed, SourceKind::Derived, Some(d.name()), depth + 1, out);
        }
    }
    let mut out = String::new();
    let mut roots: Vec<(SourceKind, Option<&str>)> = Vec::new();
    for d in &sealed.derived {
        let root = (d.source.what, d.source.name.as_deref());
        // A root is the statement, an attachment, or a derived source this vault does not hold.
        let held = d.source.what == SourceKind::Derived
            && sealed
                .derived_item(d.source.name.as_deref().unwrap_or_default())
                .is_some();
        if !held && !roots.contains(&root) {
            roots.push(root);
        }
    }
    for (what, name) in roots {
        let held = match what {
            SourceKind::Statement => sealed.statement.is_some(),
            SourceKind::Attachment => sealed.attachments.iter().any(|a| a.name.as_deref() == name),
            SourceKind::Derived => false,
        };
        out += &format!(
            "  {}{}\n",
            match (what, name) {
                (SourceKind::Statement, _) => "statement".to_owned(),
                (_, name) => escape(name.unwrap_or_default(), false).into_owned(),
            },
            if held { "" } else { "  (not in this version)" }
        );
        children(sealed, what, name, 1, &mut out);
    }
    out
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let view = vault.show(&args.id, args.version, args.identity)?;
    let sealed = &view.sealed;
    let m = &sealed.meta;
    if ctx.json {
        let mut doc = serde_json::json!({
            "id": view.id,
            "version": view.version,
            "metadata": m,
            "created_at": sealed.created_at,
            "operator": sealed.operator,
            "statement": view.statement.as_ref().map(|s| s.expose_secret()),
            "statement_sha256": sealed.statement.as_ref().map(|s| &s.sha256),
            "attachments": sealed.attachments.iter().map(attachment_json).collect::<Vec<_>>(),
            "derived": sealed.derived.iter().map(derived_json).collect::<Vec<_>>(),
            "origin": origin_json(sealed),
        });
        if args.identity {
            // Spelled out, so `aliases` is there (maybe empty) for identities of any age.
            doc["identity"] = match &view.identity {
                Some(id) => serde_json::json!({
                    "name": id.name,
                    "contact": id.contact,
                    "aliases": id.aliases,
                }),
                None => serde_json::Value::Null,
            };
        }
        return print_json(&doc);
    }

    let field = |name: &str, value: Option<&str>| {
        format!("{name:<12} {}\n", escape(value.unwrap_or("-"), false))
    };
    let mut text = format!("{:<12} {} (version {})\n", "record", view.id, view.version);
    text += &field("witness", Some(&m.witness));
    text += &field("title", m.title.as_deref());
    text += &field("interviewer", m.interviewer.as_deref());
    text += &field("date", m.date.as_ref().map(InterviewDate::as_str));
    text += &field("location", m.location.as_deref());
    text += &field("language", m.language.as_deref());
    text += &field(
        "tags",
        Some(&m.tags.join(", "))
            .filter(|t| !t.is_empty())
            .map(String::as_str),
    );
    let purposes: Vec<&str> = m.consent.purposes.iter().map(|p| p.as_str()).collect();
    let media = match (m.consent.media.voice, m.consent.media.face) {
        (true, true) => "voice, face",
        (true, false) => "voice",
        (false, true) => "face",
        (false, false) => "none",
    };
    text += &format!(
        "{:<12} purposes: {}; identity: {}; media: {}\n",
        "consent",
        if purposes.is_empty() {
            "none".to_owned()
        } else {
            purposes.join(", ")
        },
        m.consent.identity_level.as_str(),
        media
    );
    text += &format!(
        "{:<12} {} by {}\n",
        "recorded",
        sealed.created_at,
        escape(&sealed.operator, false)
    );
    if let Some(line) = origin_line(sealed) {
        text += &format!("{:<12} {line}\n", "origin");
    }
    if args.identity {
        match &view.identity {
            Some(id) => {
                text += &field("real name", id.name.as_deref());
                text += &field("contact", id.contact.as_deref());
                text += &field(
                    "aliases",
                    Some(id.aliases.join(", "))
                        .filter(|a| !a.is_empty())
                        .as_deref(),
                );
            }
            None => text += &field("identity", Some("none recorded")),
        }
    } else if sealed.has_identity {
        text += &field("identity", Some("withheld (show it with --identity)"));
    }
    if !sealed.attachments.is_empty() {
        text += "attachments:\n";
        for a in &sealed.attachments {
            text += &format!(
                "  {}  {}  sha256:{}\n",
                escape(a.name.as_deref().unwrap_or_default(), false),
                human_size(a.size),
                a.sha256
            );
        }
    }
    if !sealed.derived.is_empty() {
        text += "derived items (cat ID NAME reads them):\n";
        text += &derived_tree(sealed);
    }
    if let (Some(info), Some(statement)) = (&sealed.statement, &view.statement) {
        text += &format!(
            "statement ({}, sha256:{}):\n",
            human_size(info.size),
            info.sha256
        );
        text += &escape(statement.expose_secret(), true);
        if !statement.expose_secret().ends_with('\n') {
            text.push('\n');
        }
    }
    print(&text)
}
