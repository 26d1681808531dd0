//! The SQLite file: the only module with SQL.
//!
//! It sees ciphertext and opaque ids, never keys or plaintext. Every connection sets and reads
//! back the pragmas that keep deleted and temporary data off the disk, refuses files that are
//! not tvault vaults, applies migrations under `user_version`, and compares the schema with the
//! one its migrations build, so a hostile file cannot smuggle in triggers or views.
//!
//! Journal mode: a rollback journal rather than WAL. Measured on a 2-core machine it wrote
//! 1 GiB of 1 MiB blobs in 5.5 s against WAL's 13.7 s, and it leaves no `-wal` file holding
//! pages of deleted records.
//!
//! The journal holds a copy of every page a transaction changes: after a shred, the wrapped
//! file keys and chunks of the record; after a passphrase change, rekey or destroy, the old
//! keyslots. SQLite's `DELETE` mode unlinks it at commit and `TRUNCATE` truncates it, which
//! leaves those bytes in the disk's free blocks; a `journal_size_limit` truncates the same way;
//! `MEMORY` and `OFF` give up crash safety. So the journal is `PERSIST` (SQLite commits by
//! zeroing its header and leaves the file), `journal_size_limit` stays -1, and every
//! committed or rolled-back write transaction ends with [`clear_journal`]: under the write
//! lock, the whole journal is overwritten with zeros and synced, then SQLite deletes it. While a
//! transaction runs, the journal is SQLite's, untouched: a crash still rolls back. A crash
//! between the commit and the clearing leaves the old pages in the journal until the next
//! command opens the vault ([`Store::open`] clears it).

use std::io::{self, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::crypto::{KdfParams, Keyslot, OperatorKey, SlotKind, Split};
use crate::error::{Error, Integrity, IoResultExt, Result};
use crate::record::{RecordId, RecordIdPrefix};

mod header;
mod kit;
mod log;
mod memo;
mod parts;
mod timestamps;

pub use header::*;
pub use kit::*;
pub use log::*;
pub use memo::*;
pub use parts::*;
pub use timestamps::*;

/// `PRAGMA application_id`: "tvlt".
const APPLICATION_ID: i64 = 0x7476_6c74;

/// Migrations, in order; the format version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_custody.sql"),
    include_str!("../migrations/0003_tombstones.sql"),
    include_str!("../migrations/0004_digest.sql"),
    include_str!("../migrations/0005_heads.sql"),
    include_str!("../migrations/0006_kits.sql"),
    include_str!("../migrations/0007_custodians.sql"),
    include_str!("../migrations/0008_operator_keys.sql"),
    include_str!("../migrations/0009_export_policy.sql"),
    include_str!("../migrations/0010_timestamps.sql"),
    include_str!("../migrations/0011_record_tally.sql"),
    include_str!("../migrations/0012_digest_fronts.sql"),
    include_str!("../migrations/0013_import_memo.sql"),
];

/// The vault format this build writes and the newest it reads.
pub const FORMAT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The page size of new vault files. Measured on a 2-core machine with 100,000 records of
/// 2 KiB statements: against SQLite's default of 4 KiB, 16 KiB pages built the vault in 16 s
/// instead of 26 s, into a 38 % smaller file (rows of 2 KiB no longer take a page each), and
/// halved `list`; 64 KiB pages were slower to read. Older files keep their page size.
const PAGE_SIZE: i64 = 16 * 1024;

/// Size of one payload chunk row.
pub const CHUNK_SIZE: usize = 1 << 20;

/// How long a command waits for another tvault process to release the vault.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A write transaction. Ending it, by [`WriteTx::commit`] or by dropping it (a rollback),
/// clears the rollback journal ([`clear_journal`]).
pub struct WriteTx<'a> {
    tx: Option<Transaction<'a>>,
    conn: &'a Connection,
}

impl Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl WriteTx<'_> {
    /// Commits, then overwrites and removes the journal that held the pages replaced.
    pub fn commit(mut self) -> Result<()> {
        self.tx
            .take()
            .expect("a transaction is committed once")
            .commit()?;
        clear_journal(self.conn, true)
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            drop(tx);
            // Rolled back: the journal holds what the file holds again. Cleared all the same,
            // best effort (the next open clears what is left).
            let _ = clear_journal(self.conn, false);
        }
    }
}

