//! Content parts (statements and attachments): written as age files with tvault's stanza,
//! read back as streams that release only authenticated bytes, rewrapped or re-encrypted by
//! rekey.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::part::{self, EncryptFailure, PartBinding, PartKey};
use crate::crypto::payload;
use crate::error::{Error, Integrity, Result};
use crate::record::{PartInfo, RecordId};
use crate::store::{self, PartPlace, PartReader, PartWriter, VersionRow};

use super::{Attachment, Session, Statement, from_store_io, read_statement_input};

/// What [`Session::store_content`] stored: the statement's part, the attachments' parts and
/// the statement's text.
pub(super) type StoredContent = (Option<PartInfo>, Vec<PartInfo>, Option<Zeroizing<String>>);

/// A part encrypted in memory and not stored yet: its place, what its encryption learned, and
/// the age file.
pub(super) struct SealedPart {
    place: PartPlace,
    sealed: part::Sealed,
    stored: Vec<u8>,
}

/// Parts stored in at most this many bytes are read with one query, not one per chunk.
pub(super) const SMALL_PART: u64 = 256 * 1024;

/// Parts whose padded plaintext is larger than this are read by [`payload::decrypt`] on
/// every core (more than one batch); smaller ones by one thread, which starts faster.
const PARALLEL_PART: u64 = (payload::BATCH_CHUNKS * 64 * 1024) as u64;

/// A part as the sealed metadata lists it, from its encryption and what storing it wrote.
fn part_info(
    part: u32,
    sealed: &part::Sealed,
    (stored_len, stored_sha256): (u64, [u8; 32]),
) -> PartInfo {
    PartInfo {
        part,
        name: None,
        size: sealed.size,
        sha256: hex::encode(sealed.sha256),
        padded_size: sealed.padded_size,
        stored_len,
        stored_sha256: Some(hex::encode(stored_sha256)),
        stored_at: None,
    }
}

impl Session {
    /// Encrypts one part from `reader` into the store.
    pub(super) fn write_part(
        &self,
        tx: &Connection,
        path: &Path,
        place: PartPlace,
        reader: &mut dyn Read,
    ) -> Result<PartInfo> {
        let part = place.part;
        // On a field kit, sealed to headquarters; the kit cannot open it again.
        let key = self.part_key(place);
        let recipient: &dyn age::Recipient = match &self.kit {
            Some(kit) => &kit.recipient,
            None => &key,
        };
        let (sealed, writer) = part::encrypt(recipient, reader, PartWriter::new(tx, place))
            .map_err(|e| match e {
                EncryptFailure::Read(e) if part == 0 => Error::ReadStatement(e),
                EncryptFailure::Read(source) => Error::ReadAttachment {
                    index: part as usize,
                    source,
                },
                EncryptFailure::Write(e) => from_store_io(e, path),
            })?;
        Ok(part_info(part, &sealed, writer.finish()?))
    }

    /// Encrypts a part held in memory (an import's statement), to be stored by
    /// [`Session::store_sealed_part`]: the encryption can run on another thread than the
    /// store's transaction.
    pub(super) fn seal_part_in_memory(
        &self,
        path: &Path,
        place: PartPlace,
        mut text: &[u8],
    ) -> Result<SealedPart> {
        let key = self.part_key(place);
        let recipient: &dyn age::Recipient = match &self.kit {
            Some(kit) => &kit.recipient,
            None => &key,
        };
        let (sealed, stored) =
            part::encrypt(recipient, &mut text, Vec::new()).map_err(|e| match e {
                EncryptFailure::Read(e) | EncryptFailure::Write(e) => from_store_io(e, path),
            })?;
        Ok(SealedPart {
            place,
            sealed,
            stored,
        })
    }

    /// Stores a part [`Session::seal_part_in_memory`] encrypted; returns its part.
    pub(super) fn store_sealed_part(
        &self,
        tx: &Connection,
        path: &Path,
        part: SealedPart,
    ) -> Result<PartInfo> {
        let mut writer = PartWriter::new(tx, part.place);
        writer
            .write_all(&part.stored)
            .map_err(|e| from_store_io(e, path))?;
        Ok(part_info(part.place.part, &part.sealed, writer.finish()?))
    }

