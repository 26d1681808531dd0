//! Operators and keys: keyslots, passphrase changes, recovery, rekey and destroy.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use serde::Serialize;

use crate::audit::{self, Action};
use crate::crypto::{self, Key, Keyslot, Passphrase, SlotKeys, SlotKind, VaultKeys};
use crate::error::{Error, Integrity, Result};
use crate::record::RecordId;
use crate::store;

use super::{Draft, Session, Vault, ssh_public_key};

/// A keyslot that survives a rekey: the slot, the key its secret derived, its operator.
pub(super) struct KeptSlot {
    pub(super) slot: Keyslot,
    pub(super) kek: Arc<Key>,
    pub(super) label: String,
}

/// What a rekey will do (see [`Vault::plan_rekey`]).
pub struct RekeyPlan {
    kept: Vec<KeptSlot>,
    /// The keyslots the rekey removes.
    pub dropped: Vec<DroppedSlot>,
}

/// A keyslot a rekey removes: its operator's name, or the recovery slot.
pub struct DroppedSlot {
    pub name: String,
    pub recovery: bool,
    /// The custodians keyslot: no secret here rewraps it, so a rekey always drops it.
    pub custodians: bool,
}

/// What a rekey did.
#[derive(Debug, Serialize)]
pub struct RekeySummary {
    pub kept: Vec<String>,
    pub dropped: Vec<String>,
    pub versions: u64,
    /// Stored parts rewrapped or re-encrypted.
    pub parts: u64,
    pub reencrypted: bool,
    /// The new signing key (an OpenSSH line) and its fingerprint, to publish.
    pub signing_key: String,
    pub signing_key_fingerprint: String,
    pub old_signing_key_fingerprint: String,
}

/// An operator, as `operator list` shows them.
#[derive(Debug, Serialize)]
pub struct Operator {
    pub name: String,
    pub kind: &'static str,
    pub kdf_memory_mib: u64,
    pub kdf_iterations: u32,
    pub weak: bool,
    /// The operator whose passphrase unlocked the vault now.
    pub current: bool,
    /// Their personal signing key as an OpenSSH line, and its fingerprint: `None` for the
    /// recovery and custodians slots, and for an operator of an older vault who has not
    /// unlocked since.
    pub key: Option<String>,
    pub key_fingerprint: Option<String>,
}

impl Vault {
    /// The operators: every keyslot with its operator's name and KDF cost.
    pub fn operators(&mut self) -> Result<Vec<Operator>> {
        self.record(vec![Draft::new(Action::OperatorsListed)])?;
        let slots = store::keyslots(self.store.conn())?;
        slots
            .iter()
            .map(|slot| {
                let key = slot
                    .operator_key
                    .as_ref()
                    .map(|k| super::session::operator_ssh_key(&k.public));
                Ok(Operator {
                    name: slot
                        .label(&self.s.vault_id, &self.s.keys)
                        .ok_or(Integrity::HeaderMac)?,
                    kind: slot.kind.as_str(),
                    kdf_memory_mib: slot.kdf.memory_mib(),
                    kdf_iterations: slot.kdf.t,
                    weak: slot.kdf.is_weak(),
                    current: slot.slot_id == self.s.slot_id,
                    key_fingerprint: key.as_ref().map(|(_, f)| f.clone()),
                    key: key.map(|(line, _)| line),
                })
            })
            .collect()
    }

