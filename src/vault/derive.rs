//! Derived items: transcripts, translations, redactions and summaries of a record's parts.
//!
//! Records are immutable, so a derivation makes a new version: it carries every part of the
//! version before unchanged (pointing at the version that stores it, as `amend` does) and
//! adds the derived item as one more encrypted part, bound to its place like any other. Its
//! lineage (kind, source part by place and intake hash, language, method, operator, time)
//! lives in the sealed metadata ([`Derived`]); the source is never changed. `amend` carries
//! derived items over and marks them stale when their source changed ([`carry_derived`]).
//!
//! `redact` is a derivation tvault makes itself: the named texts and patterns masked in a
//! text source, stored as a `redaction` whose lineage counts the masks but never says them.

use std::io::Read;

use regex::RegexBuilder;
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::disclosure::{Redactor, TEXT_REDACTION_LIMIT, merge_spans, replace_spans};
use crate::error::{Error, Result};
use crate::record::{
    Derived, DerivedKind, DerivedSource, PartInfo, RecordId, RecordIdPrefix, SealedMeta, SourceKind,
};
use crate::store::{self, PartPlace, VersionRow};

use super::{Draft, Session, Vault, now_rfc3339, read_statement_input};

/// What replaces each masked span of a redaction.
pub const MASK: &str = "[REDACTED]";

/// The method a redaction made by `tvault redact` records.
pub const REDACT_METHOD: &str = "tvault redact";

/// A derived item to store.
pub struct Derivation<'a> {
    pub kind: DerivedKind,
    /// `statement`, or the name of an attachment or derived item.
    pub of: String,
    /// Its name; `KIND[-LANG].txt` when `None`.
    pub name: Option<String>,
    pub content: Box<dyn Read + 'a>,
    /// The content is text: held to the statement's rules (UTF-8, bounded).
    pub text: bool,
    pub language: Option<String>,
    /// `manual` when `None`.
    pub method: Option<String>,
    pub note: Option<String>,
}

/// A text redaction for `tvault redact`.
pub struct RedactRequest {
    pub of: String,
    /// Texts masked wherever they appear, matched like names (see [`Redactor`]).
    pub masks: Vec<String>,
    /// Patterns masked wherever they match (case-insensitive, on the text as written).
    pub regexes: Vec<String>,
    pub name: Option<String>,
}

/// What a derivation stored.
#[derive(Debug, serde::Serialize)]
pub struct DerivedSummary {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub kind: DerivedKind,
    pub source: SourceKind,
    /// The source's name; `None` for the statement.
    pub source_name: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// For `redact`: how many masks were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masks: Option<u32>,
}

/// One span a redaction masks (`redact --preview`), with its line (from 1).
pub struct MaskHit {
    pub line: usize,
    pub text: Zeroizing<String>,
}

/// Whether `name` may name a derived item: a plain file name.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// `KIND[-LANG].txt`: the name of a text derivation given none.
pub fn default_name(kind: DerivedKind, language: Option<&str>) -> String {
    match language.map(str::trim).filter(|l| !l.is_empty()) {
        Some(lang) => format!("{}-{lang}.txt", kind.as_str()),
        None => format!("{}.txt", kind.as_str()),
    }
}

/// Finds the part `of` names in `sealed` (read at `version`): the statement, an attachment,
/// or a derived item. Returns its lineage reference and its part.
pub(super) fn locate<'s>(
    sealed: &'s SealedMeta,
    record: RecordId,
    version: u32,
    of: &str,
) -> Result<(DerivedSource, &'s PartInfo)> {
    let (what, info) = if of == "statement" {
        let info = sealed
            .statement
            .as_ref()
            .ok_or(Error::SourceNotFound(record))?;
        (SourceKind::Statement, info)
    } else if let Some(a) = sealed
        .attachments
        .iter()
        .find(|a| a.name.as_deref() == Some(of))
    {
        (SourceKind::Attachment, a)
    } else {
        let d = sealed
            .derived_item(of)
            .ok_or(Error::SourceNotFound(record))?;
        (SourceKind::Derived, &d.part)
    };
    Ok((
        DerivedSource {
            what,
            name: info.name.clone(),
            part: Some(info.part),
            stored_at: Some(info.stored_at.unwrap_or(version)),
            sha256: Some(info.sha256.clone()),
        },
        info,
    ))
}