/// A record version's sealed columns.
pub struct VersionRow {
    pub record: RecordId,
    pub version: u32,
    pub meta: Vec<u8>,
    pub identity: Vec<u8>,
}

impl Store {
    /// Creates a new vault file (0600, refusing an existing path): the schema and whatever
    /// `fill` writes, in one transaction. On any failure the new file is removed, so a vault
    /// either exists complete or not at all.
    pub fn create(path: &Path, fill: impl FnOnce(&Connection) -> Result<()>) -> Result<Self> {
        crate::fs::create_new_private(path)?;
        let created = (|| {
            let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            let mut store = Store {
                conn,
                path: path.to_owned(),
            };
            store.conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            store.configure()?;
            let tx = store.write()?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            apply_migrations(&tx, 0)?;
            fill(&tx)?;
            tx.commit()?;
            store.check_schema()?;
            Ok(store)
        })();
        if created.is_err() {
            // Best effort: the file holds no secret, at most an empty schema.
            let _ = crate::fs::remove_if_exists(path);
        }
        created
    }

    /// Opens an existing vault file.
    pub fn open(path: &Path) -> Result<Self> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(Integrity::NotAVault.into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NoVault {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(e).at(path),
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.configure()?;
        let app_id: i64 = store
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(not_a_vault)?;
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(not_a_vault)?;
        if app_id != APPLICATION_ID || version < 1 {
            return Err(Integrity::NotAVault.into());
        }
        if version > FORMAT_VERSION {
            return Err(Error::UnsupportedFormat {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        store.check_schema_version(version)?;
        if version < FORMAT_VERSION {
            store.migrate(version)?;
        }
        // What a crash between a commit and its clearing left. Best effort, without waiting:
        // a busy vault has a writer that clears the journal when it is done, and a read-only
        // one can be read all the same.
        let _ = clear_journal(&store.conn, false);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<()> {
        let conn = &self.conn;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        // See the module doc for the journal: PERSIST, cleared after each transaction, and
        // never truncated by SQLite (a size limit would free its old pages unwritten).
        let wanted: [(&'static str, &str, &str); 7] = [
            ("trusted_schema", "OFF", "0"),
            ("secure_delete", "ON", "1"),
            ("temp_store", "MEMORY", "2"),
            ("foreign_keys", "ON", "1"),
            ("synchronous", "FULL", "2"),
            ("journal_size_limit", "-1", "-1"),
            ("journal_mode", "PERSIST", "persist"),
        ];
        for (name, value, readback) in wanted {
            let got: String = conn
                .pragma_update_and_check(None, name, value, |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .or_else(|_| conn.pragma_query_value(None, name, |r| r.get(0)))
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t.to_ascii_lowercase(),
                    _ => String::new(),
                })
                .map_err(not_a_vault)?;
            if got != readback {
                return Err(Integrity::Pragma(name).into());
            }
        }
        Ok(())
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        let tx = self.write()?;
        apply_migrations(&tx, from)?;
        tx.commit()
    }

    /// The schema must be exactly what the migrations build: no extra table, index, trigger
    /// or view, and no altered definition.
    fn check_schema(&self) -> Result<()> {
        self.check_schema_version(FORMAT_VERSION)
    }

    fn check_schema_version(&self, version: i64) -> Result<()> {
        let expected = expected_schema(version as usize)?;
        let actual = read_schema(&self.conn).map_err(not_a_vault)?;
        if let Some(extra) = actual.iter().find(|o| !expected.contains(o)) {
            return Err(Integrity::UnexpectedSchema(extra.1.clone()).into());
        }
        if let Some(missing) = expected.iter().find(|o| !actual.contains(o)) {
            return Err(Integrity::UnexpectedSchema(missing.1.clone()).into());
        }
        Ok(())
    }

    /// Starts a write transaction, taking the write lock now so a busy vault is reported
    /// before any work is done. Its end clears the rollback journal (see [`WriteTx`]).
    pub fn write(&mut self) -> Result<WriteTx<'_>> {
        // Every write goes through a journal tvault clears: never one SQLite deletes as it is.
        let mode: String = self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("persist") {
            return Err(Integrity::Pragma("journal_mode").into());
        }
        // `&mut self` keeps the connection to this one transaction; the unchecked constructor
        // only lets [`WriteTx`] keep a shared reference for the clearing after the commit.
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        Ok(WriteTx {
            tx: Some(tx),
            conn: &self.conn,
        })
    }

    /// Where SQLite keeps this vault's rollback journal (beside the file its name resolves
    /// to), if it is a file.
    pub fn journal_path(&self) -> Option<PathBuf> {
        journal_path(&self.conn)
    }

    /// Starts a read transaction: one consistent view across several queries.
    pub fn read(&self) -> Result<Transaction<'_>> {
        Ok(self.conn.unchecked_transaction()?)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The file's size on disk.
    pub fn file_size(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path).at(&self.path)?.len())
    }
}

fn journal_path(conn: &Connection) -> Option<PathBuf> {
    let db = conn.path().filter(|p| !p.is_empty())?;
    Some(PathBuf::from(format!("{db}-journal")))
}

/// Overwrites the rollback journal with zeros and has SQLite delete it, once no transaction
/// needs it (see the module doc). `wait`: wait for another connection's write lock (up to the
/// busy timeout) rather than leave the clearing to it.
///
/// Under the write lock (`BEGIN IMMEDIATE`) no other connection starts a journal, and SQLite
/// has rolled back a hot journal before granting it, so the journal is a committed one (its
/// header zeroed: checked, and left alone otherwise). Its whole length is overwritten with
/// zeros and synced before it goes: a file removed with unwritten data in the page cache keeps
/// its old blocks. Switching this connection to `DELETE` mode makes SQLite close its own handle
/// on the journal and delete it under that lock; the mode is then set back.
fn clear_journal(conn: &Connection, wait: bool) -> Result<()> {
    let Some(journal) = journal_path(conn) else {
        return Ok(());
    };
    // Nothing to do, without taking a lock: no journal, or an empty one (SQLite reads an empty
    // journal as none and writes its next one into that file).
    match std::fs::symlink_metadata(&journal) {
        Ok(meta) if meta.len() > 0 => {}
        _ => return Ok(()),
    }
    let failed = |source: io::Error| Error::JournalNotCleared {
        path: journal.clone(),
        source,
    };
    if !wait {
        conn.busy_timeout(Duration::ZERO)?;
    }
    let cleared = (|| -> Result<()> {
        let tx = match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            // Another writer holds the lock: its own transaction ends by clearing the journal,
            // this one's old pages included.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                return Ok(());
            }
            other => other?,
        };
        // The journal header starts with an 8-byte magic number; a committed journal has
        // zeros there.
        let mut head = Vec::with_capacity(8);
        match std::fs::File::open(&journal) {
            Ok(f) => f.take(8).read_to_end(&mut head).map_err(failed)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        if head.iter().any(|&b| b != 0) {
            // Not a committed journal: never touch one SQLite may still need.
            return Ok(());
        }
        crate::fs::overwrite_with_zeros(&journal).map_err(failed)?;
        for (mode, readback) in [("DELETE", "delete"), ("PERSIST", "persist")] {
            let got: String =
                conn.pragma_update_and_check(None, "journal_mode", mode, |r| r.get(0))?;
            if !got.eq_ignore_ascii_case(readback) {
                return Err(Integrity::Pragma("journal_mode").into());
            }
        }
        tx.rollback()?;
        Ok(())
    })();
    if !wait {
        conn.busy_timeout(BUSY_TIMEOUT)?;
    }
    cleared
}

fn apply_migrations(conn: &Connection, from: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}

fn not_a_vault(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => Integrity::NotAVault.into(),
        _ => e.into(),
    }
}

