//! Who signed a bundle: the key its `allowed_signers` names, checked against the signer the
//! receiver named, and the signatures made by that key.

use ed25519_dalek::VerifyingKey;
use ssh_key::HashAlg;

use crate::audit;

use super::format::SigCheck;
use super::read::{BundleError, SignerTrust, fail};
use super::{INNER_NAMESPACE, OUTER_NAMESPACE, PRINCIPAL, ssh_verify};

/// Whether `expected` (an OpenSSH key line or a `SHA256:` fingerprint) names `key`.
fn names(expected: &str, key: &VerifyingKey) -> bool {
    let public = ssh_key::PublicKey::new(
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(key.to_bytes())),
        "",
    );
    if expected.starts_with("SHA256:") {
        expected == public.fingerprint(HashAlg::Sha256).to_string()
    } else {
        ssh_key::PublicKey::from_openssh(expected)
            .ok()
            .is_some_and(|k| k.key_data() == public.key_data())
    }
}

/// Reads the signer's key from `allowed_signers`, and checks it against the signer named, if
/// any: that key, or a key it leads to through signed rotations (the last flag says which).
/// Returns the key, its OpenSSH line, its fingerprint and that flag.
///
/// The file must be exactly what tvault writes: one line, naming the principal once, limited
/// to the bundle's two namespaces, with one `ssh-ed25519` key. Anything more would let
/// `ssh-keygen -l -f allowed_signers` show a fingerprint the receiver expects while
/// `ssh-keygen -Y verify` accepts signatures by another key listed beside it.
pub(super) fn signer(
    allowed: &[u8],
    trust: &SignerTrust,
    rotations: &[audit::Rotation],
) -> Result<(VerifyingKey, String, String, bool), BundleError> {
    let step = "identify the signer";
    let text =
        std::str::from_utf8(allowed).or_else(|_| fail(step, "allowed_signers is not text"))?;
    let line = text
        .strip_suffix('\n')
        .filter(|l| !l.contains(['\n', '\r']))
        .map_or_else(
            || {
                fail(
                    step,
                    "allowed_signers must hold exactly one line: one principal and one key",
                )
            },
            Ok,
        )?;
    let (principals, rest) = line.split_once(' ').unwrap_or((line, ""));
    if principals != PRINCIPAL {
        return fail(
            step,
            format!("allowed_signers must name the principal {PRINCIPAL} once, and no other"),
        );
    }
    let (options, key_part) = rest.split_once(' ').unwrap_or((rest, ""));
    if options != format!("namespaces=\"{OUTER_NAMESPACE},{INNER_NAMESPACE}\"") {
        return fail(
            step,
            format!(
                "allowed_signers must limit the key to the namespaces {OUTER_NAMESPACE} and {INNER_NAMESPACE}, with no other option"
            ),
        );
    }
    if !key_part.starts_with("ssh-ed25519 ") {
        return fail(step, "allowed_signers holds no ssh-ed25519 key");
    }
    let public =
        ssh_key::PublicKey::from_openssh(key_part).or_else(|e| fail(step, e.to_string()))?;
    let ed = public
        .key_data()
        .ed25519()
        .map_or_else(|| fail(step, "not an Ed25519 key"), Ok)?;
    let key = VerifyingKey::from_bytes(&ed.0).or_else(|e| fail(step, e.to_string()))?;
    let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
    let mut rotated = false;
    if let SignerTrust::Named(expected) = trust {
        let expected = expected.trim();
        if !names(expected, &key) {
            // An earlier key of the same vault, followed through its rotations to this one.
            let earlier = rotations
                .iter()
                .filter_map(|r| r.verify())
                .map(|(old, _)| old);
            rotated = earlier
                .filter(|old| names(expected, old))
                .any(|old| audit::keys_from(&old, rotations).last() == Some(&key));
            if !rotated {
                return fail(
                    step,
                    format!("the bundle is signed by {fingerprint}, not by the signer given"),
                );
            }
        }
    }
    Ok((key, key_part.to_owned(), fingerprint, rotated))
}

/// Checks an SSHSIG over `msg` by `key`, naming `step` on failure.
pub(super) fn check_sig(
    step: &'static str,
    key: &VerifyingKey,
    namespace: &str,
    msg: &[u8],
    pem: &[u8],
) -> Result<(), BundleError> {
    match ssh_verify(key, namespace, msg, pem) {
        SigCheck::Good => Ok(()),
        SigCheck::OtherKey => fail(
            step,
            "the signature was made by another key than the one allowed_signers names",
        ),
        SigCheck::Bad => fail(step, "the signature does not verify with the signer's key"),
    }
}
