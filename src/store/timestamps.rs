//! Timestamp requests and tokens: opaque ids and sealed blobs.

use super::*;

/// Which table: pending requests or stored tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampTable {
    Request,
    Token,
}

impl TimestampTable {
    fn name(self) -> &'static str {
        match self {
            TimestampTable::Request => "timestamp_request",
            TimestampTable::Token => "timestamp_token",
        }
    }
}

pub fn insert_timestamp(
    conn: &Connection,
    table: TimestampTable,
    id: &[u8; 16],
    sealed: &[u8],
) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO {} (id, sealed) VALUES (?1, ?2)", table.name()),
        params![id, sealed],
    )?;
    Ok(())
}

/// Replaces a row's sealed content (rekey).
pub fn set_timestamp(
    conn: &Connection,
    table: TimestampTable,
    id: &[u8; 16],
    sealed: &[u8],
) -> Result<()> {
    conn.execute(
        &format!("UPDATE {} SET sealed = ?2 WHERE id = ?1", table.name()),
        params![id, sealed],
    )?;
    Ok(())
}

pub fn delete_timestamp(conn: &Connection, table: TimestampTable, id: &[u8; 16]) -> Result<()> {
    conn.execute(
        &format!("DELETE FROM {} WHERE id = ?1", table.name()),
        params![id],
    )?;
    Ok(())
}

/// Every row of the table, by id. A row whose id is not 16 bytes cannot exist (CHECK).
pub fn timestamps(conn: &Connection, table: TimestampTable) -> Result<Vec<([u8; 16], Vec<u8>)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, sealed FROM {} ORDER BY id",
        table.name()
    ))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sealed) = row?;
        let id = id
            .try_into()
            .map_err(|_| Integrity::Log("a timestamp row has a damaged id".into()))?;
        out.push((id, sealed));
    }
    Ok(out)
}
