//! The facade: create and unlock a vault, take in testimony, list, show, stream and search it.
//!
//! Every read of testimony goes through [`Vault::read_part`] (content) or [`Vault::open_meta`]
//! and [`Vault::open_identity`] (sealed metadata), so there is one place where reads can be
//! recorded.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::part::{self, DecryptFailure, EncryptFailure, PartBinding, PartKey};
use crate::crypto::{self, KdfParams, Key, Keyslot, Passphrase, SlotKind, VaultKeys};
use crate::error::{Error, Integrity, Result};
use crate::record::{
    InterviewDate, Metadata, PartInfo, RecordId, RecordIdPrefix, SealedMeta, WitnessIdentity,
};
use crate::store::{self, PartPlace, PartReader, PartWriter, Store, VersionRow};

/// The most a statement may hold: it is text, read whole for `show` and `search`.
pub const STATEMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// An unlocked vault.
pub struct Vault {
    store: Store,
    vault_id: [u8; 16],
    keys: VaultKeys,
    operator: String,
}

/// How `init` sets up the first keyslot.
pub struct CreateOptions<'a> {
    pub kdf: KdfParams,
    /// The caller accepted parameters below the floor.
    pub weak_kdf: bool,
    /// The first operator's name.
    pub operator: &'a str,
}

/// What can be said about a vault without unlocking it.
#[derive(Debug, Serialize)]
pub struct Status {
    pub path: PathBuf,
    pub format_version: i64,
    pub vault_id: String,
    pub records: u64,
    pub file_size: u64,
    pub keyslots: Vec<SlotStatus>,
}

#[derive(Debug, Serialize)]
pub struct SlotStatus {
    pub kind: &'static str,
    pub kdf_memory_mib: u64,
    pub kdf_iterations: u32,
    pub kdf_parallelism: u32,
    /// Below the floor of 256 MiB and 768 MiB × passes.
    pub weak: bool,
    /// Created with `--allow-weak-kdf`.
    pub weak_allowed: bool,
}

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

/// A record's latest version, as `list` and `search` see it.
pub struct RecordSummary {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
}

/// A statement's text. Zeroized on drop.
pub struct Statement(Zeroizing<String>);

impl Statement {
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// A record as `show` presents it.
pub struct RecordView {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
    pub statement: Option<Statement>,
    /// Present only when asked for and stored.
    pub identity: Option<WitnessIdentity>,
}

/// Which records `list` shows.
#[derive(Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub witness: Option<String>,
    pub since: Option<InterviewDate>,
    pub until: Option<InterviewDate>,
}

/// A record that matched a search, with where and a short excerpt.
pub struct SearchHit {
    pub record: RecordSummary,
    pub field: &'static str,
    pub snippet: Zeroizing<String>,
}

impl Vault {
    /// Creates a vault at `path` with one passphrase keyslot. Runs the KDF once.
    pub fn create(
        path: &Path,
        passphrase: &Passphrase,
        options: &CreateOptions<'_>,
    ) -> Result<Self> {
        options.kdf.check_bounds()?;
        if path.exists() {
            return Err(Error::VaultExists {
                path: path.to_owned(),
            });
        }
        let vault_id: [u8; 16] = crypto::random_array();
        let keys = VaultKeys::derive(Key::random(), &vault_id);
        let slot = Keyslot::create(
            &vault_id,
            SlotKind::Passphrase,
            options.kdf,
            options.weak_kdf,
            passphrase,
            &keys,
            options.operator,
        )?;
        let mac = crypto::header_mac(&keys, &vault_id, std::slice::from_ref(&slot));

        let store = Store::create(path, |conn| {
            store::insert_header(conn, &vault_id, &mac)?;
            store::insert_keyslot(conn, &slot)
        })?;
        Ok(Vault {
            store,
            vault_id,
            keys,
            operator: options.operator.to_owned(),
        })
    }

