//! Custodians: a keyslot whose secret is split among N people, any K of whom can let an
//! operator set a new passphrase ([`crate::crypto::shares`] for the scheme and the file).
//!
//! `custodians split` makes a fresh random secret, a `custodians` keyslot that opens the
//! master key with it (Argon2id over the secret, like the recovery slot) and N share files,
//! each optionally sealed to its custodian's age recipient. The slot's id names the split:
//! a new split replaces the slot, so the old shares open nothing. The share files are written
//! before the new slot is committed, and removed again if anything fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::crypto::shares::{self, CustodianSecret, Share};
use crate::crypto::{Keyslot, SlotKind, Split};
use crate::error::{Error, Integrity, Result};
use crate::store::{self, Store};

use super::export::Seal;
use super::export_seal::recipients;
use super::{Draft, OpenOptions, Vault};

/// The label of the custodians keyslot; events caused through it name this operator.
pub const CUSTODIANS_LABEL: &str = "custodians";

/// What `custodians split` did.
#[derive(Debug, Serialize)]
pub struct SplitSummary {
    pub threshold: u8,
    pub shares: u8,
    /// The share files, in custodian order.
    pub files: Vec<PathBuf>,
    /// Each file's recipient as the log names it, when sealed.
    pub sealed_to: Vec<String>,
    /// An earlier split was replaced: its shares open nothing now.
    pub replaced: bool,
}

