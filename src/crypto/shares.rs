//! Custodian shares: the secret of the custodians keyslot, split with Shamir's scheme into N
//! shares of which any K recover it, and each share's text file. Pure: no SQL, no files.
//!
//! The splitting and combining are `vsss-rs`'s byte-wise Shamir over GF(2^8) (the AES field,
//! constant-time, no lookup tables); this module holds no field arithmetic. Each byte of the
//! 32-byte secret is the constant term of its own random polynomial of degree K - 1; a share
//! is the polynomials' values at its index (1 to N). Fewer than K shares say nothing about the
//! secret; Shamir's scheme does not authenticate shares, so the file carries a checksum (a
//! mistyped share is named, not silently combined) and the keyslot's AEAD tells a wrong
//! combination from a right one.
//!
//! The share file (docs/custodians.md describes it for the custodians who keep one):
//!
//! ```text
//! tvault custodian share v1
//! vault:     <vault id, 32 hex digits>
//! split:     <the custodians keyslot's id, 32 hex digits>
//! threshold: K
//! shares:    N
//! index:     I
//! share:     <32 bytes, 64 hex digits in groups of four>
//! check:     <8 hex digits>
//! ```
//!
//! Lines starting with `#` and blank lines are ignored; case, spaces and dashes in the hex do
//! not matter. `check` is the first 4 bytes of SHA-256 over "tvault custodian share v1" and
//! every field before it, so a mistyped digit anywhere is caught (with probability 1 - 2^-32).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::Passphrase;

/// The first line of every share file.
pub const SHARE_HEADER: &str = "tvault custodian share v1";

/// Length of the custodians secret, and so of every share's value.
pub const SECRET_LEN: usize = 32;

/// The secret that opens the custodians keyslot: 256 random bits, never stored whole.
pub struct CustodianSecret(Zeroizing<[u8; SECRET_LEN]>);

impl CustodianSecret {
    pub fn generate() -> Self {
        CustodianSecret(Zeroizing::new(super::random_array()))
    }

    /// The secret as the KDF's input (its hex digits), like a recovery code.
    pub fn as_passphrase(&self) -> Passphrase {
        Passphrase(Zeroizing::new(hex::encode(&self.0[..]).into_bytes()))
    }
}

impl std::fmt::Debug for CustodianSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustodianSecret([REDACTED])")
    }
}

/// One custodian's share, and what it belongs to.
pub struct Share {
    pub vault_id: [u8; 16],
    /// The id of the custodians keyslot this split opens: a new split makes a new slot.
    pub split_id: [u8; 16],
    pub threshold: u8,
    pub shares: u8,
    /// 1 to `shares`: the point the polynomials were evaluated at.
    pub index: u8,
    value: Zeroizing<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("vault_id", &hex::encode(self.vault_id))
            .field("split_id", &hex::encode(self.split_id))
            .field("threshold", &self.threshold)
            .field("shares", &self.shares)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Why shares cannot be read or combined. Positions count from 0 in the order given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("not a tvault custodian share")]
    NotAShare,
    #[error("a custodian share of a newer format ({0}): update tvault")]
    UnknownVersion(String),
    #[error("the share's {0} line is missing or malformed")]
    Field(&'static str),
    #[error("the share's checksum does not match: a digit was mistyped or the file was damaged")]
    Checksum,
    #[error("shares {0} and {1} belong to different splits (or vaults)")]
    Mixed(usize, usize),
    #[error("shares {0} and {1} are the same custodian's share (index {2})")]
    Duplicate(usize, usize, u8),
    #[error("{have} share(s) given, {need} needed")]
    TooFew { have: usize, need: usize },
}

/// Splits `secret` into `shares` shares of which any `threshold` recover it.
pub fn split(
    secret: &CustodianSecret,
    vault_id: [u8; 16],
    split_id: [u8; 16],
    threshold: u8,
    shares: u8,
) -> Vec<Share> {
    assert!(
        (2..=shares).contains(&threshold),
        "the caller checked 2 <= threshold <= shares"
    );
    let mut raw = vsss_rs::Gf256::split_bytes(
        usize::from(threshold),
        usize::from(shares),
        &secret.0[..],
        OsRng010,
    )
    .expect("threshold and share count were checked and the secret is not empty");
    let out = raw
        .iter()
        .map(|s| {
            let mut value = Zeroizing::new([0u8; SECRET_LEN]);
            value.copy_from_slice(&s[1..]);
            Share {
                vault_id,
                split_id,
                threshold,
                shares,
                index: s[0],
                value,
            }
        })
        .collect();
    raw.iter_mut().for_each(|s| s.zeroize());
    out
}