type SchemaObject = (String, String, String, Option<String>);

fn read_schema(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect()
}

/// The schema each format version's migrations build, made once in memory.
fn expected_schema(version: usize) -> Result<&'static Vec<SchemaObject>> {
    static SCHEMAS: OnceLock<Vec<Vec<SchemaObject>>> = OnceLock::new();
    if let Some(all) = SCHEMAS.get() {
        return Ok(&all[version - 1]);
    }
    let mut all = Vec::new();
    let conn = Connection::open_in_memory()?;
    for sql in MIGRATIONS {
        conn.execute_batch(sql)?;
        all.push(read_schema(&conn)?);
    }
    Ok(&SCHEMAS.get_or_init(|| all)[version - 1])
}

// --- records -------------------------------------------------------------------------------

/// How many records the vault holds, counted from the rows (a full scan of their index).
pub fn record_count(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT count(DISTINCT record_id) FROM record_version",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// How many records the vault holds, as its tally says: kept by triggers as rows are added
/// and removed (migration 0011), read at once, and as plaintext as the rows it counts. Only
/// for showing; [`record_count`] is the rows' own word.
pub fn record_tally(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT records FROM vault WHERE singleton = 1", [], |r| {
        r.get(0)
    })?;
    Ok(n.max(0) as u64)
}

