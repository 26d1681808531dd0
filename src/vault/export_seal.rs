//! What seals an export and proves its intent: the recipients' keys, what `VERIFY.txt` says
//! opens the payload, and the receipt of the intent event the bundle carries.

use rusqlite::Connection;

use crate::audit;
use crate::bundle::Receipt;
use crate::crypto;
use crate::error::{Error, Integrity, Result};
use crate::store::{self, StoredCheckpoint};

use super::{Seal, Session};

/// The receipt of the export intent just logged in the write transaction `conn` (so the
/// newest event): its inclusion proof in the newest checkpoint, which the bundle carries too, and the event's text.
pub(super) fn intent_receipt(
    s: &Session,
    conn: &Connection,
    export_id: &str,
) -> Result<(Receipt, String, StoredCheckpoint)> {
    let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
    let index = leaves.len() - 1;
    let intent_row = store::events(conn)?
        .pop()
        .ok_or_else(|| Integrity::Log("the intent event vanished".into()))?;
    let intent_json = crypto::open_padded(
        &s.keys.meta,
        &s.event_aad(intent_row.seq),
        &intent_row.sealed,
    )
    .ok_or_else(|| Integrity::Log("the intent event does not authenticate".into()))?;
    let checkpoint =
        store::checkpoint(conn)?.ok_or_else(|| Integrity::Log("no checkpoint".into()))?;
    use base64::Engine;
    let intent_event = String::from_utf8(intent_json.to_vec())
        .map_err(|_| Integrity::Log("the intent event is not text".into()))?;
    let receipt = Receipt {
        format: Receipt::FORMAT.into(),
        event: None,
        leaf_hash: Some(
            base64::engine::general_purpose::STANDARD
                .encode(audit::leaf_hash(intent_event.as_bytes())),
        ),
        export_id: Some(export_id.to_owned()),
        index: index as u64,
        tree_size: leaves.len() as u64,
        proof: audit::inclusion_proof(index, &leaves)
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
            .collect(),
        rotations: audit::Rotation::parse_all(&store::signing_rotations(conn)?)
            .ok_or(Integrity::SigningKey)?,
    };
    Ok((receipt, intent_event, checkpoint))
}

/// The age recipients a bundle is sealed to, and how each is named in the log (an `age1…`
/// key, an OpenSSH fingerprint, or "scrypt passphrase"). Refuses anything else.
pub(super) type Sealing = (Vec<Box<dyn age::Recipient + Send>>, Vec<String>);

pub(super) fn recipients(seal: &Seal) -> Result<Sealing> {
    let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
    let mut fingerprints = Vec::new();
    match seal {
        Seal::Recipients(keys) => {
            for k in keys {
                let k = k.trim();
                if k.starts_with("age1") {
                    let r: age::x25519::Recipient = k
                        .parse()
                        .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                    fingerprints.push(k.to_owned());
                    recipients.push(Box::new(r));
                } else {
                    let r: age::ssh::Recipient = k
                        .parse()
                        .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                    let public = ssh_key::PublicKey::from_openssh(k)
                        .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                    if public.key_data().ed25519().is_none() {
                        return Err(Error::InvalidRecipient(k.to_owned()));
                    }
                    fingerprints.push(public.fingerprint(ssh_key::HashAlg::Sha256).to_string());
                    recipients.push(Box::new(r));
                }
            }
            if recipients.is_empty() {
                return Err(Error::InvalidRecipient("(none given)".into()));
            }
        }
        Seal::Passphrase(p) => {
            fingerprints.push("scrypt passphrase".into());
            recipients.push(Box::new(age::scrypt::Recipient::new(p.clone())));
        }
    }
    Ok((recipients, fingerprints))
}

/// What opens the payload, as `VERIFY.txt` tells its reader (`recipients` has checked each
/// key is an `age1…` or an `ssh-ed25519` one).
pub(super) fn seal_kind(seal: &Seal) -> crate::bundle::SealKind {
    match seal {
        Seal::Recipients(keys) => {
            let age = keys.iter().filter(|k| k.trim().starts_with("age1")).count();
            crate::bundle::SealKind::Keys {
                age: age > 0,
                ssh: age < keys.len(),
            }
        }
        Seal::Passphrase(_) => crate::bundle::SealKind::Passphrase,
    }
}