/// Checks that `shares` are distinct shares of one split, and at least its threshold of
/// them, without combining them.
pub fn combine_check(shares: &[Share]) -> Result<(), ShareError> {
    let first = shares
        .first()
        .ok_or(ShareError::TooFew { have: 0, need: 2 })?;
    for (i, s) in shares.iter().enumerate().skip(1) {
        if (s.vault_id, s.split_id, s.threshold, s.shares)
            != (
                first.vault_id,
                first.split_id,
                first.threshold,
                first.shares,
            )
        {
            return Err(ShareError::Mixed(0, i));
        }
        if let Some(j) = shares[..i].iter().position(|o| o.index == s.index) {
            return Err(ShareError::Duplicate(j, i, s.index));
        }
    }
    if shares.len() < usize::from(first.threshold) {
        return Err(ShareError::TooFew {
            have: shares.len(),
            need: usize::from(first.threshold),
        });
    }
    Ok(())
}

/// Recovers the secret from at least `threshold` shares of one split.
pub fn combine(shares: &[Share]) -> Result<CustodianSecret, ShareError> {
    combine_check(shares)?;
    let mut raw: Vec<Vec<u8>> = shares
        .iter()
        .map(|s| {
            let mut v = Vec::with_capacity(SECRET_LEN + 1);
            v.push(s.index);
            v.extend_from_slice(&s.value[..]);
            v
        })
        .collect();
    let combined = vsss_rs::Gf256::combine_bytes(&raw);
    raw.iter_mut().for_each(|s| s.zeroize());
    let combined = Zeroizing::new(combined.map_err(|_| ShareError::Field("share"))?);
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    if combined.len() != SECRET_LEN {
        return Err(ShareError::Field("share"));
    }
    secret.copy_from_slice(&combined);
    Ok(CustodianSecret(secret))
}

impl Share {
    fn checksum(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(SHARE_HEADER.as_bytes());
        h.update(self.vault_id);
        h.update(self.split_id);
        h.update([self.threshold, self.shares, self.index]);
        h.update(&self.value[..]);
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// The share file's text.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(1024));
        let grouped = |bytes: &[u8], out: &mut String| {
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 && i % 2 == 0 {
                    out.push('-');
                }
                let _ = write!(out, "{b:02x}");
            }
        };
        let _ = write!(
            out,
            "{SHARE_HEADER}\n\
             # Share {} of {} of a tvault vault's custodians keyslot: any {} of the {} shares,\n\
             # brought together with `tvault recover --share FILE ...`, set a new passphrase for\n\
             # an operator. Keep it apart from the other shares; fewer than {} reveal nothing.\n\
             vault:     {}\nsplit:     {}\nthreshold: {}\nshares:    {}\nindex:     {}\nshare:     ",
            self.index,
            self.shares,
            self.threshold,
            self.shares,
            self.threshold,
            hex::encode(self.vault_id),
            hex::encode(self.split_id),
            self.threshold,
            self.shares,
            self.index,
        );
        grouped(&self.value[..], &mut out);
        out.push_str("\ncheck:     ");
        grouped(&self.checksum(), &mut out);
        out.push('\n');
        out
    }

    /// Reads a share file's text.
    pub fn parse(text: &str) -> Result<Share, ShareError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some(SHARE_HEADER) => {}
            Some(l) if l.starts_with("tvault custodian share ") => {
                return Err(ShareError::UnknownVersion(
                    l["tvault custodian share ".len()..]
                        .chars()
                        .take(16)
                        .collect(),
                ));
            }
            _ => return Err(ShareError::NotAShare),
        }
        let mut field = |name: &'static str| -> Result<Zeroizing<String>, ShareError> {
            let line = lines.next().ok_or(ShareError::Field(name))?;
            let (key, value) = line.split_once(':').ok_or(ShareError::Field(name))?;
            if key.trim() != name {
                return Err(ShareError::Field(name));
            }
            let mut clean = Zeroizing::new(String::with_capacity(value.len()));
            for c in value.chars().filter(|c| !c.is_whitespace() && *c != '-') {
                clean.push(c.to_ascii_lowercase());
            }
            Ok(clean)
        };
        fn hex_array<const N: usize>(
            text: &str,
            name: &'static str,
        ) -> Result<Zeroizing<[u8; N]>, ShareError> {
            let mut out = Zeroizing::new([0u8; N]);
            hex::decode_to_slice(text, &mut out[..]).map_err(|_| ShareError::Field(name))?;
            Ok(out)
        }
        let number = |text: &str, name: &'static str| -> Result<u8, ShareError> {
            text.parse::<u8>().map_err(|_| ShareError::Field(name))
        };
        let vault_id = *hex_array::<16>(&field("vault")?, "vault")?;
        let split_id = *hex_array::<16>(&field("split")?, "split")?;
        let threshold = number(&field("threshold")?, "threshold")?;
        let shares = number(&field("shares")?, "shares")?;
        let index = number(&field("index")?, "index")?;
        let value = hex_array::<SECRET_LEN>(&field("share")?, "share")?;
        let check = *hex_array::<4>(&field("check")?, "check")?;
        if threshold < 2 || shares < threshold {
            return Err(ShareError::Field("threshold"));
        }
        if index == 0 || index > shares {
            return Err(ShareError::Field("index"));
        }
        let share = Share {
            vault_id,
            split_id,
            threshold,
            shares,
            index,
            value,
        };
        use subtle::ConstantTimeEq;
        if !bool::from(share.checksum().ct_eq(&check)) {
            return Err(ShareError::Checksum);
        }
        Ok(share)
    }
}

