//! Taking testimony in: `add`, `add_many` and `amend`.

use std::collections::BTreeSet;
use std::io::Read;

use zeroize::Zeroizing;

use crate::audit::Action;
use crate::digest::{self, Summary, Text};
use crate::error::{Error, Result};
use crate::record::{
    IdentityLevel, InterviewDate, MediaConsent, Metadata, PartInfo, Purpose, RecordId,
    RecordIdPrefix, SealedMeta, WitnessIdentity,
};
use crate::store;

use super::{Draft, STATEMENT_LIMIT, Vault, now_rfc3339};

/// One testimony to take in.
pub struct Intake<'a> {
    pub meta: Metadata,
    pub identity: WitnessIdentity,
    pub statement: Option<Box<dyn Read + 'a>>,
    pub attachments: Vec<Attachment<'a>>,
}

pub struct Attachment<'a> {
    /// The original file name; made unique within the record.
    pub name: String,
    pub reader: Box<dyn Read + 'a>,
}

/// Changes to metadata: each field given replaces the old value.
#[derive(Default)]
pub struct MetaEdit {
    pub witness: Option<String>,
    pub title: Option<String>,
    pub interviewer: Option<String>,
    pub date: Option<InterviewDate>,
    pub location: Option<String>,
    pub language: Option<String>,
    /// Replaces all tags.
    pub tags: Option<Vec<String>>,
    pub purposes: Option<BTreeSet<Purpose>>,
    pub identity_level: Option<IdentityLevel>,
    pub media: Option<MediaConsent>,
}

impl MetaEdit {
    fn apply(self, meta: &mut Metadata) {
        let MetaEdit {
            witness,
            title,
            interviewer,
            date,
            location,
            language,
            tags,
            purposes,
            identity_level,
            media,
        } = self;
        if let Some(v) = witness {
            meta.witness = v;
        }
        meta.title = title.or(meta.title.take());
        meta.interviewer = interviewer.or(meta.interviewer.take());
        meta.date = date.or(meta.date.take());
        meta.location = location.or(meta.location.take());
        meta.language = language.or(meta.language.take());
        if let Some(v) = tags {
            meta.tags = v;
        }
        if let Some(v) = purposes {
            meta.consent.purposes = v;
        }
        if let Some(v) = identity_level {
            meta.consent.identity_level = v;
        }
        if let Some(v) = media {
            meta.consent.media = v;
        }
    }
}

/// A new version of a record: what changes. Parts not named are carried over unchanged.
pub struct Amendment<'a> {
    pub meta: MetaEdit,
    pub witness_name: Option<String>,
    pub witness_contact: Option<String>,
    /// Replaces all of the witness's aliases.
    pub witness_aliases: Option<Vec<String>>,
    /// Replaces the statement.
    pub statement: Option<Box<dyn Read + 'a>>,
    /// Added; one with the name of an existing attachment replaces it.
    pub attachments: Vec<Attachment<'a>>,
    /// Names of attachments to leave out of the new version (earlier versions keep them).
    pub remove: Vec<String>,
}

impl Vault {
    /// Takes in one testimony in a single transaction: the statement and every attachment
    /// are streamed through age into the store, then the sealed manifest and the intake event
    /// are written.
    pub fn add(&mut self, intake: Intake<'_>) -> Result<RecordId> {
        let ids = self.add_many(std::iter::once(intake))?;
        Ok(ids[0])
    }

