//! Field kits: the kit column of a kit's vault row, and headquarters' rows of the kits it
//! made. Both hold only sealed bytes.

use super::*;

/// A field kit's sealed description of headquarters; `None` in a vault.
pub fn kit_column(conn: &Connection) -> Result<Option<Vec<u8>>> {
    Ok(
        conn.query_row("SELECT kit FROM vault WHERE singleton = 1", [], |r| {
            r.get(0)
        })?,
    )
}

pub fn set_kit_column(conn: &Connection, sealed: &[u8]) -> Result<()> {
    conn.execute("UPDATE vault SET kit = ?1 WHERE singleton = 1", [sealed])?;
    Ok(())
}

/// Every field kit row at headquarters, in kit-id order.
pub fn field_kits(conn: &Connection) -> Result<Vec<([u8; 16], Vec<u8>)>> {
    let mut stmt = conn.prepare_cached("SELECT kit_id, sealed FROM field_kit ORDER BY kit_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sealed) = row?;
        let id = <[u8; 16]>::try_from(id.as_slice()).map_err(|_| Integrity::NotAVault)?;
        out.push((id, sealed));
    }
    Ok(out)
}

/// Adds or replaces one field kit row.
pub fn set_field_kit(conn: &Connection, kit_id: &[u8; 16], sealed: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO field_kit (kit_id, sealed) VALUES (?1, ?2)
         ON CONFLICT (kit_id) DO UPDATE SET sealed = excluded.sealed",
        params![kit_id, sealed],
    )?;
    Ok(())
}

/// The stored bytes (headers and chunks) of each part of one version, by part number.
pub fn stored_lengths(conn: &Connection, id: &RecordId, version: u32) -> Result<Vec<(u32, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.part_no, length(p.header) + COALESCE(
             (SELECT sum(length(c.data)) FROM chunk c WHERE c.part_id = p.id), 0)
         FROM part p WHERE p.record_id = ?1 AND p.version = ?2 ORDER BY p.part_no",
    )?;
    let rows = stmt.query_map(params![id.as_bytes(), version], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (part, len) = row?;
        out.push((part, len as u64));
    }
    Ok(out)
}

/// Deletes the whole custody log and its checkpoint: a field kit starting a new log once
/// headquarters holds everything the old one recorded (`kit confirm`).
pub fn clear_log(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM event", [])?;
    conn.execute("DELETE FROM checkpoint", [])?;
    Ok(())
}

/// Deletes every tombstone (a field kit starting a new log).
pub fn clear_tombstones(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM tombstone", [])?;
    Ok(())
}
