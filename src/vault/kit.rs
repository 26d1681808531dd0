//! Field kits at headquarters: making a kit, listing and revoking the kits made here.
//!
//! A field kit is a vault file whose records are sealed to an age X25519 recipient whose
//! identity only headquarters holds (sealed here, in the kit's `field_kit` row). The kit
//! signs its log with its own Ed25519 key, whose public half headquarters pins at creation;
//! the kit pins headquarters' signing key, which signs receipts. See [`super::field`] for the
//! kit's side and `kit_import` for headquarters taking a kit's bundle in.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::audit::Action;
use crate::crypto::{self, Passphrase};
use crate::error::{Error, Integrity, Result};
use crate::store;

use super::field::KitSide;
use super::{CreateOptions, Draft, Session, Vault, now_rfc3339, ssh_public_key};

/// A hash of every field kit row (id and sealed bytes), for the header MAC; `None` when
/// there is none, so a vault without kits keeps the MAC it had.
pub(super) fn kits_root(rows: &[([u8; 16], Vec<u8>)]) -> Option<[u8; 32]> {
    if rows.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    for (id, sealed) in rows {
        h.update(id);
        h.update((sealed.len() as u64).to_be_bytes());
        h.update(sealed);
    }
    Some(h.finalize().into())
}

/// What headquarters keeps of a kit, sealed under K_meta with the kit id in the AAD.
#[derive(Serialize, Deserialize)]
pub(super) struct KitRow {
    pub(super) name: String,
    pub(super) created_at: String,
    pub(super) created_by: String,
    /// The kit's age X25519 identity: the one key that opens what the kit records.
    pub(super) identity: String,
    /// The kit's Ed25519 public key (hex), pinned at creation.
    pub(super) signing_public: String,
    pub(super) last_import: Option<ImportMark>,
    pub(super) records_imported: u64,
    pub(super) revoked: Option<Revocation>,
    /// [`crate::bundle::kit::continuation`] of every kit log imported: a kit that restarted its
    /// log names one of these.
    #[serde(default)]
    pub(super) continuations: Vec<String>,
}

impl Drop for KitRow {
    fn drop(&mut self) {
        self.identity.zeroize();
    }
}

/// The kit log as of the last import from the kit: later bundles must extend it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ImportMark {
    pub(super) at: String,
    pub(super) log_size: u64,
    /// The root of the kit's log at that size, hex.
    pub(super) log_root: String,
}

/// When, by whom and why a kit was revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    pub at: String,
    pub by: String,
    pub reason: String,
}

/// A kit as `kit list` shows it.
#[derive(Debug, Serialize)]
pub struct KitSummary {
    pub name: String,
    pub id: String,
    pub created_at: String,
    pub created_by: String,
    /// The fingerprint of the kit's signing key.
    pub fingerprint: String,
    pub last_import: Option<String>,
    pub records_imported: u64,
    pub revoked: Option<Revocation>,
}

/// What `kit create` made.
#[derive(Debug, Serialize)]
pub struct KitCreated {
    pub name: String,
    pub id: String,
    pub path: PathBuf,
    /// The kit's signing key, as headquarters pinned it.
    pub fingerprint: String,
    /// Headquarters' signing key, as the kit pinned it.
    pub hq_fingerprint: String,
}

impl KitRow {
    pub(super) fn signing_key(&self) -> Result<ed25519_dalek::VerifyingKey> {
        let bytes: [u8; 32] = hex::decode(&self.signing_public)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Integrity::Corrupt)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| Integrity::Corrupt.into())
    }

    pub(super) fn age_identity(&self) -> Result<age::x25519::Identity> {
        self.identity.parse().map_err(|_| Integrity::Corrupt.into())
    }

    fn summary(&self, id: &[u8; 16]) -> Result<KitSummary> {
        Ok(KitSummary {
            name: self.name.clone(),
            id: hex::encode(id),
            created_at: self.created_at.clone(),
            created_by: self.created_by.clone(),
            fingerprint: ssh_public_key(id, &self.signing_key()?).1,
            last_import: self.last_import.as_ref().map(|m| m.at.clone()),
            records_imported: self.records_imported,
            revoked: self.revoked.clone(),
        })
    }
}

impl Session {
    fn kit_row_aad(&self, kit_id: &[u8; 16]) -> Vec<u8> {
        crypto::aad("tvault field kit v1", &[&self.vault_id, kit_id])
    }

    pub(super) fn seal_kit_row(&self, kit_id: &[u8; 16], row: &KitRow) -> Vec<u8> {
        let json = Zeroizing::new(serde_json::to_vec(row).expect("kit rows serialise"));
        crypto::seal_padded(&self.keys.meta, &self.kit_row_aad(kit_id), &json)
    }

    pub(super) fn open_kit_row(&self, kit_id: &[u8; 16], sealed: &[u8]) -> Result<KitRow> {
        let bad = || Integrity::Log("a field kit row does not authenticate".into());
        let json = crypto::open_padded(&self.keys.meta, &self.kit_row_aad(kit_id), sealed)
            .ok_or_else(bad)?;
        serde_json::from_slice(&json).map_err(|_| bad().into())
    }

    /// Every kit row, opened.
    pub(super) fn kit_rows(&self, conn: &rusqlite::Connection) -> Result<Vec<([u8; 16], KitRow)>> {
        store::field_kits(conn)?
            .into_iter()
            .map(|(id, sealed)| Ok((id, self.open_kit_row(&id, &sealed)?)))
            .collect()
    }

    /// Reseals every kit row under `next`'s K_meta (rekey).
    pub(super) fn reseal_kit_rows(
        &self,
        next: &Session,
        conn: &rusqlite::Connection,
    ) -> Result<()> {
        for (id, row) in self.kit_rows(conn)? {
            store::set_field_kit(conn, &id, &next.seal_kit_row(&id, &row))?;
        }
        Ok(())
    }
}