    /// Stores the statement (part 0) and attachments (parts `first`, `first + 1`…) of one
    /// version; returns their parts and the statement's text (checked UTF-8), for the digest.
    #[allow(
        clippy::too_many_arguments,
        reason = "the place of each part, and its content"
    )]
    pub(super) fn store_content(
        &self,
        tx: &Connection,
        path: &Path,
        record: RecordId,
        version: u32,
        first: u32,
        statement: Option<Box<dyn Read + '_>>,
        attachments: Vec<Attachment<'_>>,
    ) -> Result<StoredContent> {
        let write_part = |part: u32, reader: &mut dyn Read| {
            self.write_part(
                tx,
                path,
                PartPlace {
                    record,
                    version,
                    part,
                },
                reader,
            )
        };
        let (statement, text) = match statement {
            Some(mut reader) => {
                // Read it whole first: it must be UTF-8 text, and it is bounded.
                let bytes = read_statement_input(&mut reader)?;
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    return Err(Error::StatementNotUtf8);
                };
                let info = write_part(0, &mut bytes.as_slice())?;
                // A copy of its own size: the read buffer is larger.
                (Some(info), Some(Zeroizing::new(text.to_owned())))
            }
            None => (None, None),
        };
        let names: Vec<String> = attachments.iter().map(|a| a.name.clone()).collect();
        let names = crate::record::unique_names(&names);
        let mut parts = Vec::with_capacity(attachments.len());
        for ((i, mut attachment), name) in attachments.into_iter().enumerate().zip(names) {
            let mut info = write_part(first + i as u32, &mut attachment.reader).map_err(|e| {
                match e {
                    // Counted in the order the attachments were given.
                    Error::ReadAttachment { source, .. } => Error::ReadAttachment {
                        index: i + 1,
                        source,
                    },
                    other => other,
                }
            })?;
            info.name = Some(name);
            parts.push(info);
        }
        Ok((statement, parts, text))
    }

    pub(super) fn read_statement(
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

    /// K_wrap bound to a part's place.
    pub(super) fn part_key(&self, place: PartPlace) -> PartKey<'_> {
        PartKey {
            key: &self.keys.wrap,
            binding: PartBinding {
                vault_id: self.vault_id,
                record: place.record,
                version: place.version,
                part: place.part,
            },
        }
    }

    /// Rekey without re-encryption: gives a part a header that `next` opens, keeping its file
    /// key and payload. Returns the stored file's new length and SHA-256.
    pub(super) fn rewrap_part(
        &self,
        next: &Session,
        conn: &Connection,
        path: &Path,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<(u64, String)> {
        let place = Self::place(row, info);
        let stored = self.stored_part(conn, row, info)?;
        let header = part::rewrap_header(
            &self.part_key(place),
            &next.part_key(place),
            PartReader::new(conn, stored.clone()),
        )
        .map_err(|e| self.part_error(e, row, info, path))?;
        store::set_part_header(conn, &stored, &header)?;
        let stored = stored.with_header(header);
        let len = stored.header.len() as u64 + stored.payload_len;
        let mut hasher = Sha256::new();
        std::io::copy(&mut PartReader::new(conn, stored), &mut hasher)
            .map_err(|e| from_store_io(e, path))?;
        Ok((len, hex::encode(hasher.finalize())))
    }

    /// Rekey with re-encryption: decrypts a part (checking it against its intake hash) into a
    /// new age file under `next`, with a new file key, and deletes the old one. Returns the
    /// stored file's new length and SHA-256.
    pub(super) fn reencrypt_part(
        &self,
        next: &Session,
        conn: &Connection,
        path: &Path,
        row: &VersionRow,
        info: &mut PartInfo,
    ) -> Result<(u64, String)> {
        let place = Self::place(row, info);
        let old = self.stored_part(conn, row, info)?;
        let mut plain = self.open_part(conn, row, info)?;
        store::set_part_aside(conn, &old)?;
        let (sealed, writer) = part::encrypt(
            &next.part_key(place),
            &mut plain,
            PartWriter::new(conn, place),
        )
        .map_err(|e| match e {
            EncryptFailure::Read(e) => self.part_error(e, row, info, path),
            EncryptFailure::Write(e) => from_store_io(e, path),
        })?;
        let (len, sha256) = writer.finish()?;
        drop(plain);
        store::delete_part(conn, &old)?;
        if sealed.size != info.size || hex::encode(sealed.sha256) != info.sha256 {
            return Err(Integrity::PartHash {
                record: row.record,
                part: info.part,
            }
            .into());
        }
        info.padded_size = sealed.padded_size;
        Ok((len, hex::encode(sha256)))
    }

    /// Where a part is stored: its own version, or the earlier one it was carried from.
    pub(super) fn place(row: &VersionRow, info: &PartInfo) -> PartPlace {
        PartPlace {
            record: row.record,
            version: info.stored_at.unwrap_or(row.version),
            part: info.part,
        }
    }

    /// Checks a part's stored length and chunk sequence against the sealed manifest.
    pub(super) fn stored_part(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<store::StoredPart> {
        let place = Self::place(row, info);
        let stored = if info.stored_len <= SMALL_PART {
            store::load_part(conn, &place)?
        } else {
            store::stored_part(conn, &place)?
        };
        let stored = stored.ok_or(Integrity::PartMissing {
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
        Ok(stored)
    }

    pub(super) fn check_part_length(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<()> {
        self.stored_part(conn, row, info).map(|_| ())
    }

    /// The place content parts are decrypted as a stream (large parts read whole go through
    /// [`Session::read_part_in_parallel`], with the same checks): a reader of the plaintext.
    /// The stored length is checked against the sealed manifest first, so a truncated part
    /// releases nothing; each chunk is released only once it authenticates (see
    /// [`part::PlainReader`]).
    pub(super) fn open_part<'c>(
        &self,
        conn: &'c Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<part::PlainReader<PartReader<'c>>> {
        let stored = self.stored_part(conn, row, info)?;
        let key = self.part_key(Self::place(row, info));
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&info.sha256, &mut sha256)
            .map_err(|_| Integrity::Metadata(row.record))?;
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        part::open(
            &key,
            PartReader::new(conn, stored),
            info.size,
            info.padded_size,
            &sha256,
        )
        .map_err(|e| self.part_error(e, row, info, &path))
    }

    /// What an I/O error from a part's reader means.
    pub(super) fn part_error(
        &self,
        e: std::io::Error,
        row: &VersionRow,
        info: &PartInfo,
        path: &Path,
    ) -> Error {
        if e.get_ref().is_some_and(|i| i.is::<part::MismatchError>()) {
            Integrity::PartHash {
                record: row.record,
                part: info.part,
            }
            .into()
        } else if store::is_store_error(&e) {
            from_store_io(e, path)
        } else if e.kind() == std::io::ErrorKind::InvalidData
            || e.kind() == std::io::ErrorKind::UnexpectedEof
        {
            Integrity::Part {
                record: row.record,
                part: info.part,
            }
            .into()
        } else {
            Error::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    }

    /// Decrypts a part into `out` (see [`Session::open_part`]).
    pub(super) fn read_part(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
        out: &mut dyn Write,
    ) -> Result<()> {
        if info.padded_size > PARALLEL_PART {
            return self.read_part_in_parallel(conn, row, info, out);
        }
        let mut reader = self.open_part(conn, row, info)?;
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        let mut buf = Zeroizing::new(vec![0u8; (info.size as usize).clamp(1, 64 * 1024)]);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.part_error(e, row, info, &path)),
            };
            out.write_all(&buf[..n]).map_err(Error::Output)?;
        }
    }

    /// [`Session::read_part`] for a large part: the payload is decrypted on every core and
    /// hashed on a thread of its own, with the same checks (see [`payload`]).
    fn read_part_in_parallel(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
        out: &mut dyn Write,
    ) -> Result<()> {
        let stored = self.stored_part(conn, row, info)?;
        let key = self.part_key(Self::place(row, info));
        let mut expected = payload::Expected {
            size: info.size,
            padded_size: info.padded_size,
            sha256: [0; 32],
        };
        hex::decode_to_slice(&info.sha256, &mut expected.sha256)
            .map_err(|_| Integrity::Metadata(row.record))?;
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        let header = stored.header.clone();
        let mut input = PartReader::payload(conn, stored);
        payload::decrypt(&key, &header, &mut input, &expected, out).map_err(|e| match e {
            payload::ReadFailure::Input(e) => self.part_error(e, row, info, &path),
            payload::ReadFailure::Output(e) => Error::Output(e),
        })
    }
}
