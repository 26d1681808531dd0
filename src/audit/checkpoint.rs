//! Checkpoints of the custody log: C2SP signed notes, parsed as strictly as Go's
//! signed-note and tlog-checkpoint readers; the rotations of the signing key; and consistency
//! proofs between two checkpoints.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Hash, verify_consistency};

/// Errors reading a checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the checkpoint is not in the expected format")]
    Malformed,
    #[error("the checkpoint's signature does not verify with the vault's signing key")]
    BadSignature,
}

/// A signed checkpoint: the log's size and root at one moment.
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The whole signed note, as written.
    pub note: String,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checkpoint({} @ {})", self.origin, self.size)
    }
}

/// The origin line, which is also the signing key's name.
pub fn origin(vault_id: &[u8; 16]) -> String {
    format!("tvault/{}", hex::encode(vault_id))
}

/// The 4-byte key id C2SP signed notes use for an Ed25519 key.
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Checkpoint {
    /// Signs the checkpoint for a tree of `size` leaves with root `root`.
    pub fn sign(origin: &str, size: u64, root: &Hash, key: &SigningKey) -> Self {
        let body = format!("{origin}\n{size}\n{}\n", STANDARD.encode(root));
        let sig = key.sign(body.as_bytes());
        let mut blob = key_id(origin, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        let note = format!("{body}\n\u{2014} {origin} {}\n", STANDARD.encode(blob));
        Checkpoint {
            origin: origin.to_owned(),
            size,
            root: *root,
            note,
        }
    }

    /// Parses a signed note and checks its signature with `key`, as strictly as Go's
    /// `golang.org/x/mod/sumdb/note` (`Open`) and transparency-dev's checkpoint parser, and
    /// stricter where C2SP allows more than tvault writes:
    ///
    /// - text and signatures split at the last blank line; the note ends in a newline, and
    ///   holds no control character but newlines;
    /// - every signature line is `— NAME BASE64` (an em dash, U+2014), NAME without spaces or
    ///   `+`, BASE64 decoding to a 4-byte key id and at least one byte of signature;
    /// - every signature by the known key (the origin as its name, and `key`'s id) must verify,
    ///   and at least one must: a failing one is refused even beside a good one. Signatures by
    ///   other keys are ignored, as a note verifier does;
    /// - the text is exactly three lines (tvault writes no extension lines): a non-empty
    ///   origin, the tree size in decimal without sign or leading zero that fits in 64 bits,
    ///   and the root hash as canonical standard base64 of exactly 32 bytes.
    pub fn verify(note: &str, key: &VerifyingKey) -> Result<Self, NoteError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed);
        }
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed);
        }
        let (origin, size, root) = parse_checkpoint_text(text)?;
        let id = key_id(origin, key);
        let mut verified = false;
        for (n, line) in sigs.split_terminator('\n').enumerate() {
            // As the Go verifier: a bound on the work one note can cause.
            if n >= MAX_NOTE_SIGNATURES {
                return Err(NoteError::Malformed);
            }
            let (name, blob) = parse_signature_line(line)?;
            if name != origin || blob[..4] != id {
                continue;
            }
            let good = Signature::from_slice(&blob[4..])
                .is_ok_and(|sig| key.verify(text.as_bytes(), &sig).is_ok());
            if !good {
                return Err(NoteError::BadSignature);
            }
            verified = true;
        }
        if !verified {
            return Err(NoteError::BadSignature);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            note: note.to_owned(),
        })
    }
}

/// A change of the vault's signing key (at `rekey`): the old key signs the new one, so whoever
/// trusts the old key can follow to the new. Carried in consistency proofs and bundles; the
/// vault keeps them, in order, beside its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The old and the new Ed25519 public keys, and the old key's signature, all base64.
    pub old: String,
    pub new: String,
    pub signature: String,
}

impl Rotation {
    /// The stored form: old key (32) || new key (32) || signature (64).
    pub const LEN: usize = 128;

    fn message(old: &[u8; 32], new: &[u8; 32]) -> Vec<u8> {
        let mut m = b"tvault signing key rotation v1\0".to_vec();
        m.extend_from_slice(old);
        m.extend_from_slice(new);
        m
    }

