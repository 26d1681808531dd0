//! RFC 3161 trusted timestamps of signed checkpoints. Pure: bytes in, facts out.
//!
//! A request is a `TimeStampReq` holding only the SHA-256 of a checkpoint note (the whole
//! signed note, its signature included), a random nonce and `certReq`; nothing else about the
//! vault. A response is checked here against what was asked: its status, the token's CMS
//! signature (RFC 5652 signed attributes, RFC 5035 signing-certificate binding) and the
//! authority's certificate chain as it stood at the token's own time (`chain.rs`), so a token
//! stays valid after its authority's certificate expires. The ASN.1 is the RustCrypto formats
//! crates' (`x509-tsp`, `cms`, `x509-cert`, `der`); only `TSTInfo` is declared here, because
//! `der`'s `GeneralizedTime` refuses the fractional seconds many authorities send.

use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString};
use der::oid::db::rfc5912::ID_SHA_256;
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

mod chain;

pub use chain::parse_certificates;

/// Why a timestamp response (or a stored token) is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("the file is not an RFC 3161 timestamp response ({0})")]
    Malformed(&'static str),
    #[error("the authority did not grant the timestamp (status {status}{text})")]
    NotGranted { status: u8, text: String },
    #[error(
        "the response is for another request: its hash matches no pending request of this vault"
    )]
    OtherRequest,
    #[error(
        "the response's nonce is not the request's: it answers another request, or was replayed"
    )]
    Nonce,
    #[error("the response names another policy than the request asked for")]
    Policy,
    #[error("the token's signature does not verify ({0})")]
    Signature(&'static str),
    #[error("the authority's certificate chain does not check out at the token's time: {0}")]
    Chain(String),
    #[error("the token uses an algorithm tvault does not check ({0})")]
    Unsupported(String),
}

type Result<T> = std::result::Result<T, TimestampError>;

/// `id-ct-TSTInfo`.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-signedData`.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ATTR_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ATTR_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// A request ready to send, and what its answer must match.
pub struct Request {
    /// The DER `TimeStampReq` (a `.tsq` file).
    pub der: Vec<u8>,
    /// SHA-256 of the checkpoint note.
    pub imprint: [u8; 32],
    /// The nonce, as the bytes of a positive DER INTEGER.
    pub nonce: Vec<u8>,
}

/// The SHA-256 imprint a timestamp of `note` covers.
pub fn imprint(note: &str) -> [u8; 32] {
    Sha256::digest(note.as_bytes()).into()
}

/// Builds the request for a checkpoint note with `random` as its nonce (62 bits of it are
/// used: the value is kept positive and eight bytes long).
pub fn request(note: &str, random: [u8; 8]) -> Request {
    let mut nonce = random;
    nonce[0] = (nonce[0] & 0x3f) | 0x40;
    let imprint = imprint(note);
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: sha256_imprint(&imprint),
        req_policy: None,
        nonce: Some(Int::new(&nonce).expect("a positive eight-byte integer")),
        cert_req: true,
        extensions: None,
    };
    Request {
        der: req.to_der().expect("a request encodes"),
        imprint,
        nonce: nonce.to_vec(),
    }
}

fn sha256_imprint(hash: &[u8; 32]) -> MessageImprint {
    MessageImprint {
        hash_algorithm: AlgorithmIdentifier {
            oid: ID_SHA_256,
            parameters: Some(Any::null()),
        },
        hashed_message: OctetString::new(hash.to_vec()).expect("32 bytes"),
    }
}

/// `TSTInfo` (RFC 3161 §2.4.2), with `genTime` kept raw: authorities may add fractions of a
/// second, which `der`'s `GeneralizedTime` refuses.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// What a checked token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's time, in seconds since the epoch (fractions dropped), and as RFC 3339.
    pub gen_time: i64,
    pub time: String,
    /// The authority: its `tsa` name when the token gives one, else the signing
    /// certificate's subject.
    pub authority: String,
    pub policy: String,
    /// The token's serial number, hex.
    pub serial: String,
    pub imprint: [u8; 32],
    /// The nonce's integer bytes, when there is one.
    pub nonce: Option<Vec<u8>>,
    /// When the signing certificate stops being valid (seconds since the epoch).
    pub signer_not_after: i64,
}

/// The token (a CMS `ContentInfo`) from a `TimeStampResp`, once its status grants it.
pub fn token_of_response(response: &[u8]) -> Result<Vec<u8>> {
    let resp = TimeStampResp::from_der(response)
        .map_err(|_| TimestampError::Malformed("not a TimeStampResp"))?;
    let status = resp.status.status as u8;
    if status > 1 {
        let text = resp
            .status
            .status_string
            .as_ref()
            .map(|t| {
                let joined: Vec<String> = t.iter().map(|s| s.as_str().to_owned()).collect();
                format!(": {}", sanitize(&joined.join("; ")))
            })
            .unwrap_or_default();
        return Err(TimestampError::NotGranted { status, text });
    }
    let token = resp
        .time_stamp_token
        .ok_or(TimestampError::Malformed("granted, but no token"))?;
    token
        .to_der()
        .map_err(|_| TimestampError::Malformed("the token does not encode"))
}