/// How `kit create` makes the kit file.
pub struct KitOptions<'a> {
    pub kdf: crypto::KdfParams,
    pub weak_kdf: bool,
    /// The kit's operator (its one keyslot's label).
    pub operator: &'a str,
}

impl Vault {
    /// Makes a field kit at `path`: a vault file unlocked by `passphrase` that seals every
    /// record to a fresh age X25519 recipient, and signs with a fresh key of its own.
    /// Headquarters keeps the matching identity and the kit's public key, sealed in a
    /// `field_kit` row, and logs the creation.
    ///
    /// The kit file is written under a partial name first, headquarters' row is committed,
    /// and only then is the kit given its name: a kit exists only once headquarters can
    /// open what it records.
    pub fn create_kit(
        &mut self,
        name: &str,
        path: &Path,
        passphrase: &Passphrase,
        options: &KitOptions<'_>,
    ) -> Result<KitCreated> {
        if self.s.kit.is_some() {
            return Err(Error::FieldKit);
        }
        if path.exists() {
            return Err(Error::VaultExists {
                path: path.to_owned(),
            });
        }
        if self
            .s
            .kit_rows(self.store.conn())?
            .iter()
            .any(|(_, row)| row.name == name)
        {
            return Err(Error::KitExists);
        }
        let kit_id: [u8; 16] = crypto::random_array();
        let identity = age::x25519::Identity::generate();
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let kit_public = signing.verifying_key();
        let hq_key = self.s.signing.verifying_key();
        let side = KitSide {
            name: name.to_owned(),
            hq_vault_id: hex::encode(self.s.vault_id),
            hq_signing_public: hex::encode(hq_key.as_bytes()),
            hq_recipient: identity.to_public().to_string(),
            created_at: now_rfc3339(),
        };
        let partial = crate::fs::partial_path(path);
        let made = Vault::create_with(
            &partial,
            passphrase,
            &CreateOptions {
                kdf: options.kdf,
                weak_kdf: options.weak_kdf,
                operator: options.operator,
                // The kit leaves this machine: its anchor is kept where it is used.
                anchor_dir: None,
                recovery: None,
            },
            kit_id,
            signing,
            Some(&side),
        );
        let cleanup = |e: Error| {
            let _ = std::fs::remove_file(&partial);
            let mut journal = partial.clone().into_os_string();
            journal.push("-journal");
            let _ = std::fs::remove_file(journal);
            e
        };
        drop(made.map_err(cleanup)?);
        let fingerprint = ssh_public_key(&kit_id, &kit_public).1;
        let row = KitRow {
            name: name.to_owned(),
            created_at: side.created_at.clone(),
            created_by: self.s.operator.clone(),
            identity: identity.to_string().expose_secret().to_owned(),
            signing_public: hex::encode(kit_public.as_bytes()),
            last_import: None,
            records_imported: 0,
            revoked: None,
            continuations: Vec::new(),
        };
        let recorded = (|| {
            let tx = self.store.write()?;
            store::set_field_kit(&tx, &kit_id, &self.s.seal_kit_row(&kit_id, &row))?;
            let cp = self.s.append(
                &tx,
                vec![Draft::new(Action::KitCreated).detail(serde_json::json!({
                    "kit": name,
                    "kit_id": hex::encode(kit_id),
                    "kit_fingerprint": fingerprint,
                }))],
            )?;
            tx.commit()?;
            self.s.write_anchor(&cp)
        })();
        recorded.map_err(cleanup)?;
        crate::fs::publish(&partial, path).map_err(|source| {
            cleanup(Error::Io {
                path: path.to_owned(),
                source,
            })
        })?;
        Ok(KitCreated {
            name: name.to_owned(),
            id: hex::encode(kit_id),
            path: path.to_owned(),
            fingerprint,
            hq_fingerprint: self.s.fingerprint(),
        })
    }

    /// The kits made by this vault, oldest first; logged.
    pub fn kits(&mut self) -> Result<Vec<KitSummary>> {
        if self.s.kit.is_some() {
            return Err(Error::FieldKit);
        }
        let mut rows = self.s.kit_rows(self.store.conn())?;
        rows.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at));
        let out = rows
            .iter()
            .map(|(id, row)| row.summary(id))
            .collect::<Result<Vec<_>>>()?;
        self.record(vec![
            Draft::new(Action::KitsListed).detail(serde_json::json!({ "kits": out.len() })),
        ])?;
        Ok(out)
    }

    /// Revokes a kit: its bundles are refused from now on (headquarters cannot tell when a
    /// kit signed a bundle, so every later one is), unless accepted one by one with a reason.
    pub fn revoke_kit(&mut self, name: &str, reason: &str) -> Result<KitSummary> {
        if self.s.kit.is_some() {
            return Err(Error::FieldKit);
        }
        let tx = self.store.write()?;
        let (id, mut row) = self
            .s
            .kit_rows(&tx)?
            .into_iter()
            .find(|(_, row)| row.name == name)
            .ok_or(Error::KitNotFound)?;
        row.revoked = Some(Revocation {
            at: now_rfc3339(),
            by: self.s.operator.clone(),
            reason: reason.to_owned(),
        });
        store::set_field_kit(&tx, &id, &self.s.seal_kit_row(&id, &row))?;
        let cp = self.s.append(
            &tx,
            vec![Draft::new(Action::KitRevoked).detail(serde_json::json!({
                "kit": name,
                "kit_id": hex::encode(id),
                "reason": reason,
            }))],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        row.summary(&id)
    }
}