    pub fn sign(old: &SigningKey, new: &VerifyingKey) -> Self {
        let old_public = old.verifying_key();
        let signature = old.sign(&Self::message(old_public.as_bytes(), new.as_bytes()));
        Rotation {
            old: STANDARD.encode(old_public.as_bytes()),
            new: STANDARD.encode(new.as_bytes()),
            signature: STANDARD.encode(signature.to_bytes()),
        }
    }

    /// The two keys, when the old one signed the new one.
    pub fn verify(&self) -> Option<(VerifyingKey, VerifyingKey)> {
        let key = |b64: &str| {
            let bytes: [u8; 32] = STANDARD.decode(b64).ok()?.try_into().ok()?;
            VerifyingKey::from_bytes(&bytes).ok()
        };
        let (old, new) = (key(&self.old)?, key(&self.new)?);
        let sig: [u8; 64] = STANDARD.decode(&self.signature).ok()?.try_into().ok()?;
        old.verify_strict(
            &Self::message(old.as_bytes(), new.as_bytes()),
            &Signature::from_bytes(&sig),
        )
        .ok()?;
        Some((old, new))
    }

    pub fn to_bytes(&self) -> Option<[u8; Self::LEN]> {
        let mut out = [0u8; Self::LEN];
        let parts = [&self.old, &self.new, &self.signature];
        let mut at = 0;
        for p in parts {
            let b = STANDARD.decode(p).ok()?;
            out.get_mut(at..at + b.len())?.copy_from_slice(&b);
            at += b.len();
        }
        (at == Self::LEN).then_some(out)
    }

    /// Splits the stored form; `None` unless it is whole rotations.
    pub fn parse_all(bytes: &[u8]) -> Option<Vec<Rotation>> {
        if !bytes.len().is_multiple_of(Self::LEN) {
            return None;
        }
        Some(
            bytes
                .chunks_exact(Self::LEN)
                .map(|c| Rotation {
                    old: STANDARD.encode(&c[..32]),
                    new: STANDARD.encode(&c[32..64]),
                    signature: STANDARD.encode(&c[64..]),
                })
                .collect(),
        )
    }
}

/// The keys reachable from `trusted` by following signed rotations in order: `trusted` itself,
/// then each key a reachable key signed over to. Rotations that do not verify, or do not start
/// from a reachable key, are ignored.
pub fn keys_from(trusted: &VerifyingKey, rotations: &[Rotation]) -> Vec<VerifyingKey> {
    let mut keys = vec![*trusted];
    for r in rotations {
        if let Some((old, new)) = r.verify()
            && keys.last() == Some(&old)
        {
            keys.push(new);
        }
    }
    keys
}

/// The most signature lines a note may carry (Go's note package allows 100).
const MAX_NOTE_SIGNATURES: usize = 100;

/// The checkpoint text: origin, tree size and root hash, each line ending in a newline.
fn parse_checkpoint_text(text: &str) -> Result<(&str, u64, Hash), NoteError> {
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let [origin, size, root] = lines.as_slice() else {
        return Err(NoteError::Malformed);
    };
    if origin.is_empty() {
        return Err(NoteError::Malformed);
    }
    let canonical = !size.is_empty()
        && size.bytes().all(|b| b.is_ascii_digit())
        && (*size == "0" || !size.starts_with('0'));
    let size: u64 = canonical
        .then(|| size.parse().ok())
        .flatten()
        .ok_or(NoteError::Malformed)?;
    let root: Hash = STANDARD
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or(NoteError::Malformed)?;
    Ok((origin, size, root))
}

/// One signature line, `— NAME BASE64`: the key name and the decoded key id and signature.
fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), NoteError> {
    let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed)?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
    let valid_name = !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('+');
    let blob = STANDARD.decode(b64).map_err(|_| NoteError::Malformed)?;
    if !valid_name || blob.len() < 5 {
        return Err(NoteError::Malformed);
    }
    Ok((name, blob))
}

/// A consistency proof between two checkpoints, as `audit prove` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// "tvault-consistency-proof/v1".
    pub format: String,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
    /// Base64 hashes, as RFC 9162 orders them.
    pub proof: Vec<String>,
    /// The vault's signing key rotations, oldest first, so that a key trusted before a rotation
    /// leads to the key that signed the newer checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<Rotation>,
}

impl ConsistencyProof {
    pub const FORMAT: &'static str = "tvault-consistency-proof/v1";

