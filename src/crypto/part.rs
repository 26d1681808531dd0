//! Content parts as age v1 files with tvault's own stanza.
//!
//! Each part (a statement or an attachment) is an ordinary age file whose single stanza is
//!
//! ```text
//! -> tvault <base64 192-bit nonce>
//! <base64 XChaCha20-Poly1305(K_wrap, nonce, file key, AAD)>
//! ```
//!
//! where the AAD binds the vault id, record id, version and part number. A part moved to
//! another record, version or slot no longer unwraps. The plaintext is padded with zeros to
//! [`padded_len`](super::padded_len) before encryption; its true size and SHA-256 live in the
//! record's sealed manifest and are checked on every read.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, BufRead, Read, Write};

use age::{DecryptError, EncryptError, Identity, Recipient};
use age_core::format::{FileKey, Stanza};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Key, aad, padded_len, random_array};
use crate::record::RecordId;

const STANZA_TAG: &str = "tvault";
const IO_BUF: usize = 64 * 1024;
/// The buffer [`encrypt`] starts with: a typical statement fits.
const SMALL_BUF: usize = 8 * 1024;

/// Where a part belongs: bound into its stanza's AAD.
#[derive(Debug, Clone, Copy)]
pub struct PartBinding {
    pub vault_id: [u8; 16],
    pub record: RecordId,
    pub version: u32,
    pub part: u32,
}

impl PartBinding {
    fn aad(&self) -> Vec<u8> {
        aad(
            "tvault part v1",
            &[
                &self.vault_id,
                self.record.as_bytes(),
                &self.version.to_be_bytes(),
                &self.part.to_be_bytes(),
            ],
        )
    }
}

/// K_wrap and a binding: an age recipient when writing, an age identity when reading.
pub struct PartKey<'a> {
    pub key: &'a Key,
    pub binding: PartBinding,
}

impl Recipient for PartKey<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        use age::secrecy::ExposeSecret;
        let nonce: [u8; 24] = random_array();
        let cipher = XChaCha20Poly1305::new(self.key.expose_secret().into());
        let body = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: file_key.expose_secret(),
                    aad: &self.binding.aad(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let stanza = Stanza {
            tag: STANZA_TAG.into(),
            args: vec![STANDARD_NO_PAD.encode(nonce)],
            body,
        };
        Ok((vec![stanza], HashSet::new()))
    }
}

impl Identity for PartKey<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let [nonce] = stanza.args.as_slice() else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let nonce = match STANDARD_NO_PAD.decode(nonce) {
            Ok(n) if n.len() == 24 => n,
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        let cipher = XChaCha20Poly1305::new(self.key.expose_secret().into());
        let plain = cipher.decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &stanza.body,
                aad: &self.binding.aad(),
            },
        );
        Some(match plain.map(Zeroizing::new) {
            Ok(k) if k.len() == 16 => Ok(FileKey::init_with_mut(|fk| fk.copy_from_slice(&k))),
            _ => Err(DecryptError::KeyDecryptionFailed),
        })
    }
}

/// What intake learned about a part's plaintext.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub size: u64,
    pub sha256: [u8; 32],
    pub padded_size: u64,
}

/// Why writing a part failed.
#[derive(Debug)]
pub enum EncryptFailure {
    /// Reading the plaintext failed.
    Read(io::Error),
    /// Writing the ciphertext failed.
    Write(io::Error),
}

/// Streams `input` through age into `output` (to `key`: a [`PartKey`], or the X25519
/// recipient of headquarters on a field kit): hashes the plaintext, pads it and encrypts it,
/// holding at most one buffer of it in memory. Returns the output writer.
pub fn encrypt<W: Write>(
    key: &dyn Recipient,
    input: &mut dyn Read,
    output: W,
) -> Result<(Sealed, W), EncryptFailure> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(key))
        .expect("a single recipient is a valid recipient set");
    let mut writer = encryptor
        .wrap_output(output)
        .map_err(EncryptFailure::Write)?;
    let mut hasher = super::ParallelSha256::new();
    let mut size: u64 = 0;
    // Small at first, so that a short text does not cost a 64 KiB buffer to clear and
    // zeroize; once a read fills it, replaced by a full one (the small one zeroized).
    let mut buf = Zeroizing::new(vec![0u8; SMALL_BUF]);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(EncryptFailure::Read(e)),
        };
        size += n as u64;
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(EncryptFailure::Write)?;
        if n == buf.len() && buf.len() < IO_BUF {
            buf = Zeroizing::new(vec![0u8; IO_BUF]);
        }
    }
    let padded_size = padded_len(size);
    buf.fill(0);
    let mut pad = padded_size - size;
    while pad > 0 {
        let n = pad.min(buf.len() as u64) as usize;
        writer.write_all(&buf[..n]).map_err(EncryptFailure::Write)?;
        pad -= n as u64;
    }
    let output = writer.finish().map_err(EncryptFailure::Write)?;
    Ok((
        Sealed {
            size,
            sha256: hasher.finish(),
            padded_size,
        },
        output,
    ))
}