/// The operating system's random number generator (rand 0.8's `OsRng`), for the rand_core
/// 0.10 traits vsss-rs takes.
struct OsRng010;

impl rand_core_010::TryRng for OsRng010 {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::RngCore::next_u32(&mut rand::rngs::OsRng))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::RngCore::next_u64(&mut rand::rngs::OsRng))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, dst);
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for OsRng010 {}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(bytes: [u8; 32]) -> CustodianSecret {
        CustodianSecret(Zeroizing::new(bytes))
    }

    fn share(index: u8, hex_value: &str) -> Share {
        let mut value = Zeroizing::new([0u8; SECRET_LEN]);
        hex::decode_to_slice(hex_value, &mut value[..]).unwrap();
        Share {
            vault_id: [1; 16],
            split_id: [2; 16],
            threshold: 3,
            shares: 5,
            index,
            value,
        }
    }

    /// Shares of the secret 10 11 … 2f, 3 of 5, computed outside this crate with an
    /// independent GF(2^8) (polynomial x^8 + x^4 + x^3 + x + 1) from fixed coefficients.
    const VECTORS: [&str; 5] = [
        "34f38446ecb44f84524274997ddbb7cfb6b05901017287cd0673c8dd2884a45c",
        "5e2ec31ca72e296434f6d0bf6cd6048898ad2cbdb9dccf379d258ef5b24ec30e",
        "7acc55495f8f70f77eadbe3d0d10ad580e3c579f9c8b6eddb37f6c03b6e7497d",
        "94c21eaf12f06ad296a3cd9202fb7d9a41c0f341748b1956d0e78e2865434a5c",
        "b02088faea513341dcf8a310633dd44ad751886351dcb8bcfebd6cde61eac02f",
    ];

    #[test]
    fn any_three_of_the_test_vectors_give_the_secret_and_two_do_not() {
        let expected: Vec<u8> = (0x10..0x30).collect();
        for a in 1..=5u8 {
            for b in a + 1..=5 {
                for c in b + 1..=5 {
                    let got = combine(&[
                        share(a, VECTORS[a as usize - 1]),
                        share(b, VECTORS[b as usize - 1]),
                        share(c, VECTORS[c as usize - 1]),
                    ])
                    .unwrap();
                    assert_eq!(&got.0[..], &expected[..], "{a} {b} {c}");
                }
                let two = [
                    share(a, VECTORS[a as usize - 1]),
                    share(b, VECTORS[b as usize - 1]),
                ];
                assert_eq!(
                    combine(&two).unwrap_err(),
                    ShareError::TooFew { have: 2, need: 3 }
                );
            }
        }
    }

    #[test]
    fn split_then_combine_round_trips_and_texts_parse_back() {
        let s = secret(crate::crypto::random_array());
        let shares = split(&s, [7; 16], [8; 16], 3, 5);
        assert_eq!(shares.len(), 5);
        let parsed: Vec<Share> = shares
            .iter()
            .map(|sh| Share::parse(&sh.to_text()).unwrap())
            .collect();
        let got = combine(&parsed[1..4]).unwrap();
        assert_eq!(&got.0[..], &s.0[..]);
        assert_eq!(parsed[4].index, 5);
        assert_eq!((parsed[0].threshold, parsed[0].shares), (3, 5));
    }

    #[test]
    fn a_mistyped_digit_fails_the_checksum() {
        let s = secret([9; 32]);
        let text = split(&s, [7; 16], [8; 16], 2, 3)[0].to_text();
        let at = text.find("share:").unwrap() + 12;
        let mut typo = text.to_string();
        let c = typo.as_bytes()[at];
        let replacement = if c == b'a' { "b" } else { "a" };
        typo.replace_range(at..at + 1, replacement);
        assert_eq!(Share::parse(&typo).unwrap_err(), ShareError::Checksum);
        assert_eq!(Share::parse("hello").unwrap_err(), ShareError::NotAShare);
        let newer = text.replace("share v1", "share v2");
        assert!(matches!(
            Share::parse(&newer).unwrap_err(),
            ShareError::UnknownVersion(_)
        ));
    }

    #[test]
    fn mixed_and_duplicate_shares_are_named() {
        let a = split(&secret([1; 32]), [7; 16], [8; 16], 2, 3);
        let b = split(&secret([2; 32]), [7; 16], [9; 16], 2, 3);
        let copy = Share::parse(&a[0].to_text()).unwrap();
        let other = Share::parse(&b[1].to_text()).unwrap();
        let first = Share::parse(&a[0].to_text()).unwrap();
        assert_eq!(
            combine(&[first, other]).unwrap_err(),
            ShareError::Mixed(0, 1)
        );
        let first = Share::parse(&a[0].to_text()).unwrap();
        assert_eq!(
            combine(&[first, copy]).unwrap_err(),
            ShareError::Duplicate(0, 1, 1)
        );
    }
}