    /// Checks both signatures and the proof between them. The keys are `key` and those it
    /// leads to through the rotations: the older checkpoint may be signed by any of them, the
    /// newer one only by the last (a key that was rotated away signs no newer checkpoint).
    pub fn check(&self, key: &VerifyingKey) -> Result<(Checkpoint, Checkpoint), ProofError> {
        if self.format != Self::FORMAT {
            return Err(ProofError::Format);
        }
        let keys = keys_from(key, &self.rotations);
        let last = keys.last().expect("keys_from starts with the trusted key");
        let old = keys
            .iter()
            .map(|k| Checkpoint::verify(&self.old_checkpoint, k))
            .find(Result::is_ok)
            .unwrap_or_else(|| Checkpoint::verify(&self.old_checkpoint, last))
            .map_err(ProofError::Old)?;
        let new = Checkpoint::verify(&self.new_checkpoint, last).map_err(ProofError::New)?;
        if old.origin != new.origin {
            return Err(ProofError::Origin);
        }
        let proof: Vec<Hash> = self
            .proof
            .iter()
            .map(|h| STANDARD.decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or(ProofError::Format)?;
        if !verify_consistency(old.size, new.size, &proof, &old.root, &new.root) {
            return Err(ProofError::Inconsistent);
        }
        Ok((old, new))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof file is not a tvault consistency proof")]
    Format,
    #[error("the older checkpoint: {0}")]
    Old(NoteError),
    #[error("the newer checkpoint: {0}")]
    New(NoteError),
    #[error("the two checkpoints belong to different vaults")]
    Origin,
    #[error("the newer log does not extend the older one: the log was rewritten")]
    Inconsistent,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{consistency_proof, leaf_hash, root};

    #[test]
    fn checkpoints_sign_and_verify_as_signed_notes() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let origin = origin(&[1u8; 16]);
        let cp = Checkpoint::sign(&origin, 5, &[9u8; 32], &key);
        assert!(cp.note.starts_with(&format!("{origin}\n5\n")));
        assert!(cp.note.contains("\n\n\u{2014} tvault/"));
        let back = Checkpoint::verify(&cp.note, &key.verifying_key()).unwrap();
        assert_eq!(back, cp);

        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(Checkpoint::verify(&cp.note, &other.verifying_key()).is_err());
        let edited = cp.note.replacen("\n5\n", "\n6\n", 1);
        assert_eq!(
            Checkpoint::verify(&edited, &key.verifying_key()),
            Err(NoteError::BadSignature)
        );
        assert!(Checkpoint::verify("garbage", &key.verifying_key()).is_err());
    }

    #[test]
    fn a_rotated_key_leads_to_the_new_one_and_signs_nothing_newer() {
        let k0 = SigningKey::from_bytes(&[7; 32]);
        let k1 = SigningKey::from_bytes(&[8; 32]);
        let stranger = SigningKey::from_bytes(&[9; 32]);
        let r = Rotation::sign(&k0, &k1.verifying_key());
        assert_eq!(r.verify(), Some((k0.verifying_key(), k1.verifying_key())));
        assert_eq!(
            Rotation::parse_all(&r.to_bytes().unwrap()),
            Some(vec![r.clone()])
        );
        assert_eq!(Rotation::parse_all(&[0; 127]), None);
        // A rotation the old key did not sign is no rotation.
        let mut forged = Rotation::sign(&stranger, &stranger.verifying_key());
        forged.old = r.old.clone();
        assert_eq!(forged.verify(), None);
        assert_eq!(
            keys_from(&k0.verifying_key(), &[forged, r.clone()]),
            [k0.verifying_key(), k1.verifying_key()]
        );

        let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let origin = "tvault/00";
        let proof_with =
            |old: &SigningKey, new: &SigningKey, rotations: Vec<Rotation>| ConsistencyProof {
                format: ConsistencyProof::FORMAT.into(),
                old_checkpoint: Checkpoint::sign(origin, 3, &root(&leaves[..3]), old).note,
                new_checkpoint: Checkpoint::sign(origin, 5, &root(&leaves), new).note,
                proof: consistency_proof(3, &leaves)
                    .iter()
                    .map(|h| STANDARD.encode(h))
                    .collect(),
                rotations,
            };
        let trusted = k0.verifying_key();
        // Old checkpoint by k0, new by k1, with the rotation: holds.
        assert!(
            proof_with(&k0, &k1, vec![r.clone()])
                .check(&trusted)
                .is_ok()
        );
        // Without the rotation, k1 means nothing to someone who trusts k0.
        assert!(proof_with(&k0, &k1, vec![]).check(&trusted).is_err());
        // After the rotation, a newer checkpoint signed by k0 (an old copy's key) is refused.
        assert!(matches!(
            proof_with(&k0, &k0, vec![r.clone()]).check(&trusted),
            Err(ProofError::New(_))
        ));
        // Someone who trusts k1 only cannot vouch for k0's checkpoint through it.
        assert!(
            proof_with(&k0, &k1, vec![r])
                .check(&k1.verifying_key())
                .is_err()
        );
    }

    /// A signature line by `key` under `name` over `text`, as a note carries it.
    fn sig_line(text: &str, name: &str, key: &SigningKey) -> String {
        let mut blob = key_id(name, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
        format!("\u{2014} {name} {}\n", STANDARD.encode(blob))
    }

    /// A note over `text` correctly signed by `key`, its name the text's first line.
    fn signed(text: &str, key: &SigningKey) -> String {
        let name = text.lines().next().unwrap_or_default();
        format!("{text}\n{}", sig_line(text, name, key))
    }

    const ROOT_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

    #[test]
    fn a_well_formed_note_verifies_and_other_keys_signatures_are_ignored() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let text = format!("tvault/00\n5\n{ROOT_B64}\n");
        let note = signed(&text, &key);
        let cp = Checkpoint::verify(&note, &key.verifying_key()).unwrap();
        assert_eq!(
            (cp.origin.as_str(), cp.size, cp.root),
            ("tvault/00", 5, [9u8; 32])
        );
        // Byte-compatible with what `sign` writes.
        assert_eq!(
            Checkpoint::sign("tvault/00", 5, &[9u8; 32], &key).note,
            note
        );
        // A cosigner's line, before or after, is ignored; a size of zero is canonical.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let cosigned = format!("{note}{}", sig_line(&text, "witness.example", &other));
        assert!(Checkpoint::verify(&cosigned, &key.verifying_key()).is_ok());
        let cosigned = format!(
            "{text}\n{}{}",
            sig_line(&text, "witness.example", &other),
            sig_line(&text, "tvault/00", &key)
        );
        assert!(Checkpoint::verify(&cosigned, &key.verifying_key()).is_ok());
        let zero = signed(&format!("tvault/00\n0\n{ROOT_B64}\n"), &key);
        assert_eq!(
            Checkpoint::verify(&zero, &key.verifying_key())
                .unwrap()
                .size,
            0
        );
    }

    #[test]
    fn a_note_splits_at_its_last_blank_line_and_ends_in_a_newline() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let note = signed(&format!("tvault/00\n5\n{ROOT_B64}\n"), &key);
        let vk = key.verifying_key();
        for bad in [
            // Anything after a second blank line is the signature block, and is not one.
            format!("{note}\nnot a signature\n"),
            format!("{note}\n"),
            // No final newline.
            note.trim_end_matches('\n').to_owned(),
            // No signature block at all.
            format!("tvault/00\n5\n{ROOT_B64}\n"),
            // A control character.
            note.replacen("tvault/00\n", "tvault/00\r\n", 1),
        ] {
            assert_eq!(
                Checkpoint::verify(&bad, &vk),
                Err(NoteError::Malformed),
                "{bad:?}"
            );
        }
        // A blank line inside the text makes it more than three lines.
        let text = format!("tvault/00\n5\n{ROOT_B64}\n\nextension\n");
        assert_eq!(
            Checkpoint::verify(&signed(&text, &key), &vk),
            Err(NoteError::Malformed)
        );
    }

