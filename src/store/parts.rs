//! Content parts in the store: an age file's header in one row and its payload in ~1 MiB chunk
//! rows, written and read as streams.

use std::io::{self, BufRead, Read, Write};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Integrity, Result};
use crate::record::RecordId;

use super::CHUNK_SIZE;

/// Replaces a part's age header; its chunks stay (rekey without re-encryption).
pub fn set_part_header(conn: &Connection, part: &StoredPart, header: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE part SET header = ?2 WHERE id = ?1",
        params![part.id, header],
    )?;
    Ok(())
}

/// Moves a part out of its place, still readable through a [`PartReader`] made before, so a
/// re-encrypted copy can be written to the place in the same transaction. Version 0 holds
/// no record, so the part must be deleted with [`delete_part`] before the transaction
/// commits (the foreign key check at commit would refuse it otherwise).
pub fn set_part_aside(conn: &Connection, part: &StoredPart) -> Result<()> {
    conn.execute("UPDATE part SET version = 0 WHERE id = ?1", [part.id])?;
    Ok(())
}

/// Deletes a part and its chunks (pages overwritten, with `secure_delete`).
pub fn delete_part(conn: &Connection, part: &StoredPart) -> Result<()> {
    conn.execute("DELETE FROM chunk WHERE part_id = ?1", [part.id])?;
    conn.execute("DELETE FROM part WHERE id = ?1", [part.id])?;
    Ok(())
}

/// Where one part is stored.
#[derive(Debug, Clone, Copy)]
pub struct PartPlace {
    pub record: RecordId,
    pub version: u32,
    pub part: u32,
}

/// Receives an age file and stores it: the header in the part row, the payload in chunk rows
/// of [`CHUNK_SIZE`]. Used inside a write transaction.
pub struct PartWriter<'c> {
    conn: &'c Connection,
    place: PartPlace,
    part_id: Option<i64>,
    buf: Vec<u8>,
    seq: i64,
    written: u64,
    hasher: crate::crypto::ParallelSha256,
}

impl<'c> PartWriter<'c> {
    pub fn new(conn: &'c Connection, place: PartPlace) -> Self {
        PartWriter {
            conn,
            place,
            part_id: None,
            // Grown as needed: most parts (statements) are a few KiB.
            buf: Vec::new(),
            seq: 0,
            written: 0,
            hasher: crate::crypto::ParallelSha256::new(),
        }
    }

    /// Stores what is left and returns the total stored length (header plus payload) and the
    /// SHA-256 of the stored bytes.
    pub fn finish(mut self) -> Result<(u64, [u8; 32])> {
        if self.part_id.is_none() {
            self.try_split_header(true)?;
        }
        if self.part_id.is_none() {
            // An age file always has a complete header: this is a broken invariant.
            return Err(Error::Integrity(Integrity::PartMissing {
                record: self.place.record,
                part: self.place.part,
            }));
        }
        if !self.buf.is_empty() {
            self.flush_chunk()?;
        }
        Ok((self.written, self.hasher.finish()))
    }

    /// Once the buffer holds the whole age header (it ends with the `---` MAC line) and at
    /// least one byte after it (or `at_end`), stores it in the part row and keeps the rest as
    /// payload.
    ///
    /// The row is written only once bytes after the header arrive: age writes its header
    /// through a formatter that turns any error from this writer into text, while it hands on
    /// errors from later writes as they are. So a refused row (a constraint, a full disk)
    /// reaches the caller as the database error it is.
    fn try_split_header(&mut self, at_end: bool) -> rusqlite::Result<()> {
        let Some(mac_line) = find(&self.buf, b"\n--- ") else {
            return Ok(());
        };
        let Some(end) = self.buf[mac_line + 1..].iter().position(|&b| b == b'\n') else {
            return Ok(());
        };
        let header_len = mac_line + 1 + end + 1;
        if header_len == self.buf.len() && !at_end {
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "INSERT INTO part (record_id, version, part_no, header) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                self.place.record.as_bytes(),
                self.place.version,
                self.place.part,
                &self.buf[..header_len]
            ])?;
        self.part_id = Some(self.conn.last_insert_rowid());
        self.hasher.update(&self.buf[..header_len]);
        self.written += header_len as u64;
        self.buf.drain(..header_len);
        Ok(())
    }

    fn flush_chunk(&mut self) -> rusqlite::Result<()> {
        let part_id = self.part_id.expect("chunks are written after the header");
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO chunk (part_id, seq, data) VALUES (?1, ?2, ?3)")?;
        stmt.execute(params![part_id, self.seq, &self.buf])?;
        self.hasher.update(&self.buf);
        self.written += self.buf.len() as u64;
        self.seq += 1;
        self.buf.clear();
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True when an `io::Error` came from the store rather than from its caller.
pub fn is_store_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<rusqlite::Error>())
}

