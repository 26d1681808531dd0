//! The custody log: events, their Merkle tree, signed checkpoints and proofs. Pure logic.
//!
//! Every event is a leaf of an RFC 6962 / RFC 9162 Merkle tree: the leaf is the event's
//! canonical JSON (which includes 128 random bits, so a stored leaf hash reveals nothing), its
//! hash is `SHA-256(0x00 || leaf)`, and interior nodes are `SHA-256(0x01 || left || right)`.
//! After every change the vault signs a checkpoint, a C2SP signed note:
//!
//! ```text
//! tvault/<vault id>
//! <tree size>
//! <base64 root hash>
//!
//! — tvault/<vault id> <base64(key id || Ed25519 signature)>
//! ```
//!
//! Consistency proofs between two checkpoints let anyone holding an older one check that the
//! log only grew.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod checkpoint;
pub mod timestamp;

pub use checkpoint::{
    Checkpoint, ConsistencyProof, NoteError, ProofError, Rotation, keys_from, origin,
};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of an empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH(D[n]) over leaf hashes, as RFC 9162 §2.1.1 defines it.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path for leaf `index` (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    assert!(index < n, "the leaf is in the tree");
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    if index < k {
        let mut p = inclusion_proof(index, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(index - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// The consistency proof from the first `m` leaves to all of them (RFC 9162 §2.1.4.1).
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(
        0 < m && m <= leaves.len(),
        "the old tree is a prefix of the new one"
    );
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], whole);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof between trees of `m` and `n` leaves (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    m: u64,
    n: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first. Enough to
/// append a leaf and compute the new root in O(log n).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    pub size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn append(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.nodes.pop().expect("one node per set bit of the size");
            h = node_hash(&left, &h);
            size >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*last, |acc, left| node_hash(left, &acc))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.nodes.concat()
    }

    /// Rebuilds a frontier stored with [`Frontier::to_bytes`]; `None` when the bytes cannot be
    /// the frontier of a tree of `size` leaves.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 * size.count_ones() as usize {
            return None;
        }
        let nodes = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunks"))
            .collect();
        Some(Frontier { size, nodes })
    }
}

