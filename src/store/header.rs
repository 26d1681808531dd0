//! The vault row (header MAC, signing key, anchored flag), keyslots and heads.

use super::*;

// --- header and keyslots -------------------------------------------------------------------

pub fn insert_header(conn: &Connection, vault_id: &[u8; 16], mac: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO vault (singleton, vault_id, header_mac) VALUES (1, ?1, ?2)",
        params![vault_id, mac],
    )?;
    Ok(())
}

pub fn set_header_mac(conn: &Connection, mac: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE vault SET header_mac = ?1 WHERE singleton = 1",
        [mac],
    )?;
    Ok(())
}

/// The vault id and the stored header MAC.
pub fn header(conn: &Connection) -> Result<([u8; 16], Vec<u8>)> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT vault_id, header_mac FROM vault WHERE singleton = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (id, mac) = row.ok_or(Integrity::NotAVault)?;
    let id = <[u8; 16]>::try_from(id.as_slice()).map_err(|_| Integrity::NotAVault)?;
    Ok((id, mac))
}

pub fn insert_keyslot(conn: &Connection, slot: &Keyslot) -> Result<()> {
    conn.execute(
        "INSERT INTO keyslot (slot_id, kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf, salt,
                              wrapped_vmk, label, threshold, shares, operator_public,
                              operator_secret)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            slot.slot_id,
            slot.kind.as_str(),
            slot.kdf.m_kib,
            slot.kdf.t,
            slot.kdf.p,
            slot.weak_kdf,
            slot.salt,
            slot.wrapped,
            slot.label,
            slot.split.map(|s| s.threshold),
            slot.split.map(|s| s.shares),
            slot.operator_key.as_ref().map(|k| k.public),
            slot.operator_key.as_ref().map(|k| k.sealed.clone()),
        ],
    )?;
    Ok(())
}

/// Overwrites every secret-bearing header value with random bytes of the same length.
pub fn scramble_keys(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "UPDATE keyslot SET salt = randomblob(length(salt)),
                            wrapped_vmk = randomblob(length(wrapped_vmk)),
                            label = randomblob(length(label)),
                            operator_secret = CASE WHEN operator_secret IS NULL THEN NULL
                                              ELSE randomblob(length(operator_secret)) END;
         UPDATE vault SET header_mac = randomblob(length(header_mac)),
                          signing_secret = randomblob(coalesce(length(signing_secret), 0));",
    )?;
    Ok(())
}

/// Replaces the whole keyslot table (rekey).
pub fn replace_keyslots(conn: &Connection, slots: &[Keyslot]) -> Result<()> {
    conn.execute("DELETE FROM keyslot", [])?;
    for slot in slots {
        insert_keyslot(conn, slot)?;
    }
    Ok(())
}

/// Gives a keyslot its operator's personal key (at that operator's first unlock of a vault
/// made before format 8).
pub fn set_operator_key(conn: &Connection, slot_id: &[u8; 16], key: &OperatorKey) -> Result<()> {
    conn.execute(
        "UPDATE keyslot SET operator_public = ?2, operator_secret = ?3 WHERE slot_id = ?1",
        params![slot_id, key.public, key.sealed],
    )?;
    Ok(())
}

pub fn delete_keyslot(conn: &Connection, slot_id: &[u8; 16]) -> Result<()> {
    conn.execute("DELETE FROM keyslot WHERE slot_id = ?1", [slot_id])?;
    Ok(())
}