/// Text from a response, safe to show: printable ASCII only, at most 200 characters.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

/// Checks a response: its status, then [`verify_token`]. Returns the token's facts; the
/// caller matches them with the request.
pub fn verify_response(
    response: &[u8],
    extra_certs: &[Certificate],
    anchors: &[Certificate],
) -> Result<TokenInfo> {
    let token = token_of_response(response)?;
    verify_token(&token, extra_certs, anchors)
}

/// Checks a token: a CMS `SignedData` over a `TSTInfo`, one signer, signed attributes with
/// the content type, the digest of the `TSTInfo` and the signing certificate's hash; the
/// signature by that certificate's key; and the certificate's chain to one of `anchors`,
/// every certificate valid at the token's time. `extra_certs` may hold the authority's
/// certificate and intermediates when the token does not carry them.
pub fn verify_token(
    token: &[u8],
    extra_certs: &[Certificate],
    anchors: &[Certificate],
) -> Result<TokenInfo> {
    let bad = TimestampError::Malformed;
    let ci = cms::content_info::ContentInfo::from_der(token).map_err(|_| bad("not CMS"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(bad("not CMS signed data"));
    }
    let sd = cms::signed_data::SignedData::from_der(
        &ci.content.to_der().map_err(|_| bad("signed data"))?,
    )
    .map_err(|_| bad("not CMS signed data"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad("the signed content is not a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(bad("no signed content"))?;
    if econtent.tag() != Tag::OctetString {
        return Err(bad("the signed content is not an octet string"));
    }
    let tst_der = econtent.value();
    let tst = TstInfo::from_der(tst_der).map_err(|_| bad("not a TSTInfo"))?;
    let gen_time = generalized_time(&tst.gen_time).ok_or(bad("its time is not a valid time"))?;

    let signers: Vec<_> = sd.signer_infos.0.iter().collect();
    let [signer] = signers.as_slice() else {
        return Err(bad("a token has exactly one signer"));
    };
    let mut pool: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    pool.extend(extra_certs.iter().cloned());
    let cert = chain::find_signer(&signer.sid, &pool).ok_or_else(|| {
        TimestampError::Chain(
            "the token's signing certificate is neither in the token nor given (--tsa-cert)".into(),
        )
    })?;

    // Signed attributes: required for a TSTInfo (RFC 5652 §5.3: any content type other than
    // id-data), holding the content type and the content's digest.
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or(bad("no signed attributes"))?;
    let digest_alg = signer.digest_alg.oid;
    let single = |oid: ObjectIdentifier| -> Result<Option<&Any>> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.iter().next()),
            _ => Err(bad("a signed attribute is repeated")),
        }
    };
    let content_type = single(ATTR_CONTENT_TYPE)?
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or(bad("no content type attribute"))?;
    if content_type != ID_CT_TST_INFO {
        return Err(bad("the content type attribute is not TSTInfo"));
    }
    let digest = single(ATTR_MESSAGE_DIGEST)?
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or(bad("no message digest attribute"))?;
    if chain::digest(digest_alg, tst_der)? != digest.as_bytes() {
        return Err(TimestampError::Signature(
            "the signed digest is not the TSTInfo's",
        ));
    }
    // The signing certificate's hash (RFC 3161 §2.4.1, RFC 5816): binds the signature to
    // this certificate, not only to its key.
    let cert_der = cert.to_der().map_err(|_| bad("certificate"))?;
    match (single(ATTR_SIGNING_CERT_V2)?, single(ATTR_SIGNING_CERT)?) {
        (Some(v2), _) => chain::check_ess_v2(v2, &cert_der)?,
        (None, Some(v1)) => chain::check_ess_v1(v1, &cert_der)?,
        (None, None) => return Err(bad("no signing certificate attribute")),
    }
    let signed = attrs.to_der().map_err(|_| bad("signed attributes"))?;
    chain::verify_signature(
        &cert.tbs_certificate.subject_public_key_info,
        signer.signature_algorithm.oid,
        Some(digest_alg),
        &signed,
        signer.signature.as_bytes(),
    )
    .map_err(|e| match e {
        TimestampError::Chain(_) => TimestampError::Signature("by the signing certificate"),
        other => other,
    })?;

    chain::check_chain(cert, &pool, anchors, gen_time)?;

    if tst.message_imprint.hash_algorithm.oid != ID_SHA_256 {
        return Err(TimestampError::OtherRequest);
    }
    let imprint: [u8; 32] = tst
        .message_imprint
        .hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| TimestampError::OtherRequest)?;
    let authority = match &tst.tsa {
        Some(GeneralName::DirectoryName(name)) => name.to_string(),
        Some(GeneralName::DnsName(name)) => name.to_string(),
        Some(GeneralName::UniformResourceIdentifier(uri)) => uri.to_string(),
        _ => cert.tbs_certificate.subject.to_string(),
    };
    Ok(TokenInfo {
        gen_time,
        time: rfc3339(gen_time),
        authority: sanitize(&authority),
        policy: tst.policy.to_string(),
        serial: hex::encode(tst.serial_number.as_bytes()),
        imprint,
        nonce: tst.nonce.as_ref().map(|n| n.as_bytes().to_vec()),
        signer_not_after: cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs() as i64,
    })
}