/// Whether the vault holds any record, without counting them.
pub fn has_records(conn: &Connection) -> Result<bool> {
    Ok(
        conn.query_row("SELECT EXISTS (SELECT 1 FROM record_version)", [], |r| {
            r.get(0)
        })?,
    )
}

/// Up to `limit` record ids starting with `prefix`.
pub fn find_records(
    conn: &Connection,
    prefix: &RecordIdPrefix,
    limit: u32,
) -> Result<Vec<RecordId>> {
    let (low, high) = prefix.range();
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT record_id FROM record_version
         WHERE record_id BETWEEN ?1 AND ?2 ORDER BY record_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![low, high, limit], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for id in rows {
        out.push(record_id(id?)?);
    }
    Ok(out)
}

fn record_id(bytes: Vec<u8>) -> Result<RecordId> {
    Ok(RecordId(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| Integrity::Corrupt)?,
    ))
}

/// [`record_id`] of a column read in place.
fn record_id_ref(value: rusqlite::types::ValueRef<'_>) -> Result<RecordId> {
    Ok(RecordId(
        value
            .as_blob()
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Integrity::Corrupt)?,
    ))
}

/// A `record_version` row as SQLite returns it: id, version, meta, identity.
type RawVersion = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_version_row(raw: RawVersion) -> Result<VersionRow> {
    let (id, version, meta, identity) = raw;
    Ok(VersionRow {
        record: record_id(id)?,
        version: u32::try_from(version).map_err(|_| Integrity::Corrupt)?,
        meta,
        identity,
    })
}

/// The latest version of every record, in record-id order.
pub fn current_versions(conn: &Connection) -> Result<Vec<VersionRow>> {
    // The table in its stored order, keeping each record's newest row: several times faster
    // than SQLite's `GROUP BY` with `max(version)`, which reads the rows through the index and
    // copies each one's sealed columns.
    let mut stmt = conn.prepare("SELECT record_id, version, meta, identity FROM record_version")?;
    let mut rows = stmt.query([])?;
    let mut newest: std::collections::HashMap<RecordId, VersionRow> =
        std::collections::HashMap::new();
    while let Some(row) = rows.next()? {
        let id = record_id_ref(row.get_ref(0)?)?;
        let version = u32::try_from(row.get::<_, i64>(1)?).map_err(|_| Integrity::Corrupt)?;
        if newest.get(&id).is_some_and(|held| held.version > version) {
            continue;
        }
        newest.insert(id, to_version_row(version_row(row)?)?);
    }
    let mut out: Vec<VersionRow> = newest.into_values().collect();
    out.sort_unstable_by_key(|r| r.record);
    Ok(out)
}

/// The latest version of one record.
pub fn current_version(conn: &Connection, id: &RecordId) -> Result<Option<VersionRow>> {
    let raw = conn
        .prepare_cached(
            "SELECT record_id, version, meta, identity FROM record_version
             WHERE record_id = ?1 ORDER BY version DESC LIMIT 1",
        )?
        .query_row([id.as_bytes()], version_row)
        .optional()?;
    raw.map(to_version_row).transpose()
}