impl Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.part_id.is_none() {
            self.buf.extend_from_slice(data);
            self.try_split_header(false).map_err(io::Error::other)?;
            if self.part_id.is_none() && self.buf.len() > 64 * 1024 {
                // Our own headers are a few hundred bytes; anything else is a bug.
                return Err(io::Error::other(rusqlite::Error::InvalidQuery));
            }
        } else {
            let mut rest = data;
            while !rest.is_empty() {
                let room = CHUNK_SIZE - self.buf.len();
                let take = room.min(rest.len());
                self.buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.buf.len() == CHUNK_SIZE {
                    self.flush_chunk().map_err(io::Error::other)?;
                }
            }
        }
        if self.part_id.is_some() && self.buf.len() >= CHUNK_SIZE {
            self.flush_chunk().map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stored part: its row id and header.
#[derive(Clone)]
pub struct StoredPart {
    id: i64,
    pub header: Vec<u8>,
    /// The whole payload, when [`load_part`] read it with the header.
    payload: Option<Vec<u8>>,
    /// Number of chunk rows, and the sum of their lengths.
    pub chunks: i64,
    pub payload_len: u64,
    /// Whether the chunk sequence numbers run 0, 1, … without a gap.
    pub contiguous: bool,
}

pub fn stored_part(conn: &Connection, place: &PartPlace) -> Result<Option<StoredPart>> {
    let row = conn
        .prepare_cached(
            "SELECT id, header FROM part WHERE record_id = ?1 AND version = ?2 AND part_no = ?3",
        )?
        .query_row(
            params![place.record.as_bytes(), place.version, place.part],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?;
    let Some((id, header)) = row else {
        return Ok(None);
    };
    // length() of a BLOB reads the size without loading the content.
    let (chunks, payload_len, min_seq, max_seq): (i64, i64, Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(data)), 0), min(seq), max(seq)
             FROM chunk WHERE part_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let contiguous = match (min_seq, max_seq) {
        (Some(0), Some(max)) => max + 1 == chunks,
        (None, None) => chunks == 0,
        _ => false,
    };
    Ok(Some(StoredPart {
        id,
        header,
        payload: None,
        chunks,
        payload_len: payload_len as u64,
        contiguous,
    }))
}

/// [`stored_part`] with the payload read too, in one query: for parts the sealed manifest
/// says are small.
pub fn load_part(conn: &Connection, place: &PartPlace) -> Result<Option<StoredPart>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.header, c.seq, c.data FROM part AS p
         LEFT JOIN chunk AS c ON c.part_id = p.id
         WHERE p.record_id = ?1 AND p.version = ?2 AND p.part_no = ?3
         ORDER BY c.seq",
    )?;
    let mut rows = stmt.query(params![place.record.as_bytes(), place.version, place.part])?;
    let mut part: Option<StoredPart> = None;
    let mut payload = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: Option<i64> = row.get(2)?;
        let stored = match &mut part {
            Some(stored) => stored,
            None => part.insert(StoredPart {
                id: row.get(0)?,
                header: row.get(1)?,
                payload: None,
                chunks: 0,
                payload_len: 0,
                contiguous: true,
            }),
        };
        if let Some(seq) = seq {
            let data = row.get_ref(3)?.as_blob().map_err(|_| Integrity::Corrupt)?;
            stored.contiguous &= seq == stored.chunks;
            stored.chunks += 1;
            stored.payload_len += data.len() as u64;
            payload.extend_from_slice(data);
        }
    }
    Ok(part.map(|p| StoredPart {
        payload: Some(payload),
        ..p
    }))
}