/// Carried inside an `io::Error` by [`PlainReader`] when the plaintext is not what the
/// manifest says.
#[derive(Debug, thiserror::Error)]
#[error("the content does not match its intake size, padding or hash")]
pub struct MismatchError;

/// Reads a part's plaintext: exactly `size` bytes, each only after its chunk authenticates.
/// The last bytes are returned only once the rest of the stream has been read and checked:
/// zero padding to `padded_size`, an authenticated end, and the intake SHA-256.
pub struct PlainReader<R: BufRead> {
    inner: age::stream::StreamReader<R>,
    remaining: u64,
    padding: u64,
    hasher: Sha256,
    sha256: [u8; 32],
    /// Whether the end was checked: `None` until then, and a failure stays a failure.
    end: Option<bool>,
}

/// Opens an age file from `input` with the part's key (or, at headquarters, a field kit's
/// X25519 identity).
pub fn open<R: BufRead>(
    key: &dyn Identity,
    input: R,
    size: u64,
    padded_size: u64,
    sha256: &[u8; 32],
) -> Result<PlainReader<R>, io::Error> {
    let as_io = |e: DecryptError| match e {
        DecryptError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    };
    let decryptor = age::Decryptor::new_buffered(input).map_err(as_io)?;
    let inner = decryptor.decrypt(std::iter::once(key)).map_err(as_io)?;
    if padded_size < size {
        return Err(io::Error::other(MismatchError));
    }
    Ok(PlainReader {
        inner,
        remaining: size,
        padding: padded_size - size,
        hasher: Sha256::new(),
        sha256: *sha256,
        end: None,
    })
}

impl<R: BufRead> PlainReader<R> {
    /// Checks the end once: see [`PlainReader::check_end`].
    fn finish(&mut self) -> io::Result<()> {
        match self.end {
            Some(true) => Ok(()),
            Some(false) => Err(io::Error::other(MismatchError)),
            None => {
                let result = self.check_end();
                self.end = Some(result.is_ok());
                result
            }
        }
    }

    /// Reads the padding to the authenticated end and checks the hash.
    fn check_end(&mut self) -> io::Result<()> {
        // Padding is zeros, but an altered stream could hold anything: zeroize the buffer.
        let mut buf = Zeroizing::new(vec![0u8; (self.padding as usize).clamp(1, IO_BUF)]);
        let mut seen: u64 = 0;
        loop {
            let n = match self.inner.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(io::Error::other(MismatchError));
            }
            seen += n as u64;
        }
        let digest: [u8; 32] = self.hasher.clone().finalize().into();
        if seen != self.padding || digest != self.sha256 {
            return Err(io::Error::other(MismatchError));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for PlainReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Also for an empty part: its end is checked before it reads as empty.
            self.finish()?;
            return Ok(0);
        }
        if out.is_empty() {
            return Ok(0);
        }
        let want = (out.len() as u64).min(self.remaining) as usize;
        let n = self.inner.read(&mut out[..want])?;
        if n == 0 {
            // The stream ended authenticated but short of the manifest's size.
            return Err(io::Error::other(MismatchError));
        }
        self.hasher.update(&out[..n]);
        self.remaining -= n as u64;
        if self.remaining == 0
            && let Err(e) = self.finish()
        {
            out[..n].fill(0);
            return Err(e);
        }
        Ok(n)
    }
}

/// An identity that remembers the file key its [`PartKey`] unwrapped.
struct Capture<'a> {
    key: &'a PartKey<'a>,
    file_key: RefCell<Option<Zeroizing<[u8; 16]>>>,
}

impl Identity for Capture<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        use age::secrecy::ExposeSecret;
        let result = self.key.unwrap_stanza(stanza);
        if let Some(Ok(file_key)) = &result {
            *self.file_key.borrow_mut() = Some(Zeroizing::new(*file_key.expose_secret()));
        }
        result
    }
}