impl Vault {
    /// Makes a new custodians keyslot and writes its `shares` share files into `dir` (made
    /// if missing), sealed to `to[i]` for custodian `i + 1` when recipients are given (one
    /// per share). Replaces an earlier custodians slot, with the approvals the vault's export
    /// rule needs (K custodians can set any operator's passphrase). Runs the KDF once (and
    /// each approver's).
    pub fn split_custodians(
        &mut self,
        threshold: usize,
        shares: usize,
        dir: &Path,
        to: &[String],
        approvers: &[super::Approver],
    ) -> Result<SplitSummary> {
        if self.s.kit.is_some() {
            return Err(Error::FieldKit);
        }
        let bad = || Error::BadSplit { threshold, shares };
        let (Ok(k), Ok(n)) = (u8::try_from(threshold), u8::try_from(shares)) else {
            return Err(bad());
        };
        if k < 2 || n < k {
            return Err(bad());
        }
        if !to.is_empty() && to.len() != shares {
            return Err(Error::InvalidRecipient(format!(
                "{} recipient(s) for {shares} shares: give one --to per share, in order",
                to.len()
            )));
        }
        // Each recipient on its own, so each share opens for its custodian only.
        let sealing = to
            .iter()
            .map(|r| recipients(&Seal::Recipients(vec![r.clone()])))
            .collect::<Result<Vec<_>>>()?;
        let signers = self.approve(
            super::approvals::Guarded::CustodiansSplit,
            approvers,
            &serde_json::json!({ "threshold": k, "shares": n }),
        )?;

        let slots = store::keyslots(self.store.conn())?;
        let mine = slots
            .iter()
            .find(|s| s.slot_id == self.s.slot_id)
            .ok_or(Integrity::HeaderMac)?;
        let old: Vec<&Keyslot> = slots
            .iter()
            .filter(|s| s.kind == SlotKind::Custodians)
            .collect();
        let secret = CustodianSecret::generate();
        let split_id = crate::crypto::random_array();
        let (slot, _) = Keyslot::create_split(
            &self.s.vault_id,
            (
                split_id,
                SlotKind::Custodians,
                Some(Split {
                    threshold: k,
                    shares: n,
                }),
            ),
            mine.kdf,
            mine.weak_kdf,
            &secret.as_passphrase(),
            &self.s.keys,
            CUSTODIANS_LABEL,
        )?;
        let parts = shares::split(&secret, self.s.vault_id, split_id, k, n);
        drop(secret);

        crate::fs::create_private_dir_all(dir)?;
        let mut files = Vec::with_capacity(parts.len());
        let written = (|| -> Result<()> {
            for (i, share) in parts.iter().enumerate() {
                let text = share.to_text();
                let (name, bytes) = match sealing.get(i) {
                    Some((r, _)) => (
                        format!("share-{}-of-{n}.age", share.index),
                        Zeroizing::new(seal_armored(r, text.as_bytes())?),
                    ),
                    None => (
                        format!("share-{}-of-{n}.txt", share.index),
                        Zeroizing::new(text.as_bytes().to_vec()),
                    ),
                };
                let path = dir.join(name);
                let io = |e: std::io::Error| Error::Io {
                    path: path.clone(),
                    source: e,
                };
                let mut f = crate::fs::create_new_file(&path).map_err(io)?;
                files.push(path.clone());
                f.write_all(&bytes).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
            Ok(())
        })();
        let committed = written.and_then(|()| {
            let tx = self.store.write()?;
            for o in &old {
                store::delete_keyslot(&tx, &o.slot_id)?;
            }
            store::insert_keyslot(&tx, &slot)?;
            self.s.update_header_mac(&tx)?;
            let cp =
                self.s.append(
                    &tx,
                    vec![Draft::new(Action::CustodiansSplit).detail(serde_json::json!({
                    "threshold": k,
                    "shares": n,
                    "replaced": !old.is_empty(),
                    "sealed_to": sealing.iter().map(|(_, f)| f[0].clone()).collect::<Vec<_>>(),
                    "approvals": super::approvals::Signer::approvals(&signers),
                }))],
                )?;
            tx.commit()?;
            Ok(cp)
        });
        let cp = match committed {
            Ok(cp) => cp,
            Err(e) => {
                for f in &files {
                    let _ = std::fs::remove_file(f);
                }
                return Err(e);
            }
        };
        self.s.write_anchor(&cp)?;
        Ok(SplitSummary {
            threshold: k,
            shares: n,
            files,
            sealed_to: sealing.into_iter().map(|(_, f)| f[0].clone()).collect(),
            replaced: !old.is_empty(),
        })
    }

    /// Unlocks with custodian shares: they must be of this vault's current split, and at
    /// least its threshold of them; only the custodians keyslot is tried, and events name the
    /// operator `custodians`.
    pub fn open_with_shares(
        path: &Path,
        given: &[Share],
        options: &OpenOptions<'_>,
    ) -> Result<Self> {
        let store = Store::open(path)?;
        let (vault_id, _) = store::header(store.conn())?;
        let first = given
            .first()
            .ok_or(Error::Share(shares::ShareError::TooFew {
                have: 0,
                need: 2,
            }))?;
        if first.vault_id != vault_id {
            return Err(Error::SharesOtherVault(hex::encode(first.vault_id)));
        }
        let slots = store::keyslots(store.conn())?;
        let current = slots
            .iter()
            .find(|s| s.kind == SlotKind::Custodians)
            .ok_or(Error::NoCustodians)?;
        // Mixed or too few shares are refused before the current split is looked at.
        let secret = shares::combine(given).map_err(Error::Share)?;
        if current.slot_id != first.split_id {
            return Err(Error::SharesReplaced);
        }
        let options = OpenOptions {
            operator: None,
            ..*options
        };
        drop(store);
        let mut vault = Self::open_slots(
            path,
            &secret.as_passphrase(),
            SlotKind::Custodians,
            &options,
        )?;
        let mut indexes: Vec<u8> = given.iter().map(|s| s.index).collect();
        indexes.sort_unstable();
        vault.record(vec![Draft::new(Action::CustodianSharesUsed).detail(
            serde_json::json!({ "shares": indexes, "threshold": first.threshold }),
        )])?;
        Ok(vault)
    }
}

/// Reads a share file: its text, or an age file (armored or not) that one of `identities`
/// opens.
pub fn read_share(bytes: &[u8], identities: &[Box<dyn age::Identity>]) -> Result<Share> {
    let armored = bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----");
    if armored || bytes.starts_with(b"age-encryption.org/") {
        if identities.is_empty() {
            return Err(Error::ShareSealed);
        }
        let reader = age::armor::ArmoredReader::new(bytes);
        let decryptor = age::Decryptor::new_buffered(reader).map_err(|_| Error::ShareSealed)?;
        let mut stream = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|_| Error::ShareNotForKey)?;
        let mut text = Zeroizing::new(Vec::with_capacity(2048));
        // A share file is well under a kilobyte; read no more than 64 KiB of anything else.
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut stream, 64 * 1024), &mut text)
            .map_err(|_| Error::ShareNotForKey)?;
        return parse_text(&text);
    }
    parse_text(bytes)
}

fn parse_text(bytes: &[u8]) -> Result<Share> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::Share(shares::ShareError::NotAShare))?;
    Share::parse(text).map_err(Error::Share)
}

/// Seals `text` to one recipient as an ASCII-armored age file (it may travel by mail).
fn seal_armored(to: &[Box<dyn age::Recipient + Send>], text: &[u8]) -> Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(to.iter().map(|r| r.as_ref() as _))
        .map_err(|_| Error::InvalidRecipient("(cannot seal to it)".into()))?;
    let mut out = Vec::with_capacity(text.len() + 1024);
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .expect("writing to memory cannot fail");
    let mut w = encryptor
        .wrap_output(armor)
        .expect("writing to memory cannot fail");
    w.write_all(text).expect("writing to memory cannot fail");
    w.finish()
        .and_then(|armor| armor.finish())
        .expect("writing to memory cannot fail");
    Ok(out)
}
