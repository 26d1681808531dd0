//! The optional trusted timestamps in a bundle's outer tar (format v5): a timestamped
//! checkpoint of the sender's log, the authority's tokens for it, the authority's
//! certificates, and a consistency proof from that checkpoint to the receipt's. Outside the
//! payload, so that a court can check the timestamp without the decryption key; listed in
//! the signed outer `SHA256SUMS`.

use x509_cert::Certificate;

use crate::audit::timestamp::{self, parse_certificates};
use crate::audit::{self, Checkpoint, ConsistencyProof};

use super::read::fail;
use super::{BundleError, Receipt};

/// The folder of the outer tar the timestamp files live in.
pub const DIR: &str = "timestamps";

/// What the writer puts in `timestamps/`.
pub struct TimestampFiles {
    /// The timestamped checkpoint note, and its tree size.
    pub tree_size: u64,
    pub checkpoint: String,
    /// Each authority response as received (DER), with the token's time (seconds since the
    /// epoch), oldest first.
    pub tokens: Vec<(Vec<u8>, i64)>,
    /// The trusted authority certificates (PEM), and other certificates the tokens need
    /// (PEM, often empty).
    pub ca_pem: String,
    pub certs_pem: String,
    /// The consistency proof from the timestamped checkpoint to the receipt's (JSON).
    pub consistency: String,
}

impl TimestampFiles {
    pub fn checkpoint_name(&self) -> String {
        format!("{DIR}/checkpoint-{}.txt", self.tree_size)
    }

    /// The files, in the order they are written.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![(self.checkpoint_name(), self.checkpoint.clone().into_bytes())];
        for (i, (der, _)) in self.tokens.iter().enumerate() {
            out.push((format!("{DIR}/token-{}.tsr", i + 1), der.clone()));
        }
        out.push((
            format!("{DIR}/tsa-ca.pem"),
            self.ca_pem.clone().into_bytes(),
        ));
        if !self.certs_pem.is_empty() {
            out.push((
                format!("{DIR}/tsa-certs.pem"),
                self.certs_pem.clone().into_bytes(),
            ));
        }
        out.push((
            format!("{DIR}/consistency.json"),
            self.consistency.clone().into_bytes(),
        ));
        out
    }
}

/// A positive decimal number without leading zeros.
fn canonical_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// Whether an outer entry's name is one of the timestamp files.
pub fn is_timestamp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("timestamps/") else {
        return false;
    };
    matches!(rest, "tsa-ca.pem" | "tsa-certs.pem" | "consistency.json")
        || rest
            .strip_prefix("checkpoint-")
            .and_then(|r| r.strip_suffix(".txt"))
            .is_some_and(|n| canonical_number(n) && n != "0")
        || rest
            .strip_prefix("token-")
            .and_then(|r| r.strip_suffix(".tsr"))
            .is_some_and(|n| canonical_number(n) && n != "0")
}

/// One checked timestamp of a bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleTimestamp {
    /// The log size it covers.
    pub tree_size: u64,
    pub time: String,
    pub authority: String,
    /// The authority's certificate has expired since the token's time.
    pub certificate_expired: bool,
}

/// Checks the timestamp files of a bundle whose outer files verified: one timestamped
/// checkpoint of the same log, signed by the bundle's key (or one it rotated from), proven
/// to be a prefix of the receipt's checkpoint; tokens numbered from 1, each covering that
/// checkpoint, signed by an authority that chains to `tsa-ca.pem` as at its time.
pub(super) fn check(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    checkpoint: &Checkpoint,
    key: &ed25519_dalek::VerifyingKey,
    receipt: &Receipt,
) -> Result<Vec<BundleTimestamp>, BundleError> {
    let step = "timestamps";
    let ts: Vec<(&String, &Vec<u8>)> = files.iter().filter(|(n, _)| is_timestamp_name(n)).collect();
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let get = |name: &str| files.get(&format!("{DIR}/{name}"));
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .or_else(|_| fail(step, "not text"))
    };
    let notes: Vec<_> = ts
        .iter()
        .filter(|(n, _)| n.contains("/checkpoint-"))
        .collect();
    let [(note_name, note)] = notes.as_slice() else {
        return fail(step, "there must be exactly one timestamped checkpoint");
    };
    let note = text(note)?;
    let proof_json =
        get("consistency.json").map_or_else(|| fail(step, "no consistency.json"), Ok)?;
    let proof: ConsistencyProof =
        serde_json::from_slice(proof_json).or_else(|e| fail(step, e.to_string()))?;
    if proof.old_checkpoint != note || proof.new_checkpoint != checkpoint.note {
        return fail(
            step,
            "the consistency proof is not between these checkpoints",
        );
    }
    // The log's first key: the receipt's rotations lead from it to the bundle's key.
    let first = match receipt.rotations.first() {
        Some(r) => r
            .verify()
            .map(|(old, _)| old)
            .map_or_else(|| fail(step, "a rotation does not verify"), Ok)?,
        None => *key,
    };
    let keys = audit::keys_from(&first, &receipt.rotations);
    if keys.last() != Some(key) {
        return fail(step, "the rotations do not lead to the bundle's key");
    }
    let (old, new) = proof
        .check(&first)
        .or_else(|e| fail(step, format!("the consistency proof: {e}")))?;
    if new.size != checkpoint.size || new.root != checkpoint.root || old.origin != checkpoint.origin
    {
        return fail(step, "the timestamped checkpoint is not of this log");
    }
    if **note_name != format!("{DIR}/checkpoint-{}.txt", old.size) {
        return fail(step, "the timestamped checkpoint's name is not its size");
    }
    let certs = |name: &str| -> Result<Vec<Certificate>, BundleError> {
        match get(name) {
            None => Ok(Vec::new()),
            Some(b) => parse_certificates(b).or_else(|e| fail(step, format!("{name}: {e}"))),
        }
    };
    let ca = certs("tsa-ca.pem")?;
    if ca.is_empty() {
        return fail(step, "no tsa-ca.pem");
    }
    let extra = certs("tsa-certs.pem")?;
    let tokens = ts.iter().filter(|(n, _)| n.contains("/token-")).count();
    if tokens == 0 {
        return fail(step, "no token");
    }
    let imprint = timestamp::imprint(&note);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut out = Vec::new();
    for i in 1..=tokens {
        let name = format!("token-{i}.tsr");
        let der =
            get(&name).map_or_else(|| fail(step, "the tokens are not numbered from 1"), Ok)?;
        let info = timestamp::verify_response(der, &extra, &ca)
            .or_else(|e| fail(step, format!("{name}: {e}")))?;
        if info.imprint != imprint {
            return fail(
                step,
                format!("{name} does not cover the timestamped checkpoint"),
            );
        }
        out.push(BundleTimestamp {
            tree_size: old.size,
            time: info.time,
            authority: info.authority,
            certificate_expired: info.signer_not_after < now,
        });
    }
    Ok(out)
}