/// Rewrites a part's age header so that `new` opens it instead of `old`. The file key stays,
/// so the payload is untouched. `file` must yield the stored age file from its start (the
/// header and at least the payload nonce). age checks the old header's MAC before the key is
/// used, and the new header is parsed back and opened with `new` before it is returned.
///
/// age has no API to write a header for a given file key, so the header is written here as
/// the age v1 spec has it: the version line, one stanza, and `---` followed by
/// HMAC-SHA256(HKDF-SHA256(file key, salt "", info "header"), everything before the space).
pub fn rewrap_header(
    old: &PartKey<'_>,
    new: &PartKey<'_>,
    file: impl BufRead,
) -> io::Result<Vec<u8>> {
    use age::secrecy::ExposeSecret;
    use hmac::{Hmac, Mac};

    let invalid = |e: DecryptError| match e {
        DecryptError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    };
    let capture = Capture {
        key: old,
        file_key: RefCell::new(None),
    };
    age::Decryptor::new_buffered(file)
        .map_err(invalid)?
        .decrypt(std::iter::once(&capture as &dyn Identity))
        .map_err(invalid)?;
    let captured = capture
        .file_key
        .take()
        .ok_or_else(|| invalid(DecryptError::NoMatchingKeys))?;
    let file_key = FileKey::init_with_mut(|k| k.copy_from_slice(&*captured));

    let (stanzas, _) = new
        .wrap_file_key(&file_key)
        .map_err(|_| io::Error::other("cannot wrap the file key"))?;
    let [stanza] = stanzas.as_slice() else {
        return Err(io::Error::other("one stanza expected"));
    };
    let mut header = b"age-encryption.org/v1\n-> ".to_vec();
    header.extend_from_slice(stanza.tag.as_bytes());
    for arg in &stanza.args {
        header.push(b' ');
        header.extend_from_slice(arg.as_bytes());
    }
    header.push(b'\n');
    // The body in lines of 64 columns; the last line is always shorter (empty if need be).
    let body = STANDARD_NO_PAD.encode(&stanza.body);
    let mut rest = body.as_bytes();
    loop {
        let take = rest.len().min(64);
        header.extend_from_slice(&rest[..take]);
        header.push(b'\n');
        rest = &rest[take..];
        if take < 64 {
            break;
        }
    }
    header.extend_from_slice(b"---");
    let mac_key = age_core::primitives::hkdf(&[], b"header", file_key.expose_secret());
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("HMAC takes any key length");
    mac.update(&header);
    header.push(b' ');
    header.extend_from_slice(
        STANDARD_NO_PAD
            .encode(mac.finalize().into_bytes())
            .as_bytes(),
    );
    header.push(b'\n');

    // Parse it back: the nonce is a placeholder, so only the header (and its MAC) is checked.
    let mut probe = header.clone();
    probe.extend_from_slice(&[0u8; 16]);
    age::Decryptor::new_buffered(probe.as_slice())
        .map_err(invalid)?
        .decrypt(std::iter::once(new as &dyn Identity))
        .map_err(invalid)?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(part: u32) -> PartBinding {
        PartBinding {
            vault_id: [7; 16],
            record: RecordId([9; 16]),
            version: 1,
            part,
        }
    }

    fn roundtrip_input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Reads a whole part: `Ok(plaintext)`, or whether the error was a mismatch.
    fn read_all(
        key: &PartKey<'_>,
        file: &[u8],
        size: u64,
        padded: u64,
        sha256: &[u8; 32],
    ) -> Result<Vec<u8>, bool> {
        let is_mismatch = |e: io::Error| e.get_ref().is_some_and(|i| i.is::<MismatchError>());
        let mut reader = open(key, file, size, padded, sha256).map_err(is_mismatch)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(is_mismatch)?;
        Ok(out)
    }

    #[test]
    fn parts_round_trip_and_bind_their_place() {
        let key = Key::random();
        let pk = PartKey {
            key: &key,
            binding: binding(1),
        };
        for len in [0, 1, 65_535, 65_536, 65_537, 300_000] {
            let plain = roundtrip_input(len);
            let (sealed, file) = encrypt(&pk, &mut plain.as_slice(), Vec::new()).unwrap();
            assert_eq!(sealed.size, len as u64);
            let out =
                read_all(&pk, &file, sealed.size, sealed.padded_size, &sealed.sha256).unwrap();
            assert_eq!(out, plain);

            let elsewhere = PartKey {
                key: &key,
                binding: binding(2),
            };
            let err = read_all(
                &elsewhere,
                &file,
                sealed.size,
                sealed.padded_size,
                &sealed.sha256,
            );
            assert_eq!(err, Err(false), "fails authentication, not a mismatch");
        }
    }

    #[test]
    fn a_rewrapped_header_opens_the_same_payload_with_the_new_key_only() {
        let (old_key, new_key) = (Key::random(), Key::random());
        let old = PartKey {
            key: &old_key,
            binding: binding(1),
        };
        let new = PartKey {
            key: &new_key,
            binding: binding(1),
        };
        for len in [0, 1, 70_000] {
            let plain = roundtrip_input(len);
            let (sealed, file) = encrypt(&old, &mut plain.as_slice(), Vec::new()).unwrap();
            // The MAC line: "--- ", 43 characters of base64, a newline.
            let header_len = file.windows(5).position(|w| w == b"\n--- ").unwrap() + 49;
            let header = rewrap_header(&old, &new, file.as_slice()).unwrap();
            assert!(header.starts_with(b"age-encryption.org/v1\n-> tvault "));
            assert_ne!(header, file[..header_len]);
            let mut rewrapped = header.clone();
            rewrapped.extend_from_slice(&file[header_len..]);
            let read = |key: &PartKey<'_>, file: &[u8]| {
                read_all(key, file, sealed.size, sealed.padded_size, &sealed.sha256)
            };
            assert_eq!(read(&new, &rewrapped).unwrap(), plain);
            assert!(read(&old, &rewrapped).is_err());
            // Only the key that opens the header can rewrap it; a moved part cannot be.
            assert!(rewrap_header(&new, &old, file.as_slice()).is_err());
            let elsewhere = PartKey {
                key: &old_key,
                binding: binding(2),
            };
            assert!(rewrap_header(&elsewhere, &new, file.as_slice()).is_err());
            // A header whose MAC is wrong is refused even with the right key.
            let mut bad = file.clone();
            bad[header_len - 3] ^= 1;
            assert!(rewrap_header(&old, &new, bad.as_slice()).is_err());
        }
    }

    #[test]
    fn a_stock_age_header_is_written() {
        let key = Key::random();
        let pk = PartKey {
            key: &key,
            binding: binding(0),
        };
        let (_, file) = encrypt(&pk, &mut &b"x"[..], Vec::new()).unwrap();
        assert!(file.starts_with(b"age-encryption.org/v1\n-> tvault "));
    }

    #[test]
    fn a_wrong_hash_or_size_is_a_mismatch_not_a_success() {
        let key = Key::random();
        let pk = PartKey {
            key: &key,
            binding: binding(1),
        };
        let plain = roundtrip_input(5000);
        let (sealed, file) = encrypt(&pk, &mut plain.as_slice(), Vec::new()).unwrap();
        let mut wrong = sealed.sha256;
        wrong[0] ^= 1;
        let run = |size, padded, hash: &[u8; 32]| read_all(&pk, &file, size, padded, hash);
        assert!(matches!(run(5000, sealed.padded_size, &wrong), Err(true)));
        assert!(matches!(
            run(4000, sealed.padded_size, &sealed.sha256),
            Err(true)
        ));
        assert!(matches!(
            run(5000, sealed.padded_size + 1, &sealed.sha256),
            Err(true)
        ));
    }

    #[test]
    fn a_part_cut_at_any_chunk_edge_releases_only_a_prefix_and_then_fails() {
        let key = Key::random();
        let pk = PartKey {
            key: &key,
            binding: binding(1),
        };
        let plain = roundtrip_input(200_000);
        let (sealed, file) = encrypt(&pk, &mut plain.as_slice(), Vec::new()).unwrap();
        // The header, the 16-byte nonce, then chunks of 64 KiB plus a 16-byte tag.
        let start = file.windows(5).position(|w| w == b"\n--- ").unwrap() + 49 + 16;
        let chunk = 64 * 1024 + 16;
        let mut cuts = Vec::new();
        let mut edge = start;
        while edge <= file.len() {
            cuts.extend([edge - 1, edge, edge + 1]);
            edge += chunk;
        }
        cuts.extend([file.len() - 1, 0, start / 2]);
        for cut in cuts.into_iter().filter(|&c| c < file.len()) {
            let mut out = Vec::new();
            let result = open(
                &pk,
                &file[..cut],
                sealed.size,
                sealed.padded_size,
                &sealed.sha256,
            )
            .and_then(|mut r| r.read_to_end(&mut out));
            assert!(result.is_err(), "cut at {cut} of {}", file.len());
            assert_eq!(out, plain[..out.len()], "cut at {cut}: not a prefix");
            assert_eq!(out.len() % (64 * 1024), 0, "cut at {cut}: a partial chunk");
        }
    }

    #[test]
    fn an_empty_part_is_checked_to_its_end_too() {
        let key = Key::random();
        let pk = PartKey {
            key: &key,
            binding: binding(1),
        };
        let (sealed, file) = encrypt(&pk, &mut &b""[..], Vec::new()).unwrap();
        let run = |file: &[u8], hash: &[u8; 32]| read_all(&pk, file, 0, sealed.padded_size, hash);
        assert_eq!(run(&file, &sealed.sha256), Ok(Vec::new()));
        let mut wrong = sealed.sha256;
        wrong[0] ^= 1;
        assert_eq!(run(&file, &wrong), Err(true));
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(run(&flipped, &sealed.sha256), Err(false));
        // Asked again after a failure, the reader does not turn it into a clean end.
        let mut reader = open(
            &pk,
            flipped.as_slice(),
            0,
            sealed.padded_size,
            &sealed.sha256,
        )
        .unwrap();
        assert!(reader.read(&mut [0u8; 8]).is_err());
        assert!(reader.read(&mut [0u8; 8]).is_err());
    }
}