/// Whether this vault holds one version of one record.
pub fn has_version(conn: &Connection, id: &RecordId, version: u32) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM record_version WHERE record_id = ?1 AND version = ?2)",
        )?
        .query_row(params![id.as_bytes(), version], |r| r.get(0))?)
}

/// One version of one record.
pub fn version(conn: &Connection, id: &RecordId, version: u32) -> Result<Option<VersionRow>> {
    let raw = conn
        .prepare_cached(
            "SELECT record_id, version, meta, identity FROM record_version
             WHERE record_id = ?1 AND version = ?2",
        )?
        .query_row(params![id.as_bytes(), version], version_row)
        .optional()?;
    raw.map(to_version_row).transpose()
}

/// Every version of one record, oldest first; with `None`, every version of every record.
pub fn versions(conn: &Connection, id: Option<&RecordId>) -> Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare(
        "SELECT record_id, version, meta, identity FROM record_version
         WHERE ?1 IS NULL OR record_id = ?1 ORDER BY record_id, version",
    )?;
    let rows = stmt.query_map([id.map(|i| i.as_bytes().to_vec())], version_row)?;
    rows.map(|r| to_version_row(r?)).collect()
}

/// Deletes every version of a record and all its stored parts. With `secure_delete` on, the
/// freed pages are overwritten.
pub fn delete_record(conn: &Connection, id: &RecordId) -> Result<()> {
    conn.execute(
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1)",
        [id.as_bytes()],
    )?;
    conn.execute("DELETE FROM part WHERE record_id = ?1", [id.as_bytes()])?;
    conn.execute(
        "DELETE FROM record_version WHERE record_id = ?1",
        [id.as_bytes()],
    )?;
    Ok(())
}

pub fn insert_tombstone(conn: &Connection, id: &RecordId, sealed: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO tombstone (record_id, sealed) VALUES (?1, ?2)",
        params![id.as_bytes(), sealed],
    )?;
    Ok(())
}

pub fn set_tombstone(conn: &Connection, id: &RecordId, sealed: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE tombstone SET sealed = ?2 WHERE record_id = ?1",
        params![id.as_bytes(), sealed],
    )?;
    Ok(())
}

/// Every tombstone: record id and sealed content.
pub fn tombstones(conn: &Connection) -> Result<Vec<(RecordId, Vec<u8>)>> {
    let mut stmt = conn.prepare("SELECT record_id, sealed FROM tombstone ORDER BY record_id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sealed) = row?;
        out.push((record_id(id)?, sealed));
    }
    Ok(out)
}

pub fn insert_version(conn: &Connection, row: &VersionRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO record_version (record_id, version, meta, identity) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        row.record.as_bytes(),
        row.version,
        row.meta,
        row.identity
    ])?;
    Ok(())
}

/// Inserts many versions, up to [`VERSIONS_PER_STATEMENT`] in each statement (an import):
/// SQLite then opens one statement journal for each run of rows, not one for each row.
pub fn insert_versions(conn: &Connection, rows: &[VersionRow]) -> Result<()> {
    for run in rows.chunks(VERSIONS_PER_STATEMENT) {
        let values = vec!["(?, ?, ?, ?)"; run.len()].join(", ");
        let mut statement = conn.prepare_cached(&format!(
            "INSERT INTO record_version (record_id, version, meta, identity) VALUES {values}"
        ))?;
        let params: Vec<&dyn rusqlite::ToSql> = run
            .iter()
            .flat_map(|row| {
                [
                    &row.record.0 as &dyn rusqlite::ToSql,
                    &row.version,
                    &row.meta,
                    &row.identity,
                ]
            })
            .collect();
        statement.execute(params.as_slice())?;
    }
    Ok(())
}

/// Rows in each statement of [`insert_versions`]; three in debug builds (the tests), so
/// that an import of a few records crosses statements.
const VERSIONS_PER_STATEMENT: usize = if cfg!(debug_assertions) { 3 } else { 64 };