/// Checks that a token answers a request: the same imprint, nonce and (when asked for)
/// policy.
pub fn matches_request(
    info: &TokenInfo,
    imprint: &[u8; 32],
    nonce: &[u8],
    policy: Option<&str>,
) -> Result<()> {
    if &info.imprint != imprint {
        return Err(TimestampError::OtherRequest);
    }
    if info.nonce.as_deref() != Some(nonce) {
        return Err(TimestampError::Nonce);
    }
    if policy.is_some_and(|p| p != info.policy) {
        return Err(TimestampError::Policy);
    }
    Ok(())
}

/// A `GeneralizedTime` as RFC 3161 allows it (`YYYYMMDDhhmmss[.f…]Z`), in whole seconds since
/// the epoch.
fn generalized_time(any: &Any) -> Option<i64> {
    if any.tag() != Tag::GeneralizedTime {
        return None;
    }
    let text = std::str::from_utf8(any.value()).ok()?;
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    // RFC 3161: a fraction has no trailing zeros, and is absent rather than empty.
    if fraction
        .is_some_and(|f| f.is_empty() || f.ends_with('0') || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| whole[r].parse::<u16>().ok();
    let time = GeneralizedTime::from_date_time(
        der::DateTime::new(
            n(0..4)?,
            n(4..6)? as u8,
            n(6..8)? as u8,
            n(8..10)? as u8,
            n(10..12)? as u8,
            n(12..14)? as u8,
        )
        .ok()?,
    );
    Some(time.to_unix_duration().as_secs() as i64)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_only_the_imprint_a_nonce_and_cert_req() {
        let r = request("note\n", [0xff; 8]);
        let parsed = TimeStampReq::from_der(&r.der).unwrap();
        assert_eq!(parsed.message_imprint.hash_algorithm.oid, ID_SHA_256);
        assert_eq!(
            parsed.message_imprint.hashed_message.as_bytes(),
            imprint("note\n")
        );
        assert!(parsed.cert_req);
        assert!(parsed.req_policy.is_none() && parsed.extensions.is_none());
        let nonce = parsed.nonce.unwrap();
        assert_eq!(nonce.as_bytes(), r.nonce.as_slice());
        assert_eq!(r.nonce.len(), 8);
        assert_eq!(r.nonce[0] & 0xc0, 0x40);
    }

    #[test]
    fn generalized_times_with_and_without_fractions() {
        let any = |s: &str| Any::new(Tag::GeneralizedTime, s.as_bytes()).unwrap();
        assert_eq!(generalized_time(&any("19700101000001Z")), Some(1));
        assert_eq!(generalized_time(&any("19700101000001.25Z")), Some(1));
        for bad in [
            "19700101000001.Z",
            "19700101000001.50Z",
            "19700101000001",
            "1970010100001Z",
            "19701301000001Z",
            "19700101000001+0100",
        ] {
            assert_eq!(generalized_time(&any(bad)), None, "{bad}");
        }
        let utc = Any::new(Tag::UtcTime, b"700101000001Z".as_slice()).unwrap();
        assert_eq!(generalized_time(&utc), None);
    }

    /// A response by stock `openssl ts -reply` (a self-signed authority, the fuzz seed)
    /// verifies against that certificate, and no changed byte panics or still verifies.
    #[test]
    fn an_openssl_response_verifies_and_no_changed_byte_does() {
        let response = include_bytes!("../../fuzz/seeds/timestamp/response.tsr");
        let anchors =
            parse_certificates(include_bytes!("../../fuzz/seeds/timestamp/tsa.pem")).unwrap();
        let info = verify_response(response, &[], &anchors).unwrap();
        assert_eq!(info.imprint, <[u8; 32]>::from(Sha256::digest(b"hello\n")));
        assert_eq!(info.policy, "1.2.3.4.1");
        assert!(matches!(
            verify_response(response, &[], &[]),
            Err(TimestampError::Chain(_))
        ));
        for i in 0..response.len() {
            let mut changed = response.to_vec();
            changed[i] ^= 0x20;
            let checked = verify_response(&changed, &[], &anchors);
            // Only the unsigned status text, if any, may change without notice.
            if let Ok(other) = checked {
                assert_eq!(other, info, "byte {i}");
            }
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x03\x30\x01\x02",
            &[0x30, 0x82, 0xff],
        ] {
            assert!(matches!(
                verify_response(bytes, &[], &[]),
                Err(TimestampError::Malformed(_))
            ));
            assert!(verify_token(bytes, &[], &[]).is_err());
        }
    }
}