    /// Unlocks the vault at `path`. With `operator`, only that operator's keyslot is accepted.
    pub fn open(path: &Path, passphrase: &Passphrase, operator: Option<&str>) -> Result<Self> {
        let store = Store::open(path)?;
        let (vault_id, mac) = store::header(store.conn())?;
        let slots = store::keyslots(store.conn())?;
        for slot in slots.iter().filter(|s| s.kind == SlotKind::Passphrase) {
            let Some(vmk) = slot.unlock(&vault_id, passphrase)? else {
                continue;
            };
            let keys = VaultKeys::derive(vmk, &vault_id);
            if !crypto::verify_header_mac(&keys, &vault_id, &slots, &mac) {
                return Err(Integrity::HeaderMac.into());
            }
            let label = slot.label(&vault_id, &keys).ok_or(Integrity::HeaderMac)?;
            if operator.is_some_and(|op| op != label) {
                continue;
            }
            return Ok(Vault {
                store,
                vault_id,
                keys,
                operator: label,
            });
        }
        Err(Error::WrongPassphrase)
    }

    /// Reads what is stored in plaintext. Needs no passphrase.
    pub fn status(path: &Path) -> Result<Status> {
        let store = Store::open(path)?;
        let conn = store.conn();
        let (vault_id, _) = store::header(conn)?;
        let keyslots = store::keyslots(conn)?
            .iter()
            .map(|s| SlotStatus {
                kind: s.kind.as_str(),
                kdf_memory_mib: s.kdf.memory_mib(),
                kdf_iterations: s.kdf.t,
                kdf_parallelism: s.kdf.p,
                weak: s.kdf.is_weak(),
                weak_allowed: s.weak_kdf,
            })
            .collect();
        Ok(Status {
            path: path.to_owned(),
            format_version: store::FORMAT_VERSION,
            vault_id: hex::encode(vault_id),
            records: store::record_count(conn)?,
            file_size: store.file_size()?,
            keyslots,
        })
    }

    pub fn id(&self) -> String {
        hex::encode(self.vault_id)
    }