    #[test]
    fn malformed_signature_lines_are_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let text = format!("tvault/00\n5\n{ROOT_B64}\n");
        let good = sig_line(&text, "tvault/00", &key);
        let b64 = good.trim_end().rsplit(' ').next().unwrap().to_owned();
        let vk = key.verifying_key();
        for line in [
            // A hyphen, an en dash, no space after the dash.
            format!("- tvault/00 {b64}\n"),
            format!("\u{2013} tvault/00 {b64}\n"),
            format!("\u{2014}tvault/00 {b64}\n"),
            // A name with a plus; no name; no signature.
            format!("\u{2014} tvault+00 {b64}\n"),
            format!("\u{2014}  {b64}\n"),
            "\u{2014} tvault/00 \n".to_owned(),
            "\u{2014} tvault/00\n".to_owned(),
            // Not base64, or too short to hold a key id and a signature.
            format!("\u{2014} tvault/00 {}!\n", &b64[..b64.len() - 1]),
            format!("\u{2014} tvault/00 {}\n", STANDARD.encode([1, 2, 3, 4])),
            // A blank line among the signatures.
            "\n".to_owned(),
        ] {
            // Beside a good signature, still refused.
            let note = format!("{text}\n{good}{line}");
            assert_eq!(
                Checkpoint::verify(&note, &vk),
                Err(NoteError::Malformed),
                "{line:?}"
            );
        }
        let many = format!("{text}\n{}", good.repeat(101));
        assert_eq!(Checkpoint::verify(&many, &vk), Err(NoteError::Malformed));
        assert!(Checkpoint::verify(&format!("{text}\n{}", good.repeat(100)), &vk).is_ok());
    }

    #[test]
    fn a_failing_signature_by_the_known_key_is_refused_beside_a_good_one() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let text = format!("tvault/00\n5\n{ROOT_B64}\n");
        let good = sig_line(&text, "tvault/00", &key);
        let forged = sig_line(&text.replace("\n5\n", "\n6\n"), "tvault/00", &key);
        let vk = key.verifying_key();
        for note in [
            format!("{text}\n{good}{forged}"),
            format!("{text}\n{forged}{good}"),
        ] {
            assert_eq!(Checkpoint::verify(&note, &vk), Err(NoteError::BadSignature));
        }
        // The known key's id with a signature of the wrong length.
        let mut short = key_id("tvault/00", &vk).to_vec();
        short.extend_from_slice(&[0u8; 10]);
        let note = format!(
            "{text}\n{good}\u{2014} tvault/00 {}\n",
            STANDARD.encode(short)
        );
        assert_eq!(Checkpoint::verify(&note, &vk), Err(NoteError::BadSignature));
        // Only other keys' signatures: nothing vouches for it.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let note = format!("{text}\n{}", sig_line(&text, "tvault/00", &other));
        assert_eq!(Checkpoint::verify(&note, &vk), Err(NoteError::BadSignature));
    }

    #[test]
    fn checkpoint_text_is_parsed_strictly() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let vk = key.verifying_key();
        let short_root = STANDARD.encode([9u8; 31]);
        let long_root = STANDARD.encode([9u8; 33]);
        // The same 32 bytes with the padding's unused bits set: not canonical base64.
        let loose_root = format!("{}J=", &ROOT_B64[..ROOT_B64.len() - 2]);
        for text in [
            format!("tvault/00\n+5\n{ROOT_B64}\n"),
            format!("tvault/00\n-5\n{ROOT_B64}\n"),
            format!("tvault/00\n05\n{ROOT_B64}\n"),
            format!("tvault/00\n00\n{ROOT_B64}\n"),
            format!("tvault/00\n 5\n{ROOT_B64}\n"),
            format!("tvault/00\n5 \n{ROOT_B64}\n"),
            format!("tvault/00\n\n{ROOT_B64}\n"),
            format!("tvault/00\n18446744073709551616\n{ROOT_B64}\n"),
            format!("tvault/00\n\u{0665}\n{ROOT_B64}\n"),
            format!("tvault/00\n5\n{short_root}\n"),
            format!("tvault/00\n5\n{long_root}\n"),
            format!("tvault/00\n5\n{loose_root}\n"),
            format!("tvault/00\n5\n{}\n", ROOT_B64.trim_end_matches('=')),
            format!("tvault/00\n5\n{ROOT_B64}\nan extension line\n"),
            "tvault/00\n5\n".to_owned(),
        ] {
            assert_eq!(
                Checkpoint::verify(&signed(&text, &key), &vk),
                Err(NoteError::Malformed),
                "{text:?}"
            );
        }
        // An empty origin (signed under some name).
        let text = format!("\n5\n{ROOT_B64}\n");
        let note = format!("{text}\n{}", sig_line(&text, "x", &key));
        assert_eq!(Checkpoint::verify(&note, &vk), Err(NoteError::Malformed));
        // The largest size there is still parses.
        let max = signed(&format!("tvault/00\n{}\n{ROOT_B64}\n", u64::MAX), &key);
        assert_eq!(Checkpoint::verify(&max, &vk).unwrap().size, u64::MAX);
    }
}
