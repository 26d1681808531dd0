//! The custody log: events, leaf hashes and the checkpoint.

use super::*;

// --- custody log ---------------------------------------------------------------------------

/// The stored checkpoint: tree size, frontier bytes and signed note.
pub struct StoredCheckpoint {
    pub size: u64,
    pub frontier: Vec<u8>,
    pub note: String,
}

pub fn checkpoint(conn: &Connection) -> Result<Option<StoredCheckpoint>> {
    let row = conn
        .query_row(
            "SELECT tree_size, frontier, note FROM checkpoint WHERE singleton = 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(row.map(|(size, frontier, note)| StoredCheckpoint {
        size: size as u64,
        frontier,
        note,
    }))
}

pub fn set_checkpoint(conn: &Connection, cp: &StoredCheckpoint) -> Result<()> {
    conn.execute(
        "INSERT INTO checkpoint (singleton, tree_size, frontier, note) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (singleton) DO UPDATE
         SET tree_size = excluded.tree_size, frontier = excluded.frontier, note = excluded.note",
        params![cp.size as i64, cp.frontier, cp.note],
    )?;
    Ok(())
}

/// The number of events: one more than the highest sequence number.
pub fn event_count(conn: &Connection) -> Result<u64> {
    let next: i64 = conn.query_row("SELECT coalesce(max(seq) + 1, 0) FROM event", [], |r| {
        r.get(0)
    })?;
    Ok(next as u64)
}

pub fn insert_event(
    conn: &Connection,
    seq: u64,
    leaf_hash: &[u8; 32],
    sealed: &[u8],
) -> Result<()> {
    conn.prepare_cached("INSERT INTO event (seq, leaf_hash, sealed) VALUES (?1, ?2, ?3)")?
        .execute(params![seq as i64, leaf_hash, sealed])?;
    Ok(())
}

/// Replaces an event's sealed content (rekey); its leaf hash stays.
pub fn set_event_sealed(conn: &Connection, seq: u64, sealed: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE event SET sealed = ?2 WHERE seq = ?1",
        params![seq as i64, sealed],
    )?;
    Ok(())
}

/// One stored event: its sequence number, leaf hash and sealed content.
pub struct EventRow {
    pub seq: u64,
    pub leaf_hash: Vec<u8>,
    pub sealed: Vec<u8>,
}

/// Every event row in sequence order.
pub fn events(conn: &Connection) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare("SELECT seq, leaf_hash, sealed FROM event ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok(EventRow {
            seq: r.get::<_, i64>(0)? as u64,
            leaf_hash: r.get(1)?,
            sealed: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The leaf hashes of the first `limit` events, in order. A row whose hash is not 32 bytes,
/// or a gap in the sequence, is an integrity failure.
pub fn leaf_hashes(conn: &Connection, limit: u64) -> Result<Vec<[u8; 32]>> {
    let mut stmt = conn.prepare("SELECT seq, leaf_hash FROM event WHERE seq < ?1 ORDER BY seq")?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, hash) = row?;
        if seq as usize != out.len() {
            return Err(Integrity::Log(format!("event {} is missing", out.len())).into());
        }
        out.push(
            hash.try_into()
                .map_err(|_| Integrity::Log(format!("event {seq} has a damaged hash")))?,
        );
    }
    Ok(out)
}

/// `PRAGMA integrity_check`: `None` when SQLite finds the file sound.
pub fn integrity_check(conn: &Connection) -> Result<Option<String>> {
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    Ok((result != "ok").then_some(result))
}