impl StoredPart {
    /// The same part with the header [`set_part_header`] gave it.
    pub fn with_header(self, header: Vec<u8>) -> Self {
        StoredPart { header, ..self }
    }
}

/// Reads a stored part back as one age file: the header, then each chunk in order.
pub struct PartReader<'c> {
    conn: &'c Connection,
    part_id: i64,
    chunks: i64,
    preloaded: Option<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    next_seq: i64,
    /// The chunk row being read straight into the caller's buffer (a payload reader's
    /// [`Read::read`], which so saves a copy of every byte).
    blob: Option<rusqlite::blob::Blob<'c>>,
    direct: bool,
}

impl<'c> PartReader<'c> {
    pub fn new(conn: &'c Connection, part: StoredPart) -> Self {
        PartReader {
            conn,
            part_id: part.id,
            chunks: part.chunks,
            preloaded: part.payload,
            current: part.header,
            pos: 0,
            next_seq: 0,
            blob: None,
            direct: false,
        }
    }

    /// Reads only the payload, after the header (which is `part.header`), each chunk row
    /// straight from SQLite into the buffer given to [`Read::read`].
    pub fn payload(conn: &'c Connection, part: StoredPart) -> Self {
        PartReader {
            current: Vec::new(),
            direct: true,
            ..Self::new(conn, part)
        }
    }

    /// Opens the next chunk row for reading in place, if there is one and it is not loaded.
    fn open_blob(&mut self) -> io::Result<bool> {
        if self.preloaded.is_some() || self.next_seq == self.chunks {
            return Ok(false);
        }
        let rowid: i64 = self
            .conn
            .prepare_cached("SELECT rowid FROM chunk WHERE part_id = ?1 AND seq = ?2")
            .and_then(|mut stmt| stmt.query_row(params![self.part_id, self.next_seq], |r| r.get(0)))
            .map_err(io::Error::other)?;
        self.blob = Some(
            self.conn
                .blob_open(rusqlite::MAIN_DB, "chunk", "data", rowid, true)
                .map_err(io::Error::other)?,
        );
        self.next_seq += 1;
        Ok(true)
    }
}

impl BufRead for PartReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.current.len()
            && let Some(mut blob) = self.blob.take()
        {
            // A row begun by `read`: the rest of it.
            self.current.clear();
            blob.read_to_end(&mut self.current)?;
            self.pos = 0;
        }
        while self.pos == self.current.len() {
            if let Some(payload) = self.preloaded.take() {
                self.current = payload;
                self.pos = 0;
                self.next_seq = self.chunks;
                continue;
            }
            if self.next_seq == self.chunks {
                return Ok(&[]);
            }
            let mut stmt = self
                .conn
                .prepare_cached("SELECT data FROM chunk WHERE part_id = ?1 AND seq = ?2")
                .map_err(io::Error::other)?;
            self.current = stmt
                .query_row(params![self.part_id, self.next_seq], |r| r.get(0))
                .map_err(io::Error::other)?;
            self.pos = 0;
            self.next_seq += 1;
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}

impl Read for PartReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.direct && self.pos == self.current.len() && !out.is_empty() {
            loop {
                if let Some(blob) = &mut self.blob {
                    let n = blob.read(out)?;
                    if n > 0 {
                        return Ok(n);
                    }
                    self.blob = None;
                }
                if !self.open_blob()? {
                    break;
                }
            }
        }
        let available = self.fill_buf()?;
        let n = out.len().min(available.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