/// Whether `source` is a derived item that is already stale: what is made from it is too.
fn stale_source(sealed: &SealedMeta, source: &DerivedSource) -> bool {
    source.what == SourceKind::Derived
        && source
            .name
            .as_deref()
            .and_then(|n| sealed.derived_item(n))
            .is_some_and(|d| d.stale)
}

/// The derived items of a version before `new_version`, carried into it: each keeps its part
/// (stored where it was), and is marked stale when the part its source names is no longer the
/// same one in the new version (the statement or an attachment replaced or removed, a
/// derived source gone or itself stale). `statement` and `attachments` are the new version's.
pub(super) fn carry_derived(
    old: &[Derived],
    old_version: u32,
    statement: Option<&PartInfo>,
    attachments: &[PartInfo],
    new_version: u32,
) -> Vec<Derived> {
    let place = |p: &PartInfo| (p.part, p.stored_at.unwrap_or(new_version));
    let mut out: Vec<Derived> = Vec::with_capacity(old.len());
    for d in old {
        let mut carried = d.clone();
        carried.part.stored_at = Some(d.part.stored_at.unwrap_or(old_version));
        if let (Some(part), Some(stored_at)) = (d.source.part, d.source.stored_at) {
            let same = |p: &PartInfo| place(p) == (part, stored_at);
            let unchanged = match d.source.what {
                SourceKind::Statement => statement.is_some_and(same),
                SourceKind::Attachment => attachments
                    .iter()
                    .any(|a| a.name == d.source.name && same(a)),
                SourceKind::Derived => out
                    .iter()
                    .any(|o| o.part.name == d.source.name && !o.stale && same(&o.part)),
            };
            carried.stale |= !unchanged;
        }
        out.push(carried);
    }
    out
}

impl Vault {
    /// Stores a derived item as a new version of the record (see the module doc). Returns
    /// what was stored.
    pub fn derive(
        &mut self,
        prefix: &RecordIdPrefix,
        derivation: Derivation<'_>,
    ) -> Result<DerivedSummary> {
        self.s.readable()?;
        let Derivation {
            kind,
            of,
            name,
            mut content,
            text,
            language,
            method,
            note,
        } = derivation;
        let name = name.unwrap_or_else(|| default_name(kind, language.as_deref()));
        if !plain_name(&name) {
            return Err(Error::InvalidPartName);
        }
        let id = self.resolve(prefix)?;
        let path = self.store.path().to_owned();
        let s = &self.s;
        let tx = self.store.write()?;
        let (old_row, old) = newest(s, &tx, prefix, id)?;
        let (source, _) = locate(&old, id, old_row.version, &of)?;
        let version = old_row.version + 1;
        let place = PartPlace {
            record: id,
            version,
            part: old.next_part(),
        };
        check_free(&old, id, &name)?;
        let mut info = if text {
            let text = read_statement_input(&mut content)?;
            if std::str::from_utf8(&text).is_err() {
                return Err(Error::StatementNotUtf8);
            }
            s.write_part(&tx, &path, place, &mut text.as_slice())?
        } else {
            s.write_part(&tx, &path, place, &mut content)
                .map_err(|e| match e {
                    Error::ReadAttachment { source, .. } => {
                        Error::ReadAttachment { index: 1, source }
                    }
                    other => other,
                })?
        };
        info.name = Some(name);
        let stale = stale_source(&old, &source);
        let item = Derived {
            part: info,
            kind,
            source,
            language,
            method: method.unwrap_or_else(|| "manual".to_owned()),
            note,
            operator: s.operator.clone(),
            created_at: now_rfc3339(),
            stale,
            masks: None,
            upstream: Vec::new(),
        };
        commit_derived(s, tx, &old_row, old, item)
    }