    /// Stores many new records in one transaction, with one checkpoint: for bulk intake,
    /// where a commit (and its fsync) per record would dominate. Nothing is stored unless
    /// every record is.
    pub fn add_many<'a>(
        &mut self,
        intakes: impl IntoIterator<Item = Intake<'a>>,
    ) -> Result<Vec<RecordId>> {
        let path = self.store.path().to_owned();
        let tx = self.store.write()?;
        let mut ids = Vec::new();
        let mut drafts = Vec::new();
        let mut fresh = super::listing::Known::new();
        for intake in intakes {
            let Intake {
                meta,
                identity,
                statement,
                attachments,
            } = intake;
            let record = RecordId::random();
            let version = 1;
            let (statement, parts, text) =
                self.s
                    .store_content(&tx, &path, record, version, 1, statement, attachments)?;
            let sealed = SealedMeta {
                v: SealedMeta::VERSION,
                meta,
                created_at: now_rfc3339(),
                operator: self.s.operator.clone(),
                statement,
                attachments: parts,
                has_identity: !identity.is_empty(),
                imported: None,
                kit: None,
                derived: Vec::new(),
            };
            let row = self.s.seal_version(record, version, &sealed, &identity);
            store::insert_version(&tx, &row)?;
            if self.s.kit.is_none() {
                // The digest takes the new records from here, not from reading them back.
                let text = match (&sealed.statement, text) {
                    (Some(info), Some(text)) if info.size <= digest::TEXT_MAX => Text::Inline(text),
                    (Some(_), _) => Text::Large,
                    (None, _) => Text::None,
                };
                fresh.insert((record, version), (Summary::of(&sealed), text));
            }
            let parts: Vec<&PartInfo> =
                sealed.statement.iter().chain(&sealed.attachments).collect();
            drafts.push(if self.s.kit.is_some() {
                // A kit logs its sealed files only: never a hash of the plaintext.
                Draft::new(Action::RecordAdded)
                    .on(record, version)
                    .detail(serde_json::json!({
                        "sealed": super::Session::sealed_record(&row, &parts),
                    }))
            } else {
                Draft::new(Action::RecordAdded)
                    .on(record, version)
                    .parts(parts)
            });
            ids.push(record);
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        if self.s.kit.is_none() {
            self.s
                .refresh_digest_known(&tx, ids.iter().copied(), &mut fresh)?;
        }
        let cp = self.s.append(&tx, drafts)?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(ids)
    }

    /// Creates the next version of a record. Earlier versions stay as they are.
    pub fn amend(
        &mut self,
        prefix: &RecordIdPrefix,
        change: Amendment<'_>,
    ) -> Result<(RecordId, u32)> {
        self.s.readable()?;
        let id = self.resolve(prefix)?;
        let path = self.store.path().to_owned();
        let tx = self.store.write()?;
        let old_row =
            store::current_version(&tx, &id)?.ok_or(Error::RecordNotFound(prefix.clone()))?;
        // A new version follows the one the log says is newest, never a stale one.
        self.s.check_version(&tx, &old_row)?;
        let old = self.s.open_meta(&old_row)?;
        let mut identity = self.s.open_identity(&old_row)?.unwrap_or_default();
        let version = old_row.version + 1;
        let Amendment {
            meta: edit,
            witness_name,
            witness_contact,
            witness_aliases,
            statement,
            attachments,
            remove,
        } = change;

        // Carried-over parts keep pointing at the version that stores them.
        let carry = |p: &PartInfo| {
            let mut carried = p.clone();
            carried.stored_at = Some(p.stored_at.unwrap_or(old_row.version));
            carried
        };
        let replaced: BTreeSet<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
        // Names are unique among attachments and derived items: an attachment cannot take a
        // derived item's name.
        if replaced.iter().any(|n| old.derived_item(n).is_some()) {
            return Err(Error::PartNameTaken(id));
        }
        for name in &remove {
            if !old
                .attachments
                .iter()
                .any(|a| a.name.as_deref() == Some(name.as_str()))
            {
                return Err(Error::AttachmentNotFound(id));
            }
        }
        let kept: Vec<PartInfo> = old
            .attachments
            .iter()
            .filter(|a| {
                let name = a.name.as_deref().unwrap_or_default();
                !replaced.contains(name) && !remove.iter().any(|r| r == name)
            })
            .map(carry)
            .collect();
        let had_statement = statement.is_some();
        // New attachments take numbers no part this version lists has.
        let (new_statement, new_parts, _) = self.s.store_content(
            &tx,
            &path,
            id,
            version,
            old.next_part(),
            statement,
            attachments,
        )?;
        let mut meta = old.meta.clone();
        edit.apply(&mut meta);
        if let Some(name) = witness_name {
            identity.name = Some(name);
        }
        if let Some(contact) = witness_contact {
            identity.contact = Some(contact);
        }
        if let Some(aliases) = witness_aliases {
            identity.aliases = aliases;
        }
        let statement = if had_statement {
            new_statement
        } else {
            old.statement.as_ref().map(carry)
        };
        let attachments: Vec<PartInfo> = kept.into_iter().chain(new_parts).collect();
        let derived = super::derive::carry_derived(
            &old.derived,
            old_row.version,
            statement.as_ref(),
            &attachments,
            version,
        );
        let sealed = SealedMeta {
            v: SealedMeta::VERSION,
            meta,
            created_at: now_rfc3339(),
            operator: self.s.operator.clone(),
            statement,
            attachments,
            has_identity: !identity.is_empty(),
            imported: None,
            kit: None,
            derived,
        };
        store::insert_version(&tx, &self.s.seal_version(id, version, &sealed, &identity))?;
        self.s.refresh_digest(&tx, [id])?;
        let event = Draft::new(Action::RecordAmended)
            .on(id, version)
            .parts(sealed.parts());
        let cp = self.s.append(&tx, vec![event])?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok((id, version))
    }
}

/// Reads a statement of at most [`STATEMENT_LIMIT`] bytes. The buffer grows by copying into a
/// larger zeroizing one, so no reallocation leaves a copy of the text in freed memory.
pub(super) fn read_statement_input(reader: &mut dyn Read) -> Result<Zeroizing<Vec<u8>>> {
    // Small to start with: most statements are a few KiB, and both buffers are zeroed.
    let mut text = Zeroizing::new(Vec::with_capacity(16 * 1024));
    let mut buf = Zeroizing::new(vec![0u8; 16 * 1024]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(text),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::ReadStatement(e)),
        };
        if (text.len() + n) as u64 > STATEMENT_LIMIT {
            return Err(Error::StatementTooLarge {
                limit: STATEMENT_LIMIT,
            });
        }
        if text.len() + n > text.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((text.len() + n) * 2));
            bigger.extend_from_slice(&text);
            text = bigger;
        }
        text.extend_from_slice(&buf[..n]);
    }
}