/// What an event is about. The names are part of the log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    VaultCreated,
    SigningKeyCreated,
    RecordAdded,
    RecordAmended,
    /// A version that existed before the vault had a custody log (an upgraded vault).
    RecordInventoried,
    /// A version taken in from another vault's export bundle.
    RecordImported,
    RecordShown,
    AttachmentRead,
    RecordsListed,
    Searched,
    HistoryRead,
    LogRead,
    Verified,
    RollbackAccepted,
    /// Logged before a bundle is written; its receipt travels in the bundle.
    ExportIntent,
    /// Logged after the bundle is complete, with its SHA-256.
    ExportComplete,
    OperatorsListed,
    OperatorAdded,
    OperatorRemoved,
    PassphraseChanged,
    /// A copy of the encrypted vault was written (the copy holds this event too).
    BackupMade,
    /// Every version's content and keys were destroyed; the hashes and the reason remain.
    RecordShredded,
    /// The vault was unlocked with its recovery code.
    RecoveryCodeUsed,
    /// A new master key: keyslots kept or dropped, everything sealed anew.
    VaultRekeyed,
    /// A version's sealing after a rekey, with its parts' new stored hashes.
    RecordRekeyed,
    /// A new custody log was started on a vault that held records without one; what came
    /// before it is not in any log.
    LogRestarted,
    /// The vault was opened although its anchor checkpoint was missing.
    AnchorMissingAccepted,
    /// A new signing key (at rekey), signed over to by the old one.
    SigningKeyRotated,
    /// At headquarters: a field kit was made; on the kit: it was made, for which HQ.
    KitCreated,
    /// At headquarters: the kits made here were listed.
    KitsListed,
    /// At headquarters: a kit was revoked; its bundles are refused from now on.
    KitRevoked,
    /// At headquarters: a kit bundle was imported (one `record-imported` per new record).
    KitImported,
    /// At headquarters: a bundle from a revoked kit was imported all the same, with a reason.
    KitRevokedAccepted,
    /// On a kit: a bundle of every unconfirmed record was made for headquarters.
    KitSent,
    /// On a kit: a receipt from headquarters was checked and the records it names deleted.
    KitConfirmed,
    /// On a kit: one record, held by headquarters as its receipt says, was deleted here.
    RecordDelivered,
    /// On a kit: headquarters holds everything the kit recorded, so its log, tombstones and
    /// heads were deleted and this new log begins; it names (by a hash) the log it continues.
    KitLogRestarted,
    /// A new version that adds a derived item (a transcript, translation, redaction or
    /// summary) to what the version before held.
    RecordDerived,
    /// A custodians keyslot was made (or replaced: the old shares stop working), with K and N.
    CustodiansSplit,
    /// The vault was unlocked with custodian shares (their indexes are in `detail`).
    CustodianSharesUsed,
    /// An operator of a vault made before personal keys got theirs, at their first unlock
    /// since (`detail.operator_key`).
    OperatorKeyCreated,
    /// A rule of the vault changed (`detail`: which, from what, to what, and who approved).
    PolicyChanged,
    /// An export was refused for want of the approvals the vault's policy needs; no bundle
    /// was written.
    ExportRefused,
    /// A change that needs the approvals in force (the policy, adding or removing an
    /// operator) was refused for want of them.
    ApprovalRefused,
    /// A trusted timestamp was requested for the checkpoint of `detail.tree_size` events.
    TimestampRequested,
    /// An authority's timestamp token was checked and stored (`detail.token_sha256`).
    TimestampAdded,
    /// The stored timestamp tokens were listed.
    TimestampsListed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::VaultCreated => "vault-created",
            Action::SigningKeyCreated => "signing-key-created",
            Action::RecordAdded => "record-added",
            Action::RecordAmended => "record-amended",
            Action::RecordInventoried => "record-inventoried",
            Action::RecordImported => "record-imported",
            Action::RecordShown => "record-shown",
            Action::AttachmentRead => "attachment-read",
            Action::RecordsListed => "records-listed",
            Action::Searched => "searched",
            Action::HistoryRead => "history-read",
            Action::LogRead => "log-read",
            Action::Verified => "verified",
            Action::RollbackAccepted => "rollback-accepted",
            Action::ExportIntent => "export-intent",
            Action::ExportComplete => "export-complete",
            Action::OperatorsListed => "operators-listed",
            Action::OperatorAdded => "operator-added",
            Action::OperatorRemoved => "operator-removed",
            Action::PassphraseChanged => "passphrase-changed",
            Action::BackupMade => "backup-made",
            Action::RecordShredded => "record-shredded",
            Action::RecoveryCodeUsed => "recovery-code-used",
            Action::VaultRekeyed => "vault-rekeyed",
            Action::RecordRekeyed => "record-rekeyed",
            Action::LogRestarted => "log-restarted",
            Action::AnchorMissingAccepted => "anchor-missing-accepted",
            Action::SigningKeyRotated => "signing-key-rotated",
            Action::KitCreated => "kit-created",
            Action::KitsListed => "kits-listed",
            Action::KitRevoked => "kit-revoked",
            Action::KitImported => "kit-imported",
            Action::KitRevokedAccepted => "kit-revoked-accepted",
            Action::KitSent => "kit-sent",
            Action::KitConfirmed => "kit-confirmed",
            Action::RecordDelivered => "record-delivered",
            Action::KitLogRestarted => "kit-log-restarted",
            Action::RecordDerived => "record-derived",
            Action::CustodiansSplit => "custodians-split",
            Action::CustodianSharesUsed => "custodian-shares-used",
            Action::OperatorKeyCreated => "operator-key-created",
            Action::PolicyChanged => "policy-changed",
            Action::ExportRefused => "export-refused",
            Action::ApprovalRefused => "approval-refused",
            Action::TimestampRequested => "timestamp-requested",
            Action::TimestampAdded => "timestamp-added",
            Action::TimestampsListed => "timestamps-listed",
        }
    }
}

/// A part's hashes as an event records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartHashes {
    pub part: u32,
    /// SHA-256 of the original plaintext, taken at intake.
    pub sha256: String,
    /// SHA-256 of the stored age file (header and payload), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_sha256: Option<String>,
}

/// One entry of the custody log. Never holds testimony text or names of witnesses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// The operator whose keyslot unlocked the vault.
    pub operator: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartHashes>,
    /// Action-specific facts: counts, reasons, the checkpoints of an accepted rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// 128 random bits, so a leaf hash cannot be confirmed by guessing the event.
    pub salt: String,
    /// The signature of the operator who caused the event, with their personal key (absent
    /// for the recovery code, custodians, and events before the operator had a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_sig: Option<OperatorSignature>,
}

/// An operator's Ed25519 signature over an event (see [`Event::operator_message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSignature {
    /// The operator's public key, 32 bytes in hex.
    pub key: String,
    /// 64 bytes in hex.
    pub sig: String,
}