    /// Masks `request`'s texts and patterns in a text source and stores the result as a
    /// derived item of kind `redaction` (a new version). Refuses, storing nothing, when no
    /// mask matches; the source was read all the same, and that read is logged.
    pub fn redact(
        &mut self,
        prefix: &RecordIdPrefix,
        request: &RedactRequest,
    ) -> Result<DerivedSummary> {
        self.s.readable()?;
        let masker = Masker::new(request)?;
        let id = self.resolve(prefix)?;
        let path = self.store.path().to_owned();
        let s = &self.s;
        let tx = self.store.write()?;
        let (old_row, old) = newest(s, &tx, prefix, id)?;
        let (source, info) = locate(&old, id, old_row.version, &request.of)?;
        let language = match source.what {
            SourceKind::Derived => old
                .derived_item(&request.of)
                .and_then(|d| d.language.clone()),
            _ => old.meta.language.clone(),
        };
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| default_name(DerivedKind::Redaction, language.as_deref()));
        if !plain_name(&name) {
            return Err(Error::InvalidPartName);
        }
        check_free(&old, id, &name)?;
        // A source that turns out not to be text was decrypted all the same: logged.
        let text = match source_text(s, &tx, &old_row, info) {
            Err(e @ Error::SourceNotText(_)) => {
                let cp = s.append(&tx, vec![read_event(id, &old_row, info, "not text")])?;
                tx.commit()?;
                s.write_anchor(&cp)?;
                return Err(e);
            }
            other => other?,
        };
        let spans = masker.spans(&text);
        if spans.is_empty() {
            let read = read_event(id, &old_row, info, "nothing matched");
            let cp = s.append(&tx, vec![read])?;
            tx.commit()?;
            s.write_anchor(&cp)?;
            return Err(Error::NothingMasked);
        }
        let masked = replace_spans(&text, &spans, MASK);
        drop(text);
        let version = old_row.version + 1;
        let place = PartPlace {
            record: id,
            version,
            part: old.next_part(),
        };
        let mut info = s.write_part(&tx, &path, place, &mut masked.as_bytes())?;
        drop(masked);
        info.name = Some(name);
        let stale = stale_source(&old, &source);
        let item = Derived {
            part: info,
            kind: DerivedKind::Redaction,
            source,
            language,
            method: REDACT_METHOD.to_owned(),
            note: None,
            operator: s.operator.clone(),
            created_at: now_rfc3339(),
            stale,
            masks: Some(masker.count),
            upstream: Vec::new(),
        };
        commit_derived(s, tx, &old_row, old, item)
    }

    /// What `redact` would mask, without storing anything: each masked span and its line.
    /// The read of the source is logged first.
    pub fn redact_preview(
        &mut self,
        prefix: &RecordIdPrefix,
        request: &RedactRequest,
    ) -> Result<Vec<MaskHit>> {
        self.s.readable()?;
        let masker = Masker::new(request)?;
        let row = self.version_row(prefix, None)?;
        let sealed = self.s.open_meta(&row)?;
        let (_, info) = locate(&sealed, row.record, row.version, &request.of)?;
        self.record(vec![read_event(row.record, &row, info, "preview")])?;
        let tx = self.store.read()?;
        let text = source_text(&self.s, &tx, &row, info)?;
        let mut hits = Vec::new();
        for (start, end) in masker.spans(&text) {
            hits.push(MaskHit {
                line: text[..start].matches('\n').count() + 1,
                text: Zeroizing::new(text[start..end].to_owned()),
            });
        }
        Ok(hits)
    }
}

/// The record's newest version (the log's word) in the write transaction `tx`, opened.
fn newest(
    s: &Session,
    tx: &rusqlite::Connection,
    prefix: &RecordIdPrefix,
    id: RecordId,
) -> Result<(VersionRow, SealedMeta)> {
    let row = store::current_version(tx, &id)?.ok_or(Error::RecordNotFound(prefix.clone()))?;
    s.check_version(tx, &row)?;
    let sealed = s.open_meta(&row)?;
    Ok((row, sealed))
}

