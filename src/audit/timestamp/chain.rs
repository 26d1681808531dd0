//! The timestamp authority's certificates: signatures and the chain to a trusted root, as
//! they stood at the token's time.
//!
//! Hand-written on purpose and kept minimal (SECURITY.md, "Trusted timestamps"): general
//! path validators check against the current time, and a timestamp must outlive its
//! authority's certificate. Each certificate must be valid at the token's time and signed by
//! the next; every issuer must be a CA (basicConstraints, keyUsage keyCertSign when given);
//! the authority's own certificate must carry a critical extendedKeyUsage of exactly
//! id-kp-timeStamping; a critical extension not understood here refuses the certificate.
//! No revocation (CRL, OCSP) is checked. The primitives are RustCrypto's: RSA PKCS#1 v1.5
//! (2048 to 4096 bits) and ECDSA on P-256 and P-384, with SHA-256, SHA-384 or SHA-512.

use cms::signed_data::SignerIdentifier;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence};
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::{Result, TimestampError};

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const EXT_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// The most certificates a chain may have, anchor included.
const MAX_DEPTH: usize = 8;

fn chain_err(why: impl Into<String>) -> TimestampError {
    TimestampError::Chain(why.into())
}

/// Certificates from PEM text (one or more `CERTIFICATE` blocks) or one DER certificate.
pub fn parse_certificates(bytes: &[u8]) -> std::result::Result<Vec<Certificate>, String> {
    if bytes.starts_with(b"-----") || bytes.iter().take(64).all(u8::is_ascii) {
        let certs = Certificate::load_pem_chain(bytes).map_err(|e| e.to_string())?;
        if certs.is_empty() {
            return Err("no certificate in it".into());
        }
        return Ok(certs);
    }
    Certificate::from_der(bytes)
        .map(|c| vec![c])
        .map_err(|e| e.to_string())
}

/// The certificate a `SignerInfo` names.
pub(super) fn find_signer<'c>(
    sid: &SignerIdentifier,
    pool: &'c [Certificate],
) -> Option<&'c Certificate> {
    pool.iter().find(|c| match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .tbs_certificate
            .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    })
}

/// A digest by its algorithm identifier (SHA-1 only where RFC 3161's ESSCertID needs it).
pub(super) fn digest(alg: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>> {
    Ok(match alg {
        SHA256 => sha2::Sha256::digest(data).to_vec(),
        SHA384 => sha2::Sha384::digest(data).to_vec(),
        SHA512 => sha2::Sha512::digest(data).to_vec(),
        other => return Err(TimestampError::Unsupported(format!("digest {other}"))),
    })
}

/// `ESSCertID` (RFC 2634) inside `SigningCertificate`.
#[derive(Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

#[derive(Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// `ESSCertIDv2` (RFC 5035) inside `SigningCertificateV2`; the algorithm defaults to SHA-256.
#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// The first `ESSCertID`'s hash (SHA-1) is the signing certificate's.
pub(super) fn check_ess_v1(value: &Any, cert_der: &[u8]) -> Result<()> {
    let sc: SigningCertificate = value
        .decode_as()
        .map_err(|_| TimestampError::Malformed("the signing certificate attribute"))?;
    let first = sc.certs.first().ok_or(TimestampError::Malformed(
        "the signing certificate attribute",
    ))?;
    if first.cert_hash.as_bytes() != sha1::Sha1::digest(cert_der).as_slice() {
        return Err(TimestampError::Signature(
            "the signed certificate hash is not the signing certificate's",
        ));
    }
    Ok(())
}

/// The first `ESSCertIDv2`'s hash is the signing certificate's.
pub(super) fn check_ess_v2(value: &Any, cert_der: &[u8]) -> Result<()> {
    let sc: SigningCertificateV2 = value
        .decode_as()
        .map_err(|_| TimestampError::Malformed("the signing certificate attribute"))?;
    let first = sc.certs.first().ok_or(TimestampError::Malformed(
        "the signing certificate attribute",
    ))?;
    let alg = first.hash_algorithm.as_ref().map_or(SHA256, |a| a.oid);
    if first.cert_hash.as_bytes() != digest(alg, cert_der)? {
        return Err(TimestampError::Signature(
            "the signed certificate hash is not the signing certificate's",
        ));
    }
    Ok(())
}

/// Verifies `signature` over `message` with the key of `spki`. `alg` is a signature
/// algorithm (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, …) or, as CMS allows, the bare
/// key algorithm with the digest in `digest_alg`. A signature that does not verify is a
/// [`TimestampError::Chain`] (the caller says whose).
pub(super) fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    alg: ObjectIdentifier,
    digest_alg: Option<ObjectIdentifier>,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let unsupported = |what: String| TimestampError::Unsupported(what);
    let (rsa, hash) = match alg {
        RSA_SHA256 => (true, SHA256),
        RSA_SHA384 => (true, SHA384),
        RSA_SHA512 => (true, SHA512),
        ECDSA_SHA256 => (false, SHA256),
        ECDSA_SHA384 => (false, SHA384),
        ECDSA_SHA512 => (false, SHA512),
        RSA if digest_alg.is_some() => (true, digest_alg.unwrap_or(SHA256)),
        EC_PUBLIC_KEY if digest_alg.is_some() => (false, digest_alg.unwrap_or(SHA256)),
        other => return Err(unsupported(format!("signature {other}"))),
    };
    if digest_alg.is_some_and(|d| d != hash) {
        return Err(TimestampError::Malformed(
            "the digest and signature algorithms disagree",
        ));
    }
    let hashed = digest(hash, message)?;
    let key_bytes = spki.subject_public_key.raw_bytes();
    let bad = || chain_err("a signature does not verify");
    if rsa {
        if spki.algorithm.oid != RSA {
            return Err(unsupported("an RSA signature by a non-RSA key".into()));
        }
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPublicKey::from_pkcs1_der(key_bytes)
            .map_err(|_| unsupported("an RSA key tvault cannot read (over 4096 bits?)".into()))?;
        if key.size() < 256 {
            return Err(unsupported("an RSA key under 2048 bits".into()));
        }
        let scheme = match hash {
            SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        return key.verify(scheme, &hashed, signature).map_err(|_| bad());
    }
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return Err(unsupported("an ECDSA signature by a non-EC key".into()));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    use ecdsa::signature::hazmat::PrehashVerifier;
    match curve {
        Some(P256) => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                .map_err(|_| chain_err("a P-256 key is not valid"))?;
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            key.verify_prehash(&hashed, &sig).map_err(|_| bad())
        }
        Some(P384) => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                .map_err(|_| chain_err("a P-384 key is not valid"))?;
            let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            key.verify_prehash(&hashed, &sig).map_err(|_| bad())
        }
        _ => Err(unsupported(
            "an elliptic curve other than P-256 or P-384".into(),
        )),
    }
}