impl Event {
    /// The leaf bytes: the event's JSON, fields in declaration order.
    pub fn leaf(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("events serialise")
    }

    /// What an operator signs: the vault id and the event's JSON without its signature,
    /// under a context string of its own.
    pub fn operator_message(&self, vault_id: &[u8; 16]) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.operator_sig = None;
        crate::crypto::aad("tvault operator event v1", &[vault_id, &unsigned.leaf()])
    }

    /// Signs the event with the operator's personal key.
    pub fn sign_operator(&mut self, vault_id: &[u8; 16], key: &ed25519_dalek::SigningKey) {
        use ed25519_dalek::Signer;
        self.operator_sig = None;
        let sig = key.sign(&self.operator_message(vault_id));
        self.operator_sig = Some(OperatorSignature {
            key: hex::encode(key.verifying_key().as_bytes()),
            sig: hex::encode(sig.to_bytes()),
        });
    }

    /// The public key whose signature the event carries, if that signature is valid.
    pub fn operator_signer(&self, vault_id: &[u8; 16]) -> Option<[u8; 32]> {
        let signed = self.operator_sig.as_ref()?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&signed.key, &mut key).ok()?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&signed.sig, &mut sig).ok()?;
        let public = ed25519_dalek::VerifyingKey::from_bytes(&key).ok()?;
        public
            .verify_strict(
                &self.operator_message(vault_id),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .ok()?;
        Some(key)
    }

    /// The personal key this event gives an operator, if any, and whose: `detail.operator_key`
    /// for `detail.operator` (or the event's own operator).
    pub fn registers_operator_key(&self) -> Option<(String, [u8; 32])> {
        let detail = self.detail.as_ref()?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(detail.get("operator_key")?.as_str()?, &mut key).ok()?;
        let whose = detail
            .get("operator")
            .and_then(|o| o.as_str())
            .unwrap_or(&self.operator);
        Some((whose.to_owned(), key))
    }
}