/// Every keyslot, in slot-id order. A row that does not decode is an integrity failure.
pub fn keyslots(conn: &Connection) -> Result<Vec<Keyslot>> {
    let mut stmt = conn.prepare(
        "SELECT slot_id, kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf, salt, wrapped_vmk, label,
                threshold, shares, operator_public, operator_secret
         FROM keyslot ORDER BY slot_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, Vec<u8>>(6)?,
            r.get::<_, Vec<u8>>(7)?,
            r.get::<_, Vec<u8>>(8)?,
            (r.get::<_, Option<u8>>(9)?, r.get::<_, Option<u8>>(10)?),
            (
                r.get::<_, Option<Vec<u8>>>(11)?,
                r.get::<_, Option<Vec<u8>>>(12)?,
            ),
        ))
    })?;
    let mut slots = Vec::new();
    for row in rows {
        let (id, kind, m, t, p, weak, salt, wrapped, label, split, operator) = row?;
        let int = |v: i64| u32::try_from(v).map_err(|_| Integrity::KdfOutOfBounds);
        slots.push(Keyslot {
            slot_id: id.as_slice().try_into().map_err(|_| Integrity::NotAVault)?,
            kind: SlotKind::parse(&kind).ok_or(Integrity::NotAVault)?,
            kdf: KdfParams {
                m_kib: int(m)?,
                t: int(t)?,
                p: int(p)?,
            },
            weak_kdf: weak,
            salt,
            wrapped,
            label,
            split: match split {
                (Some(threshold), Some(shares)) => Some(Split { threshold, shares }),
                (None, None) => None,
                _ => return Err(Integrity::NotAVault.into()),
            },
            operator_key: match operator {
                (Some(public), Some(sealed)) => Some(OperatorKey {
                    public: public
                        .as_slice()
                        .try_into()
                        .map_err(|_| Integrity::HeaderMac)?,
                    sealed,
                }),
                (None, None) => None,
                _ => return Err(Integrity::HeaderMac.into()),
            },
        });
    }
    Ok(slots)
}

/// The signing key columns: the public key and the sealed secret, when set.
pub struct SigningColumns {
    pub public: Option<Vec<u8>>,
    pub sealed_secret: Option<Vec<u8>>,
}

pub fn signing_key(conn: &Connection) -> Result<SigningColumns> {
    Ok(conn.query_row(
        "SELECT signing_public, signing_secret FROM vault WHERE singleton = 1",
        [],
        |r| {
            Ok(SigningColumns {
                public: r.get(0)?,
                sealed_secret: r.get(1)?,
            })
        },
    )?)
}

pub fn set_signing_key(conn: &Connection, public: &[u8], sealed_secret: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE vault SET signing_public = ?1, signing_secret = ?2 WHERE singleton = 1",
        params![public, sealed_secret],
    )?;
    Ok(())
}

/// The signing key's rotations, as stored (see `audit::Rotation`).
pub fn signing_rotations(conn: &Connection) -> Result<Vec<u8>> {
    Ok(conn.query_row(
        "SELECT signing_rotations FROM vault WHERE singleton = 1",
        [],
        |r| r.get(0),
    )?)
}

pub fn set_signing_rotations(conn: &Connection, rotations: &[u8]) -> Result<()> {
    conn.execute(
        "UPDATE vault SET signing_rotations = ?1 WHERE singleton = 1",
        params![rotations],
    )?;
    Ok(())
}

/// Whether an anchor was ever written for this vault.
pub fn anchored(conn: &Connection) -> Result<bool> {
    Ok(
        conn.query_row("SELECT anchored FROM vault WHERE singleton = 1", [], |r| {
            r.get::<_, i64>(0)
        })? == 1,
    )
}

pub fn set_anchored(conn: &Connection) -> Result<()> {
    conn.execute("UPDATE vault SET anchored = 1 WHERE singleton = 1", [])?;
    Ok(())
}

/// How many operators must sign an export: `None` for one (no rule).
pub fn export_approvals(conn: &Connection) -> Result<Option<u8>> {
    Ok(conn.query_row(
        "SELECT export_approvals FROM vault WHERE singleton = 1",
        [],
        |r| r.get(0),
    )?)
}

pub fn set_export_approvals(conn: &Connection, approvals: Option<u8>) -> Result<()> {
    conn.execute(
        "UPDATE vault SET export_approvals = ?1 WHERE singleton = 1",
        [approvals],
    )?;
    Ok(())
}

// --- heads ---------------------------------------------------------------------------------

/// Every stored head bucket, in bucket order.
pub fn heads(conn: &Connection) -> Result<Vec<(u8, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached("SELECT bucket, sealed FROM head ORDER BY bucket")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u8>(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One head bucket, if stored.
pub fn head(conn: &Connection, bucket: u8) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT sealed FROM head WHERE bucket = ?1")?
        .query_row(params![bucket], |r| r.get(0))
        .optional()?)
}

pub fn set_head(conn: &Connection, bucket: u8, sealed: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO head (bucket, sealed) VALUES (?1, ?2)
         ON CONFLICT (bucket) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(params![bucket, sealed])?;
    Ok(())
}

/// Deletes every head (rekey seals them anew; an upgrade rebuilds them from the log).
pub fn clear_heads(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM head", [])?;
    Ok(())
}