    /// The operator whose keyslot unlocked the vault.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Takes in one testimony in a single transaction: the statement and every attachment
    /// are streamed through age into the store, then the sealed manifest is written.
    pub fn add(&mut self, intake: Intake<'_>) -> Result<RecordId> {
        let Intake {
            meta,
            identity,
            statement,
            attachments,
        } = intake;
        let record = RecordId::random();
        let version = 1;
        let vault_id = self.vault_id;
        let path = self.store.path().to_owned();
        let tx = self.store.write()?;

        let write_part = |part: u32, reader: &mut dyn Read| {
            let place = PartPlace {
                record,
                version,
                part,
            };
            let key = PartKey {
                key: &self.keys.wrap,
                binding: PartBinding {
                    vault_id,
                    record,
                    version,
                    part,
                },
            };
            let (sealed, writer) = part::encrypt(&key, reader, PartWriter::new(&tx, place))
                .map_err(|e| match e {
                    EncryptFailure::Read(e) if part == 0 => Error::ReadStatement(e),
                    EncryptFailure::Read(source) => Error::ReadAttachment {
                        index: part as usize,
                        source,
                    },
                    EncryptFailure::Write(e) => from_store_io(e, &path),
                })?;
            Ok::<_, Error>(PartInfo {
                part,
                name: None,
                size: sealed.size,
                sha256: hex::encode(sealed.sha256),
                padded_size: sealed.padded_size,
                stored_len: writer.finish()?,
            })
        };

        let statement = match statement {
            Some(mut reader) => {
                // Read it whole first: it must be UTF-8 text, and it is bounded.
                let text = read_statement_input(&mut reader)?;
                if std::str::from_utf8(&text).is_err() {
                    return Err(Error::StatementNotUtf8);
                }
                Some(write_part(0, &mut text.as_slice())?)
            }
            None => None,
        };
        let names: Vec<String> = attachments.iter().map(|a| a.name.clone()).collect();
        let names = crate::record::unique_names(&names);
        let mut parts = Vec::with_capacity(attachments.len());
        for ((i, mut attachment), name) in attachments.into_iter().enumerate().zip(names) {
            let mut info = write_part(i as u32 + 1, &mut attachment.reader)?;
            info.name = Some(name);
            parts.push(info);
        }

        let has_identity = !identity.is_empty();
        let sealed = SealedMeta {
            v: SealedMeta::VERSION,
            meta,
            created_at: now_rfc3339(),
            operator: self.operator.clone(),
            statement,
            attachments: parts,
            has_identity,
        };
        let meta_json = Zeroizing::new(serde_json::to_vec(&sealed).expect("metadata serialises"));
        // Sealed even when empty, so the file does not tell which records name a witness.
        let identity_json =
            Zeroizing::new(serde_json::to_vec(&identity).expect("identity serialises"));
        let identity_blob = crypto::seal_padded(
            &self.keys.meta,
            &crypto::record_aad("tvault identity v1", &vault_id, &record, version),
            &identity_json,
        );
        store::insert_version(
            &tx,
            &VersionRow {
                record,
                version,
                meta: crypto::seal_padded(
                    &self.keys.meta,
                    &crypto::record_aad("tvault meta v1", &vault_id, &record, version),
                    &meta_json,
                ),
                identity: identity_blob,
            },
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// The latest version of every record that passes `filter`, by interview date.
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<RecordSummary>> {
        let rows = store::current_versions(self.store.conn())?;
        let mut out = Vec::new();
        for row in rows {
            let sealed = self.open_meta(&row)?;
            if filter.matches(&sealed.meta) {
                out.push(RecordSummary {
                    id: row.record,
                    version: row.version,
                    sealed,
                });
            }
        }
        out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        Ok(out)
    }

    /// Resolves an id or unique prefix to a record.
    pub fn resolve(&self, prefix: &RecordIdPrefix) -> Result<RecordId> {
        match store::find_records(self.store.conn(), prefix, 2)?.as_slice() {
            [] => Err(Error::RecordNotFound(prefix.clone())),
            [one] => Ok(*one),
            _ => Err(Error::AmbiguousId(prefix.clone())),
        }
    }

    /// A record's latest version: metadata, consent, statement, and the witness's identity
    /// when `with_identity`.
    pub fn show(&mut self, prefix: &RecordIdPrefix, with_identity: bool) -> Result<RecordView> {
        let id = self.resolve(prefix)?;
        let tx = self.store.read()?;
        let row = store::current_version(&tx, &id)?.ok_or(Error::RecordNotFound(prefix.clone()))?;
        let sealed = self.open_meta(&row)?;
        let statement = match &sealed.statement {
            Some(info) => Some(self.read_statement(&tx, &row, info)?),
            None => None,
        };
        let identity = if with_identity {
            self.open_identity(&row)?
        } else {
            None
        };
        Ok(RecordView {
            id,
            version: row.version,
            sealed,
            statement,
            identity,
        })
    }

    /// Streams one attachment's plaintext to `out`. Nothing is written before the stored
    /// length is checked, and each chunk is written only once it authenticates.
    pub fn cat(&mut self, prefix: &RecordIdPrefix, name: &str, out: &mut dyn Write) -> Result<u64> {
        let id = self.resolve(prefix)?;
        let tx = self.store.read()?;
        let row = store::current_version(&tx, &id)?.ok_or(Error::RecordNotFound(prefix.clone()))?;
        let sealed = self.open_meta(&row)?;
        let info = sealed
            .attachments
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .ok_or(Error::AttachmentNotFound(id))?;
        self.read_part(&tx, &row, info, out)?;
        Ok(info.size)
    }

    /// Case-insensitive search over every record's statement and metadata (never the
    /// witness's identity). Returns one hit per matching record.
    pub fn search(&mut self, query: &str) -> Result<Vec<SearchHit>> {
        let needle = Zeroizing::new(query.to_lowercase());
        let tx = self.store.read()?;
        let rows = store::current_versions(&tx)?;
        let mut hits = Vec::new();
        for row in rows {
            let sealed = self.open_meta(&row)?;
            let m = &sealed.meta;
            let fields: [(&'static str, Option<&str>); 6] = [
                ("witness", Some(m.witness.as_str())),
                ("title", m.title.as_deref()),
                ("interviewer", m.interviewer.as_deref()),
                ("location", m.location.as_deref()),
                ("language", m.language.as_deref()),
                ("date", m.date.as_ref().map(InterviewDate::as_str)),
            ];
            let tags = m.tags.iter().map(|t| ("tag", Some(t.as_str())));
            let mut found = fields
                .into_iter()
                .chain(tags)
                .find_map(|(field, text)| Some((field, snippet(text?, &needle)?)));
            if found.is_none()
                && let Some(info) = &sealed.statement
            {
                let text = self.read_statement(&tx, &row, info)?;
                found = snippet(text.expose_secret(), &needle).map(|s| ("statement", s));
            }
            if let Some((field, snippet)) = found {
                hits.push(SearchHit {
                    record: RecordSummary {
                        id: row.record,
                        version: row.version,
                        sealed,
                    },
                    field,
                    snippet,
                });
            }
        }
        hits.sort_by(|a, b| sort_key(&a.record).cmp(&sort_key(&b.record)));
        Ok(hits)
    }

    fn meta_aad(&self, row: &VersionRow) -> Vec<u8> {
        crypto::record_aad("tvault meta v1", &self.vault_id, &row.record, row.version)
    }

    /// Opens a version's sealed metadata and manifest.
    fn open_meta(&self, row: &VersionRow) -> Result<SealedMeta> {
        let json = crypto::open_padded(&self.keys.meta, &self.meta_aad(row), &row.meta)
            .ok_or(Integrity::Metadata(row.record))?;
        let sealed: SealedMeta =
            serde_json::from_slice(&json).map_err(|_| Integrity::Metadata(row.record))?;
        if sealed.v != SealedMeta::VERSION {
            return Err(Integrity::Metadata(row.record).into());
        }
        Ok(sealed)
    }

    /// Opens a version's sealed witness identity; `None` when none was given.
    fn open_identity(&self, row: &VersionRow) -> Result<Option<WitnessIdentity>> {
        let blob = &row.identity;
        let aad = crypto::record_aad(
            "tvault identity v1",
            &self.vault_id,
            &row.record,
            row.version,
        );
        let json = crypto::open_padded(&self.keys.meta, &aad, blob)
            .ok_or(Integrity::Identity(row.record))?;
        let identity =
            serde_json::from_slice(&json).map_err(|_| Integrity::Identity(row.record))?;
        Ok(Some(identity))
    }

    fn read_statement(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<Statement> {
        let mut buf = Zeroizing::new(Vec::with_capacity(info.size as usize));
        self.read_part(conn, row, info, &mut *buf)?;
        let text =
            String::from_utf8(std::mem::take(&mut *buf)).map_err(|_| Integrity::PartHash {
                record: row.record,
                part: info.part,
            })?;
        Ok(Statement(Zeroizing::new(text)))
    }

    /// The one place content parts are decrypted. Checks the stored length against the
    /// sealed manifest before writing anything, so a truncated part releases nothing.
    fn read_part(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
        out: &mut dyn Write,
    ) -> Result<()> {
        let place = PartPlace {
            record: row.record,
            version: row.version,
            part: info.part,
        };
        let stored = store::stored_part(conn, &place)?.ok_or(Integrity::PartMissing {
            record: row.record,
            part: info.part,
        })?;
        if !stored.contiguous || stored.header.len() as u64 + stored.payload_len != info.stored_len
        {
            return Err(Integrity::PartLength {
                record: row.record,
                part: info.part,
            }
            .into());
        }
        let key = PartKey {
            key: &self.keys.wrap,
            binding: PartBinding {
                vault_id: self.vault_id,
                record: row.record,
                version: row.version,
                part: info.part,
            },
        };
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&info.sha256, &mut sha256)
            .map_err(|_| Integrity::Metadata(row.record))?;
        let reader = PartReader::new(conn, stored);
        part::decrypt(
            &key,
            reader,
            info.size,
            info.padded_size,
            &sha256,
            out,
            store::is_store_error,
        )
        .map_err(|e| match e {
            DecryptFailure::Auth => Integrity::Part {
                record: row.record,
                part: info.part,
            }
            .into(),
            DecryptFailure::Mismatch => Integrity::PartHash {
                record: row.record,
                part: info.part,
            }
            .into(),
            DecryptFailure::Source(e) => from_store_io(e, self.store.path()),
            DecryptFailure::Output(e) => Error::Output(e),
        })
    }
}

impl Filter {
    fn matches(&self, meta: &Metadata) -> bool {
        let eq = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        if let Some(tag) = &self.tag
            && !meta.tags.iter().any(|t| eq(t, tag))
        {
            return false;
        }
        if let Some(w) = &self.witness
            && !eq(&meta.witness, w)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(date) = &meta.date else {
                return false;
            };
            if self.since.as_ref().is_some_and(|s| date < s)
                || self.until.as_ref().is_some_and(|u| date > u)
            {
                return false;
            }
        }
        true
    }
}

fn sort_key(r: &RecordSummary) -> (&str, &str, RecordId) {
    let created = r.sealed.created_at.as_str();
    let date = r.sealed.meta.date.as_ref().map_or_else(
        || created.get(..10).unwrap_or(created),
        InterviewDate::as_str,
    );
    (date, created, r.id)
}

/// The first case-insensitive match of `needle` (already lowercase) in `text`, with about
/// forty characters on each side, on one line.
fn snippet(text: &str, needle: &str) -> Option<Zeroizing<String>> {
    if needle.is_empty() {
        return None;
    }
    let lower = Zeroizing::new(text.to_lowercase());
    let at = lower.find(needle)?;
    // Lowercasing can change lengths; count characters to find the place in the original.
    let first = lower[..at].chars().count();
    let len = needle.chars().count();
    let total = text.chars().count();
    let start = first.saturating_sub(40).min(total);
    let end = (first + len + 40).min(total);
    let mut out = Zeroizing::new(String::new());
    if start > 0 {
        out.push('…');
    }
    let excerpt: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .skip(start)
            .take(end - start)
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect(),
    );
    out.push_str(excerpt.trim());
    if end < total {
        out.push('…');
    }
    Some(out)
}

/// Reads a statement of at most [`STATEMENT_LIMIT`] bytes. The buffer grows by copying into a
/// larger zeroizing one, so no reallocation leaves a copy of the text in freed memory.
fn read_statement_input(reader: &mut dyn Read) -> Result<Zeroizing<Vec<u8>>> {
    let mut text = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
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

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// An `io::Error` raised inside the store's reader or writer: a SQLite error carried through
/// the age stream, or the operating system's.
fn from_store_io(e: std::io::Error, path: &Path) -> Error {
    match e.downcast::<rusqlite::Error>() {
        Ok(sql) => sql.into(),
        Err(e) => Error::Io {
            path: path.to_owned(),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_find_case_insensitively_and_stay_on_one_line() {
        let text = "First line.\nThe SOLDIERS came at night and took him away to the camp.";
        let s = snippet(text, "soldiers").unwrap();
        assert!(s.contains("SOLDIERS came"), "{}", s.as_str());
        assert!(!s.contains('\n'));
        assert!(snippet(text, "tanks").is_none());
        assert!(snippet("İstanbul", "i̇stanbul").is_some());
    }
}
