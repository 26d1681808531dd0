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
use crate::record::{Metadata, PartInfo, WitnessIdentity, unique_names};
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

/// The names attachments leave under, by part number: as recorded, or with the witness's
/// names replaced (and path separators and control characters a replacement brought in made
/// `_`), made unique again within the record.
pub(super) fn attachment_names(
    attachments: &[PartInfo],
    redactor: Option<&Redactor>,
) -> BTreeMap<u32, String> {
    let mut changed = false;
    let names: Vec<String> = attachments
        .iter()
        .map(|a| {
            let name = a.name.clone().unwrap_or_default();
            match redactor.and_then(|r| r.redact(&name)) {
                Some(new) => {
                    changed = true;
                    new.chars()
                        .map(|c| {
                            if c == '/' || c == '\\' || c.is_control() {
                                '_'
                            } else {
                                c
                            }
                        })
                        .collect()
                }
                None => name,
            }
        })
        .collect();
    let names = if changed { unique_names(&names) } else { names };
    attachments.iter().map(|a| a.part).zip(names).collect()
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