    /// Adds an operator with their own passphrase, at the same KDF cost as the keyslot that
    /// unlocked the vault, with the approvals the vault's rule needs. Runs the KDF once (and
    /// each approver's).
    pub fn add_operator(
        &mut self,
        name: &str,
        passphrase: &Passphrase,
        approvers: &[super::Approver],
    ) -> Result<()> {
        let signers = self.approve(
            super::approvals::Guarded::OperatorAdd,
            approvers,
            &serde_json::json!({}),
        )?;
        let slots = store::keyslots(self.store.conn())?;
        if slots
            .iter()
            .any(|s| s.label(&self.s.vault_id, &self.s.keys).as_deref() == Some(name))
        {
            return Err(Error::OperatorExists(name.to_owned()));
        }
        let mine = slots
            .iter()
            .find(|s| s.slot_id == self.s.slot_id)
            .ok_or(Integrity::HeaderMac)?;
        let (mut slot, kek) = Keyslot::create_keyed(
            &self.s.vault_id,
            SlotKind::Passphrase,
            mine.kdf,
            mine.weak_kdf,
            passphrase,
            &self.s.keys,
            name,
        )?;
        // Their own key, sealed under their own passphrase: this session cannot use it.
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        slot.set_operator_key(&self.s.vault_id, &kek, &key);
        let tx = self.store.write()?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![Draft::new(Action::OperatorAdded).detail(serde_json::json!({
                "operator": name,
                "operator_key": hex::encode(key.verifying_key().as_bytes()),
                "approvals": super::approvals::Signer::approvals(&signers),
            }))],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)
    }

    /// Removes an operator's keyslot, with the approvals the vault's rule needs. Refuses to
    /// remove the last way into the vault, or to leave fewer operators than the rule needs.
    pub fn remove_operator(&mut self, name: &str, approvers: &[super::Approver]) -> Result<()> {
        let slots = store::keyslots(self.store.conn())?;
        let slot = slots
            .iter()
            .find(|s| s.label(&self.s.vault_id, &self.s.keys).as_deref() == Some(name))
            .ok_or_else(|| Error::OperatorNotFound(name.to_owned()))?;
        if slots.len() == 1 {
            return Err(Error::LastKeyslot);
        }
        let required = self.export_approvals()?;
        let left = self.passphrase_operators()? - usize::from(slot.kind == SlotKind::Passphrase);
        if left < usize::from(required) {
            return Err(crate::error::ApprovalError::TooFewOperators {
                needed: required,
                operators: left,
            }
            .into());
        }
        let slot_id = slot.slot_id;
        let signers = self.approve(
            super::approvals::Guarded::OperatorRemove,
            approvers,
            &serde_json::json!({ "operator": name }),
        )?;
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &slot_id)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::OperatorRemoved).detail(serde_json::json!({
                    "operator": name,
                    "approvals": super::approvals::Signer::approvals(&signers),
                })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)
    }

    /// Sets a new passphrase for `operator` (needed when several operators exist), after an
    /// unlock with the recovery code.
    pub fn recover_operator(
        &mut self,
        operator: Option<&str>,
        passphrase: &Passphrase,
    ) -> Result<String> {
        let slots = store::keyslots(self.store.conn())?;
        let named: Vec<(&Keyslot, String)> = slots
            .iter()
            .filter(|s| s.kind == SlotKind::Passphrase)
            .map(|s| {
                Ok((
                    s,
                    s.label(&self.s.vault_id, &self.s.keys)
                        .ok_or(Integrity::HeaderMac)?,
                ))
            })
            .collect::<Result<_>>()?;
        let (old, name) = match operator {
            Some(op) => named
                .into_iter()
                .find(|(_, n)| n == op)
                .ok_or_else(|| Error::OperatorNotFound(op.to_owned()))?,
            None if named.len() == 1 => named.into_iter().next().expect("one operator"),
            None => return Err(Error::OperatorNeeded),
        };
        let (mut slot, kek) = Keyslot::create_keyed(
            &self.s.vault_id,
            SlotKind::Passphrase,
            old.kdf,
            old.weak_kdf,
            passphrase,
            &self.s.keys,
            &name,
        )?;
        // The old personal key is sealed under the lost passphrase: a new one, logged.
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        slot.set_operator_key(&self.s.vault_id, &kek, &key);
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &old.slot_id)?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::PassphraseChanged).detail(serde_json::json!({
                    "operator": name,
                    "operator_key": hex::encode(key.verifying_key().as_bytes()),
                })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(name)
    }

    /// Makes the vault undecryptable in place (every keyslot, the header MAC and the signing
    /// key overwritten with random bytes, in one transaction, pages overwritten on disk, and
    /// the journal that held the old ones overwritten with zeros by the commit), then removes
    /// the file, what is left of its journal and its anchor. Copies made earlier are not
    /// affected.
    pub fn destroy(self) -> Result<()> {
        let Vault { mut store, s } = self;
        let path = store.path().to_owned();
        let journal = store.journal_path();
        let tx = store.write()?;
        store::scramble_keys(&tx)?;
        tx.commit()?;
        drop(store);
        crate::fs::remove_if_exists(&path)?;
        if let Some(journal) = &journal {
            crate::fs::remove_if_exists(journal)?;
        }
        if let Some(anchor) = &s.anchor {
            crate::fs::remove_if_exists(anchor)?;
        }
        Ok(())
    }

    /// Gives the operator who unlocked the vault a new passphrase: their keyslot is replaced,
    /// with a new salt, in one transaction. Copies of the vault made earlier still open with
    /// the old passphrase.
    pub fn change_passphrase(&mut self, passphrase: &Passphrase) -> Result<()> {
        let slots = store::keyslots(self.store.conn())?;
        let mine = slots
            .iter()
            .find(|s| s.slot_id == self.s.slot_id)
            .ok_or(Integrity::HeaderMac)?;
        let (mut slot, kek) = Keyslot::create_keyed(
            &self.s.vault_id,
            mine.kind,
            mine.kdf,
            mine.weak_kdf,
            passphrase,
            &self.s.keys,
            &self.s.operator,
        )?;
        // The same personal key, sealed under the new passphrase.
        if let Some(key) = &self.s.operator_signing {
            slot.set_operator_key(&self.s.vault_id, &kek, key);
        }
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &mine.slot_id)?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self
            .s
            .append(&tx, vec![Draft::new(Action::PassphraseChanged)])?;
        tx.commit()?;
        self.s.slot_id = slot.slot_id;
        self.s.kek = Arc::new(kek);
        self.s.write_anchor(&cp)
    }

    /// Matches secrets to keyslots for [`Vault::rekey`]. The keyslot that unlocked the vault
    /// is always kept; each passphrase must open one other operator's keyslot, and the
    /// recovery code the recovery keyslot, or nothing is planned (wrong passphrase). Keyslots
    /// no secret opened are to be dropped. Runs the KDF once per secret and slot tried.
    pub fn plan_rekey(
        &self,
        passphrases: &[Passphrase],
        recovery: Option<&crypto::RecoveryCode>,
    ) -> Result<RekeyPlan> {
        // A kit's records are sealed to headquarters: there is nothing here to rewrap.
        if self.s.kit.is_some() {
            return Err(Error::FieldKit);
        }
        let vault_id = &self.s.vault_id;
        let label = |slot: &Keyslot| -> Result<String> {
            Ok(slot
                .label(vault_id, &self.s.keys)
                .ok_or(Integrity::HeaderMac)?)
        };
        let (mine, mut rest): (Vec<Keyslot>, Vec<Keyslot>) = store::keyslots(self.store.conn())?
            .into_iter()
            .partition(|s| s.slot_id == self.s.slot_id);
        let mine = mine.into_iter().next().ok_or(Integrity::HeaderMac)?;
        let mut kept = vec![KeptSlot {
            kek: Arc::clone(&self.s.kek),
            label: self.s.operator.clone(),
            slot: mine,
        }];
        let code = recovery.map(|c| c.as_passphrase());
        let secrets = passphrases
            .iter()
            .map(|p| (SlotKind::Passphrase, p))
            .chain(code.as_ref().map(|c| (SlotKind::Recovery, c)));
        for (kind, secret) in secrets {
            let mut opened = None;
            for (i, slot) in rest.iter().enumerate().filter(|(_, s)| s.kind == kind) {
                if let Some(SlotKeys { vmk, kek }) = slot.unlock(vault_id, secret)? {
                    use subtle::ConstantTimeEq;
                    if !bool::from(vmk.expose_secret().ct_eq(self.s.keys.vmk.expose_secret())) {
                        return Err(Integrity::HeaderMac.into());
                    }
                    opened = Some((i, kek));
                    break;
                }
            }
            let (i, kek) = opened.ok_or(Error::WrongPassphrase)?;
            let slot = rest.remove(i);
            kept.push(KeptSlot {
                kek: Arc::new(kek),
                label: label(&slot)?,
                slot,
            });
        }
        let dropped = rest
            .iter()
            .map(|slot| {
                Ok(DroppedSlot {
                    name: label(slot)?,
                    recovery: slot.kind == SlotKind::Recovery,
                    custodians: slot.kind == SlotKind::Custodians,
                })
            })
            .collect::<Result<_>>()?;
        // Never fewer operators than the export rule needs: the rule could no longer be met,
        // nor changed.
        let required = self.export_approvals()?;
        let operators = kept
            .iter()
            .filter(|k| k.slot.kind == SlotKind::Passphrase)
            .count();
        if operators < usize::from(required) {
            return Err(crate::error::ApprovalError::TooFewOperators {
                needed: required,
                operators,
            }
            .into());
        }
        Ok(RekeyPlan { kept, dropped })
    }

    /// Gives the vault a new master key, in one transaction: the planned keyslots are sealed
    /// anew (the others are gone), and so is everything under the old key's subkeys (the
    /// signing key, every version's metadata and identity, tombstones, events). Each part's
    /// header is rewrapped for the new K_wrap; with `reencrypt`, each part is decrypted,
    /// checked against its intake hash, and encrypted again with a new file key. The log gets
    /// a `vault-rekeyed` event and a `record-rekeyed` event per version with its new stored
    /// hashes. A crash at any point leaves the old vault or the new one (SQLite's rollback
    /// journal). `progress` hears (done, total) versions.
    pub fn rekey(
        &mut self,
        plan: RekeyPlan,
        reencrypt: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RekeySummary> {
        let vault_id = self.s.vault_id;
        let next = Session {
            vault_id,
            keys: VaultKeys::derive(Key::random(), &vault_id),
            operator: self.s.operator.clone(),
            slot_id: self.s.slot_id,
            kek: Arc::clone(&self.s.kek),
            // A new signing key: whoever holds an old copy and an old passphrase can derive the
            // old one, so it must sign nothing from now on.
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
            operator_signing: self.s.operator_signing.clone(),
            anchor: self.s.anchor.clone(),
            kit: None,
        };
        let slots: Vec<Keyslot> = plan
            .kept
            .iter()
            .map(|k| k.slot.rewrap(&vault_id, &k.kek, &next.keys, &k.label))
            .collect();
        let path = self.store.path().to_owned();
        let old = &self.s;
        let tx = self.store.write()?;
        store::replace_keyslots(&tx, &slots)?;
        next.store_signing_key(&tx)?;
        let rotation = audit::Rotation::sign(&old.signing, &next.signing.verifying_key());
        let mut rotations = store::signing_rotations(&tx)?;
        rotations.extend_from_slice(&rotation.to_bytes().expect("a rotation just made encodes"));
        store::set_signing_rotations(&tx, &rotations)?;
        // Sealed under the old K_meta: rebuilt by the next `list` or `search`. The import
        // memos too (and tagged under the old K_memo): the next import of each bundle is a
        // full one, and writes its memo again.
        store::clear_digest(&tx)?;
        store::clear_import_memos(&tx)?;

        let rows = store::versions(&tx, None)?;
        let mut drafts = Vec::with_capacity(rows.len() + 1);
        // Carried-over parts share the stored file of the version they were carried from,
        // which comes first in (record, version) order.
        let mut done: BTreeMap<(RecordId, u32, u32), (u64, String)> = BTreeMap::new();
        let mut parts = 0u64;
        for (i, row) in rows.iter().enumerate() {
            progress(i as u64, rows.len() as u64);
            let mut sealed = old.open_meta(row)?;
            let identity = old.open_identity(row)?.unwrap_or_default();
            for info in sealed.parts_mut() {
                let place = Session::place(row, info);
                let key = (place.record, place.version, place.part);
                let (len, sha256) = match done.get(&key) {
                    Some(stored) => stored.clone(),
                    None if info.stored_at.is_some() => {
                        return Err(Integrity::PartMissing {
                            record: row.record,
                            part: info.part,
                        }
                        .into());
                    }
                    None => {
                        parts += 1;
                        let stored = if reencrypt {
                            old.reencrypt_part(&next, &tx, &path, row, info)?
                        } else {
                            old.rewrap_part(&next, &tx, &path, row, info)?
                        };
                        done.insert(key, stored.clone());
                        stored
                    }
                };
                info.stored_len = len;
                info.stored_sha256 = Some(sha256);
            }
            store::update_version(
                &tx,
                &next.seal_version(row.record, row.version, &sealed, &identity),
            )?;
            drafts.push(
                Draft::new(Action::RecordRekeyed)
                    .on(row.record, row.version)
                    .parts(sealed.parts()),
            );
        }
        progress(rows.len() as u64, rows.len() as u64);
        for (id, sealed) in store::tombstones(&tx)? {
            let aad = old.tombstone_aad(&id);
            let json = crypto::open_padded(&old.keys.meta, &aad, &sealed)
                .ok_or(Integrity::Metadata(id))?;
            store::set_tombstone(&tx, &id, &crypto::seal_padded(&next.keys.meta, &aad, &json))?;
        }
        old.reseal_kit_rows(&next, &tx)?;
        old.reseal_timestamps(&next, &tx)?;
        for (bucket, _) in store::heads(&tx)? {
            next.write_heads_bucket(&tx, bucket, &old.heads_bucket(&tx, bucket)?)?;
        }
        for row in store::events(&tx)? {
            old.open_event(row.seq, &row.leaf_hash, &row.sealed)?;
            let aad = old.event_aad(row.seq);
            let leaf = crypto::open_padded(&old.keys.meta, &aad, &row.sealed).ok_or_else(|| {
                Integrity::Log(format!("event {} does not authenticate", row.seq))
            })?;
            store::set_event_sealed(
                &tx,
                row.seq,
                &crypto::seal_padded(&next.keys.meta, &aad, &leaf),
            )?;
        }

        let summary = RekeySummary {
            kept: plan.kept.iter().map(|k| k.label.clone()).collect(),
            dropped: plan.dropped.into_iter().map(|d| d.name).collect(),
            versions: rows.len() as u64,
            parts,
            reencrypted: reencrypt,
            signing_key: ssh_public_key(&vault_id, &next.signing.verifying_key()).0,
            signing_key_fingerprint: next.fingerprint(),
            old_signing_key_fingerprint: old.fingerprint(),
        };
        drafts.insert(
            0,
            Draft::new(Action::VaultRekeyed).detail(serde_json::json!({
                "reencrypted": reencrypt,
                "kept": summary.kept,
                "dropped": summary.dropped,
                "versions": summary.versions,
                "parts": parts,
            })),
        );
        drafts.insert(
            1,
            Draft::new(Action::SigningKeyRotated).detail(serde_json::json!({
                "old_fingerprint": old.fingerprint(),
                "new_fingerprint": next.fingerprint(),
                "rotation": rotation,
            })),
        );
        // Signed with the new key, after the last checkpoint of the old one; re-signs the
        // header, now under the new K_hdr.
        let cp = next.append_after(&tx, drafts, &old.signing.verifying_key())?;
        tx.commit()?;
        self.s = next;
        self.s.write_anchor(&cp)?;
        Ok(summary)
    }
}
