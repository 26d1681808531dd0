//! Import memos: a vault-keyed tag and a sealed blob each (see `vault::import_memo`).

use super::*;

/// The sealed memo stored under `tag`, if any.
pub fn import_memo(conn: &Connection, tag: &[u8; 32]) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT sealed FROM import_memo WHERE tag = ?1",
            params![tag],
            |r| r.get(0),
        )
        .optional()?)
}

/// Stores a memo under `tag`, replacing any stored there.
pub fn set_import_memo(conn: &Connection, tag: &[u8; 32], sealed: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO import_memo (tag, sealed) VALUES (?1, ?2)
         ON CONFLICT (tag) DO UPDATE SET sealed = excluded.sealed",
        params![tag, sealed],
    )?;
    Ok(())
}

/// Deletes every memo (`shred`, `rekey`). Later imports verify in full and write them again.
pub fn clear_import_memos(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM import_memo", [])?;
    Ok(())
}