/// The certificate's signature is by `issuer`'s key.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> bool {
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        cert.signature_algorithm.oid,
        None,
        &tbs,
        sig,
    )
    .is_ok()
}

fn subject(cert: &Certificate) -> String {
    let s = cert.tbs_certificate.subject.to_string();
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(200)
        .collect()
}

/// Valid at `at` (seconds since the epoch), and no critical extension unknown here.
fn check_cert(cert: &Certificate, at: i64) -> Result<()> {
    let v = &cert.tbs_certificate.validity;
    let from = v.not_before.to_unix_duration().as_secs() as i64;
    let to = v.not_after.to_unix_duration().as_secs() as i64;
    if at < from || at > to {
        return Err(chain_err(format!(
            "the certificate \"{}\" was not valid at the token's time ({} to {})",
            subject(cert),
            super::rfc3339(from),
            super::rfc3339(to)
        )));
    }
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let known = [EXT_BASIC_CONSTRAINTS, EXT_KEY_USAGE, EXT_EXTENDED_KEY_USAGE];
        if ext.critical && !known.contains(&ext.extn_id) {
            return Err(chain_err(format!(
                "the certificate \"{}\" has a critical extension tvault does not check ({})",
                subject(cert),
                ext.extn_id
            )));
        }
    }
    Ok(())
}

/// May sign certificates: basicConstraints cA, and keyCertSign if keyUsage is given.
fn is_ca(cert: &Certificate) -> bool {
    let bc = cert
        .tbs_certificate
        .get::<BasicConstraints>()
        .ok()
        .flatten();
    let ku = cert.tbs_certificate.get::<KeyUsage>();
    bc.is_some_and(|(_, bc)| bc.ca)
        && match ku {
            Ok(None) => true,
            Ok(Some((_, ku))) => ku.0.contains(KeyUsages::KeyCertSign),
            Err(_) => false,
        }
}

/// The authority's own certificate: a critical extendedKeyUsage of exactly timeStamping
/// (RFC 3161 §2.3), and a keyUsage, if any, that allows signatures.
fn check_tsa(cert: &Certificate) -> Result<()> {
    match cert.tbs_certificate.get::<ExtendedKeyUsage>() {
        Ok(Some((true, eku))) if eku.0 == [KP_TIME_STAMPING] => {}
        _ => {
            return Err(chain_err(format!(
                "the certificate \"{}\" is not for timestamping (it needs a critical \
                 extendedKeyUsage of timeStamping alone)",
                subject(cert)
            )));
        }
    }
    match cert.tbs_certificate.get::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, ku)))
            if ku.0.contains(KeyUsages::DigitalSignature)
                || ku.0.contains(KeyUsages::NonRepudiation) =>
        {
            Ok(())
        }
        _ => Err(chain_err("the authority's key may not sign")),
    }
}

/// Walks from the authority's certificate to one of `anchors` through `pool`, every
/// certificate valid at `at` and signed by the next.
pub(super) fn check_chain(
    tsa: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: i64,
) -> Result<()> {
    if anchors.is_empty() {
        return Err(chain_err("no trusted authority certificate was given"));
    }
    check_tsa(tsa)?;
    let mut current = tsa;
    for _ in 0..MAX_DEPTH {
        check_cert(current, at)?;
        if anchors.contains(current) {
            return Ok(());
        }
        let issuer_name = &current.tbs_certificate.issuer;
        if let Some(anchor) = anchors.iter().find(|a| {
            a.tbs_certificate.subject == *issuer_name && is_ca(a) && signed_by(current, a)
        }) {
            return check_cert(anchor, at);
        }
        current = pool
            .iter()
            .find(|c| {
                *c != current
                    && c.tbs_certificate.subject == *issuer_name
                    && is_ca(c)
                    && signed_by(current, c)
            })
            .ok_or_else(|| {
                chain_err(format!(
                    "the certificate \"{}\" was not issued by a trusted authority (--ca-file)",
                    subject(current)
                ))
            })?;
    }
    Err(chain_err("the chain is too long"))
}
