//! Operators' signatures over a bundle's manifest (format v5): the exporter's, and each
//! approver's when the vault's policy asks for more than one operator.
//!
//! Inside the payload, beside `MANIFEST.json`:
//!
//! ```text
//! approvals/allowed_signers   one line per signer: `<role> namespaces="tvault-approval@v1" ssh-ed25519 AAAA…`
//! approvals/<role>.sig        SSHSIG of MANIFEST.json by that signer's personal key
//! ```
//!
//! Roles are `exporter`, then `approver-1`, `approver-2`, …, in the order the manifest's
//! `approvals` lists them. The file is checked to be exactly what the manifest implies, so
//! the keys `ssh-keygen -Y verify` uses are the ones the manifest (signed by the vault's key)
//! names. The files sit inside the encrypted payload: who exported and who approved is the
//! recipient's to know, not a courier's.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use ssh_key::HashAlg;

use super::format::SigCheck;
use super::read::{BundleError, fail};
use super::{ssh_sign, ssh_verify};

/// The folder of the operators' signatures in the payload.
pub const APPROVALS_DIR: &str = "approvals";

/// The allowed-signers file of the operators who signed the manifest.
pub const APPROVAL_SIGNERS: &str = "approvals/allowed_signers";

/// SSHSIG namespace of an operator's signature over `MANIFEST.json`.
pub const APPROVAL_NAMESPACE: &str = "tvault-approval@v1";

/// The most signers a manifest may list (the policy allows up to 9).
const MAX_SIGNERS: usize = 9;

/// One operator who signed the manifest, as the manifest names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `exporter`, or `approver-N`.
    pub role: String,
    /// The operator's name in the sending vault.
    pub operator: String,
    /// Their personal key, `ssh-ed25519 AAAA…` (no comment).
    pub key: String,
}

/// One operator signature that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalReport {
    pub role: String,
    pub operator: String,
    pub key: String,
    pub fingerprint: String,
}

/// The role of the `i`th signer: the exporter first, then the approvers.
pub fn role(i: usize) -> String {
    if i == 0 {
        "exporter".to_owned()
    } else {
        format!("approver-{i}")
    }
}

/// An operator's personal key as the manifest lists it (`ssh-ed25519 AAAA…`).
pub fn key_line(key: &VerifyingKey) -> String {
    let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
        ssh_key::public::Ed25519PublicKey(key.to_bytes()),
    ));
    public
        .to_openssh()
        .expect("an Ed25519 key encodes as OpenSSH")
}

impl ApprovalReport {
    /// Whether `expected` (a `SHA256:` fingerprint or an OpenSSH key line) names this
    /// signer's key.
    pub fn is_key(&self, expected: &str) -> bool {
        let expected = expected.trim();
        if expected.starts_with("SHA256:") {
            return expected == self.fingerprint;
        }
        match (
            ssh_key::PublicKey::from_openssh(expected),
            ssh_key::PublicKey::from_openssh(&self.key),
        ) {
            (Ok(a), Ok(b)) => a.key_data() == b.key_data(),
            _ => false,
        }
    }
}

/// The payload's `approvals/allowed_signers`: one line per signer, in the manifest's order.
pub fn signers_text(approvals: &[Approval]) -> String {
    approvals
        .iter()
        .map(|a| format!("{} namespaces=\"{APPROVAL_NAMESPACE}\" {}\n", a.role, a.key))
        .collect()
}

/// The name of a signer's signature file in the payload.
pub fn sig_name(role: &str) -> String {
    format!("{APPROVALS_DIR}/{role}.sig")
}

/// The approval files for `manifest` (its bytes as written) signed by `keys`, which are the
/// keys of `approvals` in order: the allowed-signers file, then one signature per signer.
pub(super) fn approval_files(
    manifest: &[u8],
    approvals: &[Approval],
    keys: &[&SigningKey],
) -> Vec<(String, String)> {
    assert_eq!(approvals.len(), keys.len(), "one key per approval");
    if approvals.is_empty() {
        return Vec::new();
    }
    let mut files = vec![(APPROVAL_SIGNERS.to_owned(), signers_text(approvals))];
    for (a, key) in approvals.iter().zip(keys) {
        debug_assert_eq!(a.key, key_line(&key.verifying_key()));
        files.push((
            sig_name(&a.role),
            ssh_sign(key, APPROVAL_NAMESPACE, manifest),
        ));
    }
    files
}

/// The names the approval files of `approvals` take in the payload.
pub(super) fn expected_names(approvals: &[Approval]) -> BTreeSet<String> {
    if approvals.is_empty() {
        return BTreeSet::new();
    }
    std::iter::once(APPROVAL_SIGNERS.to_owned())
        .chain(approvals.iter().map(|a| sig_name(&a.role)))
        .collect()
}

/// Checks the operators' signatures over `manifest` (the bytes of `MANIFEST.json`): roles in
/// order, distinct keys and operators, the allowed-signers file exactly as the list implies,
/// and each signature good. `files` holds the payload's small files by name.
pub(super) fn check(
    approvals: &[Approval],
    manifest: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<ApprovalReport>, BundleError> {
    let step = "approvals";
    if approvals.len() > MAX_SIGNERS {
        return fail(step, "the manifest lists too many signers");
    }
    let mut keys = BTreeSet::new();
    let mut operators = BTreeSet::new();
    let mut reports = Vec::new();
    for (i, a) in approvals.iter().enumerate() {
        if a.role != role(i) {
            return fail(
                step,
                "the signers' roles are not exporter, approver-1, … in order",
            );
        }
        if !operators.insert(a.operator.as_str()) {
            return fail(step, "one operator is listed as two signers");
        }
        let public = ssh_key::PublicKey::from_openssh(&a.key)
            .or_else(|_| fail(step, format!("{}'s key is not an OpenSSH key", a.role)))?;
        let ed = public.key_data().ed25519().map_or_else(
            || fail(step, format!("{}'s key is not Ed25519", a.role)),
            Ok,
        )?;
        let key = VerifyingKey::from_bytes(&ed.0)
            .or_else(|_| fail(step, format!("{}'s key is not a valid key", a.role)))?;
        if key_line(&key) != a.key {
            return fail(
                step,
                format!("{}'s key is not written as tvault writes it", a.role),
            );
        }
        if !keys.insert(key.to_bytes()) {
            return fail(step, "two signers have the same key");
        }
        let Some(sig) = files.get(&sig_name(&a.role)) else {
            return fail(step, format!("{}'s signature is missing", a.role));
        };
        match ssh_verify(&key, APPROVAL_NAMESPACE, manifest, sig) {
            SigCheck::Good => {}
            SigCheck::OtherKey => {
                return fail(
                    step,
                    format!("{}'s signature was made by another key", a.role),
                );
            }
            SigCheck::Bad => {
                return fail(
                    step,
                    format!("{}'s signature over MANIFEST.json does not verify", a.role),
                );
            }
        }
        reports.push(ApprovalReport {
            role: a.role.clone(),
            operator: a.operator.clone(),
            key: a.key.clone(),
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
        });
    }
    if !approvals.is_empty()
        && files.get(APPROVAL_SIGNERS).map(Vec::as_slice)
            != Some(signers_text(approvals).as_bytes())
    {
        return fail(
            step,
            "approvals/allowed_signers is not the list of the manifest's signers",
        );
    }
    Ok(reports)
}
