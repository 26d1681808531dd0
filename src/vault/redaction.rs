//! What an export learns of its attachments and does to the texts it carries: it decrypts the
//! first bytes of each attachment of a record that leaves, so that [`crate::disclosure`] can
//! tell media from documents by content, and it replaces the witness's names in the statement,
//! the metadata and the text attachments (with [`Redactor`]) where the plan says so.
//!
//! The sniffing happens before the export's intent is logged (the intent names what is
//! withheld, which depends on it); nothing of what it reads leaves the process but the kind of
//! each attachment. Every buffer that holds decrypted bytes is zeroizing and sized before it is
//! filled, so it is never copied by a reallocation.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rusqlite::Connection;
use zeroize::{Zeroize, Zeroizing};

use crate::disclosure::{Content, RecordPlan, Redactor, SNIFF_LEN, TextCheck, sniff};
use crate::error::{Integrity, Result};
use crate::record::{Metadata, PartInfo, WitnessIdentity};
use crate::store::VersionRow;

use super::Session;

impl Session {
    /// What an attachment is, by its content: its first [`SNIFF_LEN`] bytes, and every byte
    /// when those are text (a file is text only when all of it is).
    pub(super) fn sniff_attachment(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<Content> {
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        let mut reader = self.open_part(conn, row, info)?;
        let head_len = info.size.min(SNIFF_LEN as u64) as usize;
        let mut head = Zeroizing::new(vec![0u8; head_len]);
        reader
            .read_exact(&mut head)
            .map_err(|e| self.part_error(e, row, info, &path))?;
        let complete = head_len as u64 == info.size;
        let content = sniff(&head, complete);
        if content != Content::Text || complete {
            return Ok(content);
        }
        let mut check = TextCheck::default();
        check.feed(&head);
        drop(head);
        let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.part_error(e, row, info, &path)),
            };
            check.feed(&buf[..n]);
        }
        Ok(if check.finish() {
            Content::Text
        } else {
            Content::Unknown
        })
    }

    /// A text attachment, read whole (the plan bounds its size by
    /// [`crate::disclosure::TEXT_REDACTION_LIMIT`]).
    pub(super) fn read_text_attachment(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<Zeroizing<String>> {
        let mut buf = Zeroizing::new(Vec::with_capacity(info.size as usize));
        self.read_part(conn, row, info, &mut *buf)?;
        let text = String::from_utf8(std::mem::take(&mut *buf)).map_err(|e| {
            // Sniffed as text a moment ago: the stored part is not what it was.
            e.into_bytes().zeroize();
            Integrity::Part {
                record: row.record,
                part: info.part,
            }
        })?;
        Ok(Zeroizing::new(text))
    }
}

/// The redactor of one record whose plan says its texts are redacted: the real name, the
/// aliases and the contact of the stored identity and, at identity level `anonymous`, the
/// pseudonym, all replaced by `shown` (the pseudonym, or the export's label).
pub(super) fn redactor(
    plan: &RecordPlan,
    identity: Option<&WitnessIdentity>,
    pseudonym: &str,
    shown: &str,
) -> Option<Redactor> {
    if !plan.redact {
        return None;
    }
    let names = identity
        .into_iter()
        .flat_map(|i| i.name.iter().chain(&i.aliases))
        .map(String::as_str)
        .chain(plan.label.is_some().then_some(pseudonym));
    let wholes = identity
        .into_iter()
        .flat_map(|i| i.contact.iter())
        .map(String::as_str);
    Some(Redactor::new(names, wholes, shown))
}

/// The names attachments leave under, by part number, and the recorded name of each one that
/// was only made safe for the bundle (`recorded_names`, so an import can restore it). A name
/// is first redacted (the witness's names replaced), then made safe and unique
/// ([`crate::bundle::file_names`]); a redacted name's original never travels.
pub(super) fn attachment_names(
    attachments: &[PartInfo],
    redactor: Option<&Redactor>,
) -> (BTreeMap<u32, String>, BTreeMap<u32, String>) {
    let recorded: Vec<&str> = attachments
        .iter()
        .map(|a| a.name.as_deref().unwrap_or_default())
        .collect();
    let redacted: Vec<Option<Zeroizing<String>>> = recorded
        .iter()
        .map(|name| redactor.and_then(|r| r.redact(name)))
        .collect();
    let wanted: Vec<&str> = recorded
        .iter()
        .zip(&redacted)
        .map(|(name, r)| r.as_ref().map_or(*name, |r| r.as_str()))
        .collect();
    let safe = crate::bundle::file_names(&wanted);
    let mut shown = BTreeMap::new();
    let mut restore = BTreeMap::new();
    for (((a, name), r), recorded) in attachments.iter().zip(safe).zip(&redacted).zip(&recorded) {
        if r.is_none() && name != *recorded {
            restore.insert(a.part, (*recorded).to_owned());
        }
        shown.insert(a.part, name);
    }
    (shown, restore)
}

/// Replaces the names in every free-text field of `meta` but the pseudonym; returns whether
/// anything changed.
pub(super) fn redact_metadata(meta: &mut Metadata, redactor: &Redactor) -> bool {
    let mut changed = false;
    for field in meta.free_text_mut() {
        if let Some(mut text) = redactor.redact(field) {
            field.zeroize();
            // Moved, not copied: what is left in `text` is empty.
            *field = std::mem::take(&mut *text);
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(part: u32, name: &str) -> PartInfo {
        PartInfo {
            part,
            name: Some(name.into()),
            size: 1,
            sha256: String::new(),
            padded_size: 1,
            stored_len: 1,
            stored_sha256: None,
            stored_at: None,
        }
    }

    /// A name only made safe keeps its recorded spelling for an import; a name that held the
    /// witness's name never travels, even when it was also made safe.
    #[test]
    fn only_names_made_safe_are_restorable_never_redacted_ones() {
        let r = Redactor::new(["Aygul Tursunova"], [], "W-1");
        let parts = [
            part(1, "line\nbreak.txt"),
            part(2, "Aygul\nspeaks.m4a"),
            part(3, "plain.pdf"),
        ];
        let (shown, restore) = attachment_names(&parts, Some(&r));
        assert_eq!(shown[&1], "line_break.txt");
        assert_eq!(shown[&2], "W-1_speaks.m4a");
        assert_eq!(shown[&3], "plain.pdf");
        assert_eq!(restore.len(), 1);
        assert_eq!(restore[&1], "line\nbreak.txt");
    }
}