/// Replaces a version's sealed columns (rekey).
pub fn update_version(conn: &Connection, row: &VersionRow) -> Result<()> {
    conn.execute(
        "UPDATE record_version SET meta = ?3, identity = ?4 WHERE record_id = ?1 AND version = ?2",
        params![row.record.as_bytes(), row.version, row.meta, row.identity],
    )?;
    Ok(())
}

// --- listing digest ------------------------------------------------------------------------

/// The current version of every record in a digest bucket (ids whose first byte is
/// `bucket`), in id order, read from the index alone.
pub fn bucket_versions(conn: &Connection, bucket: u8) -> Result<Vec<(RecordId, u32)>> {
    let mut low = [0u8; 16];
    low[0] = bucket;
    let mut high = [0xffu8; 16];
    high[0] = bucket;
    // Every row in the primary key's order, the newest version of each record last: several
    // times faster than SQLite's `GROUP BY` with `max(version)`.
    let mut stmt = conn.prepare_cached(
        "SELECT record_id, version FROM record_version
         WHERE record_id BETWEEN ?1 AND ?2 ORDER BY record_id, version",
    )?;
    let mut rows = stmt.query(params![&low[..], &high[..]])?;
    let mut out: Vec<(RecordId, u32)> = Vec::new();
    while let Some(row) = rows.next()? {
        let id = record_id_ref(row.get_ref(0)?)?;
        let version = u32::try_from(row.get::<_, i64>(1)?).map_err(|_| Integrity::Corrupt)?;
        match out.last_mut() {
            Some((last, newest)) if *last == id => *newest = version,
            _ => out.push((id, version)),
        }
    }
    Ok(out)
}

/// `PRAGMA data_version`: changes whenever another connection commits a write to the file.
pub fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "data_version", |r| r.get(0))?)
}

/// A digest blob (`kind` 0 summaries, 1 texts, 2 front), if stored.
pub fn digest(conn: &Connection, bucket: u8, kind: u8) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT sealed FROM digest WHERE bucket = ?1 AND kind = ?2")?
        .query_row(params![bucket, kind], |r| r.get(0))
        .optional()?)
}

/// Where a digest blob is stored (its rowid) and its length, if stored: for
/// [`read_digest`], which reads it into a buffer the caller reuses.
pub fn digest_place(conn: &Connection, bucket: u8, kind: u8) -> Result<Option<(i64, usize)>> {
    let place = conn
        .prepare_cached("SELECT rowid, length(sealed) FROM digest WHERE bucket = ?1 AND kind = ?2")?
        .query_row(params![bucket, kind], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    match place {
        None => Ok(None),
        Some((rowid, len)) => Ok(Some((
            rowid,
            usize::try_from(len).map_err(|_| Integrity::Corrupt)?,
        ))),
    }
}

/// Reads the digest blob at `rowid` ([`digest_place`]) into `buf`, which is its length:
/// straight from SQLite's pages, without a copy of its own.
pub fn read_digest(conn: &Connection, rowid: i64, buf: &mut [u8]) -> Result<()> {
    conn.blob_open(rusqlite::MAIN_DB, "digest", "sealed", rowid, true)?
        .read_at_exact(buf, 0)?;
    Ok(())
}

/// Stores a digest blob, or deletes it with `None`.
pub fn set_digest(conn: &Connection, bucket: u8, kind: u8, sealed: Option<&[u8]>) -> Result<()> {
    match sealed {
        Some(sealed) => conn
            .prepare_cached(
                "INSERT INTO digest (bucket, kind, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bucket, kind) DO UPDATE SET sealed = excluded.sealed",
            )?
            .execute(params![bucket, kind, sealed])?,
        None => conn
            .prepare_cached("DELETE FROM digest WHERE bucket = ?1 AND kind = ?2")?
            .execute(params![bucket, kind])?,
    };
    Ok(())
}

/// Deletes the whole digest (its key changed: rekey). Readers rebuild it.
pub fn clear_digest(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM digest", [])?;
    Ok(())
}