/// A text source, read whole: within [`TEXT_REDACTION_LIMIT`] and UTF-8.
fn source_text(
    s: &Session,
    conn: &rusqlite::Connection,
    row: &VersionRow,
    info: &PartInfo,
) -> Result<Zeroizing<String>> {
    if info.size > TEXT_REDACTION_LIMIT {
        return Err(Error::SourceNotText(row.record));
    }
    match s.read_text_attachment(conn, row, info) {
        Err(Error::Integrity(crate::error::Integrity::Part { .. })) => {
            Err(Error::SourceNotText(row.record))
        }
        other => other,
    }
}

/// Writes the version that adds `item` to `old` (every part carried over), and its event.
fn commit_derived(
    s: &Session,
    tx: store::WriteTx<'_>,
    old_row: &VersionRow,
    old: SealedMeta,
    item: Derived,
) -> Result<DerivedSummary> {
    let id = old_row.record;
    let version = old_row.version + 1;
    let identity = s.open_identity(old_row)?.unwrap_or_default();
    let mut sealed = old;
    for p in sealed.parts_mut() {
        p.stored_at = Some(p.stored_at.unwrap_or(old_row.version));
    }
    sealed.created_at = now_rfc3339();
    sealed.operator = s.operator.clone();
    sealed.imported = None;
    sealed.kit = None;
    let summary = DerivedSummary {
        id: id.to_string(),
        version,
        name: item.name().to_owned(),
        kind: item.kind,
        source: item.source.what,
        source_name: item.source.name.clone(),
        size: item.part.size,
        sha256: item.part.sha256.clone(),
        masks: item.masks,
    };
    // No method or language: they are free text an operator typed, and custody excerpts
    // travel in exports unredacted. The sealed lineage keeps them.
    let detail = serde_json::json!({
        "kind": item.kind.as_str(),
        "source": item.source.what.as_str(),
        "source_part": item.source.part,
        "masks": item.masks,
    });
    sealed.derived.push(item);
    store::insert_version(&tx, &s.seal_version(id, version, &sealed, &identity))?;
    s.refresh_digest(&tx, [id])?;
    let event = Draft::new(Action::RecordDerived)
        .on(id, version)
        .parts(sealed.parts())
        .detail(detail);
    let cp = s.append(&tx, vec![event])?;
    tx.commit()?;
    s.write_anchor(&cp)?;
    Ok(summary)
}

/// Refuses a name an attachment or a derived item of the version already has.
fn check_free(sealed: &SealedMeta, record: RecordId, name: &str) -> Result<()> {
    let taken = sealed
        .attachments
        .iter()
        .any(|a| a.name.as_deref() == Some(name))
        || sealed.derived_item(name).is_some();
    if taken {
        return Err(Error::PartNameTaken(record));
    }
    Ok(())
}

/// The event of reading a redaction's source without storing a redaction.
fn read_event(id: RecordId, row: &VersionRow, info: &PartInfo, why: &str) -> Draft {
    let action = if info.part == 0 && info.name.is_none() {
        Action::RecordShown
    } else {
        Action::AttachmentRead
    };
    Draft::new(action)
        .on(id, row.version)
        .parts([info])
        .detail(serde_json::json!({ "redact": why }))
}

/// The masks of one redaction.
struct Masker {
    names: Redactor,
    regexes: Vec<regex::Regex>,
    count: u32,
}

impl Masker {
    fn new(request: &RedactRequest) -> Result<Self> {
        let regexes = request
            .regexes
            .iter()
            .map(|r| {
                RegexBuilder::new(r)
                    .case_insensitive(true)
                    .build()
                    .map_err(|_| Error::InvalidMask)
            })
            .collect::<Result<Vec<_>>>()?;
        // A regex that matches the empty string would mask nothing, everywhere.
        if regexes.iter().any(|r| r.is_match("")) {
            return Err(Error::InvalidMask);
        }
        Ok(Masker {
            names: Redactor::new(request.masks.iter().map(String::as_str), [], MASK),
            count: (request.masks.len() + regexes.len()) as u32,
            regexes,
        })
    }

    fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        let mut spans = self.names.spans(text);
        for r in &self.regexes {
            spans.extend(r.find_iter(text).map(|m| (m.start(), m.end())));
        }
        merge_spans(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(part: u32, name: Option<&str>, stored_at: Option<u32>) -> PartInfo {
        PartInfo {
            part,
            name: name.map(str::to_owned),
            size: 1,
            sha256: String::new(),
            padded_size: 1,
            stored_len: 1,
            stored_sha256: None,
            stored_at,
        }
    }

    fn derived(name: &str, what: SourceKind, of: Option<&str>, place: (u32, u32)) -> Derived {
        Derived {
            part: part(9, Some(name), None),
            kind: DerivedKind::Transcript,
            source: DerivedSource {
                what,
                name: of.map(str::to_owned),
                part: Some(place.0),
                stored_at: Some(place.1),
                sha256: None,
            },
            language: None,
            method: "manual".into(),
            note: None,
            operator: "o".into(),
            created_at: String::new(),
            stale: false,
            masks: None,
            upstream: Vec::new(),
        }
    }

    #[test]
    fn derived_items_go_stale_when_their_source_changes_and_down_the_chain() {
        // Version 2: statement and audio stored at 1, a transcript of the audio and a
        // translation of the transcript, and a summary of the statement.
        let mut transcript = derived("t.txt", SourceKind::Attachment, Some("a.m4a"), (1, 1));
        transcript.part.part = 2;
        let translation = derived("tr.txt", SourceKind::Derived, Some("t.txt"), (2, 2));
        let summary = derived("s.txt", SourceKind::Statement, None, (0, 1));
        let old = [transcript, translation, summary];
        let statement = part(0, None, Some(1));
        let audio = part(1, Some("a.m4a"), Some(1));
        // Nothing changed: nothing stale, every part kept where it is stored.
        let same = carry_derived(&old, 2, Some(&statement), std::slice::from_ref(&audio), 3);
        assert!(same.iter().all(|d| !d.stale));
        assert_eq!(same[0].part.stored_at, Some(2));
        // The audio replaced (stored at 3 now): its transcript and the translation go stale.
        let replaced = part(1, Some("a.m4a"), None);
        let out = carry_derived(&old, 2, Some(&statement), &[replaced], 3);
        assert_eq!(
            out.iter().map(|d| d.stale).collect::<Vec<_>>(),
            [true, true, false]
        );
        // The statement replaced: only the summary.
        let out = carry_derived(
            &old,
            2,
            Some(&part(0, None, None)),
            std::slice::from_ref(&audio),
            3,
        );
        assert_eq!(
            out.iter().map(|d| d.stale).collect::<Vec<_>>(),
            [false, false, true]
        );
        // The audio removed.
        let out = carry_derived(&old, 2, Some(&statement), &[], 3);
        assert!(out[0].stale && out[1].stale);
    }

    #[test]
    fn names_and_defaults() {
        assert_eq!(
            default_name(DerivedKind::Translation, Some("en")),
            "translation-en.txt"
        );
        assert_eq!(default_name(DerivedKind::Summary, None), "summary.txt");
        for bad in ["", ".", "..", "a/b", "a\nb", &"x".repeat(256)] {
            assert!(!plain_name(bad), "{bad:?}");
        }
        assert!(plain_name("перевод.txt"));
    }

    #[test]
    fn masks_match_names_in_any_form_and_patterns() {
        let request = RedactRequest {
            of: "statement".into(),
            masks: vec!["Aygül Tursun".into()],
            regexes: vec![r"\+7[ 0-9]{10,}".into()],
            name: None,
        };
        let m = Masker::new(&request).unwrap();
        let text = "AYGUL came; Tursun called +7 700 123 4567.";
        let out = replace_spans(text, &m.spans(text), MASK);
        assert_eq!(
            out.as_str(),
            "[REDACTED] came; [REDACTED] called [REDACTED]."
        );
        assert_eq!(m.count, 2);
        let bad = RedactRequest {
            regexes: vec!["(".into()],
            ..request
        };
        assert!(matches!(Masker::new(&bad), Err(Error::InvalidMask)));
    }
}