/// Checks that every event an operator caused, from the event that gave them a personal key
/// on, carries a valid signature by a key the log gave that operator. Returns one line per
/// failure.
pub fn operator_signature_failures(vault_id: &[u8; 16], events: &[Event]) -> Vec<String> {
    let mut keys: std::collections::BTreeMap<String, Vec<[u8; 32]>> = Default::default();
    let mut failures = Vec::new();
    for e in events {
        let registered = e.registers_operator_key();
        // A key given to the event's own operator counts for the event that gives it.
        if let Some((whose, key)) = &registered
            && *whose == e.operator
        {
            keys.entry(whose.clone()).or_default().push(*key);
        }
        let signer = e.operator_signer(vault_id);
        match (keys.get(&e.operator), signer) {
            (Some(theirs), Some(key)) if theirs.contains(&key) => {}
            (Some(_), Some(_)) => failures.push(format!(
                "event {} ({}) is signed by a key that is not its operator's",
                e.seq,
                e.action.as_str()
            )),
            (Some(_), None) => failures.push(format!(
                "event {} ({}) does not carry its operator's valid signature",
                e.seq,
                e.action.as_str()
            )),
            (None, Some(_)) => failures.push(format!(
                "event {} ({}) is signed, but its operator has no key in the log",
                e.seq,
                e.action.as_str()
            )),
            (None, None) if e.operator_sig.is_some() => failures.push(format!(
                "event {} ({}) carries a signature that does not verify",
                e.seq,
                e.action.as_str()
            )),
            (None, None) => {}
        }
        if let Some((whose, key)) = registered
            && whose != e.operator
        {
            keys.entry(whose).or_default().push(key);
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The Certificate Transparency test leaves and the roots of their first 1..=8.
    fn ct_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|d| leaf_hash(&hex::decode(d).unwrap()))
        .collect()
    }

    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn each_operators_events_must_carry_their_own_signature() {
        let vault_id = [3u8; 16];
        let ana = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let ben = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let event = |seq: u64, operator: &str, detail: Option<serde_json::Value>| Event {
            seq,
            time: "2026-01-01T00:00:00Z".into(),
            operator: operator.into(),
            action: Action::RecordsListed,
            record: None,
            version: None,
            parts: Vec::new(),
            detail,
            salt: "00".into(),
            operator_sig: None,
        };
        let hexkey = |k: &ed25519_dalek::SigningKey| hex::encode(k.verifying_key().as_bytes());
        let mut log = vec![
            event(0, "ana", None),
            event(
                1,
                "ana",
                Some(serde_json::json!({ "operator_key": hexkey(&ana) })),
            ),
            event(
                2,
                "ana",
                Some(serde_json::json!({ "operator": "ben", "operator_key": hexkey(&ben) })),
            ),
            event(3, "ben", None),
        ];
        log[1].sign_operator(&vault_id, &ana);
        log[2].sign_operator(&vault_id, &ana);
        log[3].sign_operator(&vault_id, &ben);
        assert!(operator_signature_failures(&vault_id, &log).is_empty());
        // Ben's event signed by Ana, an unsigned event after Ana's key, an edited event.
        let mut forged = log.clone();
        forged[3].sign_operator(&vault_id, &ana);
        assert_eq!(operator_signature_failures(&vault_id, &forged).len(), 1);
        let mut unsigned = log.clone();
        unsigned[2].operator_sig = None;
        assert_eq!(operator_signature_failures(&vault_id, &unsigned).len(), 1);
        let mut edited = log.clone();
        edited[3].time = "2026-01-02T00:00:00Z".into();
        assert_eq!(operator_signature_failures(&vault_id, &edited).len(), 1);
        // Another vault's id: nothing verifies.
        assert_eq!(operator_signature_failures(&[4; 16], &log).len(), 3);
    }

    #[test]
    fn roots_match_the_published_vectors() {
        let leaves = ct_leaves();
        assert_eq!(
            root(&[]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let mut frontier = Frontier::default();
        for n in 1..=8 {
            assert_eq!(root(&leaves[..n]), h(CT_ROOTS[n - 1]), "size {n}");
            frontier.append(leaves[n - 1]);
            assert_eq!(frontier.root(), h(CT_ROOTS[n - 1]), "frontier size {n}");
        }
    }

    #[test]
    fn proofs_match_the_published_vectors() {
        let leaves = ct_leaves();
        let inclusion: [(usize, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in inclusion {
            let proof = inclusion_proof(index, &leaves[..size]);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "inclusion {index} in {size}");
            assert!(verify_inclusion(
                index as u64,
                size as u64,
                &leaves[index],
                &proof,
                &h(CT_ROOTS[size - 1])
            ));
        }
        let consistency: [(usize, usize, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, expected) in consistency {
            let proof = consistency_proof(m, &leaves[..n]);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "consistency {m} -> {n}");
            assert!(verify_consistency(
                m as u64,
                n as u64,
                &proof,
                &h(CT_ROOTS[m - 1]),
                &h(CT_ROOTS[n - 1])
            ));
        }
    }

    /// Every tree size 1..=300: every inclusion proof and every consistency proof verifies,
    /// and a wrong leaf, root or proof hash makes each of them fail. (The tree size is bound by
    /// the signed checkpoint, not by the proof.)
    #[test]
    fn all_proofs_verify_exhaustively_up_to_300_leaves() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let roots: Vec<Hash> = {
            let mut f = Frontier::default();
            leaves
                .iter()
                .map(|l| {
                    f.append(*l);
                    f.root()
                })
                .collect()
        };
        for n in 1..=300usize {
            assert_eq!(roots[n - 1], root(&leaves[..n]));
            let tree = &leaves[..n];
            let r = roots[n - 1];
            for i in 0..n {
                let proof = inclusion_proof(i, tree);
                assert!(
                    verify_inclusion(i as u64, n as u64, &leaves[i], &proof, &r),
                    "{i} in {n}"
                );
                assert!(!verify_inclusion(
                    i as u64,
                    n as u64,
                    &leaves[(i + 1) % 300],
                    &proof,
                    &r
                ));
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(i as u64, n as u64, &leaves[i], &bad, &r));
                }
            }
            for m in 1..=n {
                let proof = consistency_proof(m, tree);
                let old = roots[m - 1];
                assert!(
                    verify_consistency(m as u64, n as u64, &proof, &old, &r),
                    "{m} -> {n}"
                );
                if m < n {
                    assert!(!verify_consistency(m as u64, n as u64, &proof, &r, &r));
                    assert!(!verify_consistency(m as u64, n as u64, &proof, &old, &old));
                    let mut bad = proof.clone();
                    bad[0] = node_hash(&bad[0], &bad[0]);
                    assert!(!verify_consistency(m as u64, n as u64, &bad, &old, &r));
                }
            }
        }
    }

    #[test]
    fn frontiers_survive_storage() {
        let mut f = Frontier::default();
        for i in 0..37u32 {
            f.append(leaf_hash(&i.to_be_bytes()));
            let back = Frontier::from_bytes(f.size, &f.to_bytes()).unwrap();
            assert_eq!(back, f);
        }
        assert!(Frontier::from_bytes(37, &[0u8; 32]).is_none());
    }
}
