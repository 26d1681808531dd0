//! Keys, secrets and the sealing of small parts. Pure logic: no SQL, no files.
//!
//! - [`Passphrase`] and [`Key`] hold secrets; they cannot be cloned, printed or serialised, and
//!   they leave their box only through `expose_secret()`.
//! - A keyslot wraps the vault master key (VMK) under a key derived from a passphrase
//!   ([`kdf`]); the AAD binds the vault id, the slot id and type, and the KDF parameters, so an
//!   edited slot fails to open instead of opening weaker.
//! - [`VaultKeys`] are the subkeys derived from the VMK with HKDF-SHA256.
//! - [`seal`]/[`open`] are XChaCha20-Poly1305 with a random 192-bit nonce, for metadata,
//!   identities and labels; content parts are age files ([`part`]).
//!
//! Every AAD starts with a distinct context string so that no sealed value can stand in for
//! a value of another kind.

mod header;
pub mod kdf;
pub mod part;
pub mod payload;
pub mod shares;

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::record::RecordId;

pub use header::{HeaderState, header_mac, verify_header_mac};
pub use kdf::KdfParams;

/// Fills an array from the operating system's random number generator.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

/// A 256-bit symmetric key. Not `Clone`: a copy is one more place the key sits in memory;
/// code that needs it in two places shares one copy (`Arc<Key>`).
///
/// ```compile_fail
/// fn copy(key: &tvault::crypto::Key) -> tvault::crypto::Key { key.clone() }
/// ```
pub struct Key(Zeroizing<[u8; 32]>);

impl Key {
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Key(key)
    }

    /// A key with the given bytes (tests and fuzzing build keys this way).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(Zeroizing::new(bytes))
    }

    pub(crate) fn from_fn(fill: impl FnOnce(&mut [u8; 32])) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        fill(&mut key);
        Key(key)
    }

    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

/// Longest passphrase accepted from any source, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 4096;

/// A passphrase, normalised to Unicode NFC so the same words typed on different systems give
/// the same key.
pub struct Passphrase(Zeroizing<Vec<u8>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    #[error("the passphrase is empty")]
    Empty,
    #[error("the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes")]
    TooLong,
    #[error("the passphrase is not valid UTF-8 text")]
    NotUtf8,
}

impl Passphrase {
    /// Takes the raw bytes of a passphrase (without a line ending) and normalises them.
    pub fn from_bytes(raw: Zeroizing<Vec<u8>>) -> Result<Self, PassphraseError> {
        use unicode_normalization::UnicodeNormalization;
        if raw.is_empty() {
            return Err(PassphraseError::Empty);
        }
        if raw.len() > MAX_PASSPHRASE_BYTES {
            return Err(PassphraseError::TooLong);
        }
        let text = std::str::from_utf8(&raw).map_err(|_| PassphraseError::NotUtf8)?;
        // Pre-size so pushing never reallocates and leaves a copy behind. NFC output is at
        // most three times the input's length (Unicode's stated bound for NFC).
        let mut normal = Zeroizing::new(Vec::with_capacity(raw.len() * 3 + 4));
        let mut buf = [0u8; 4];
        for c in text.nfc() {
            normal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        Ok(Passphrase(normal))
    }

    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The passphrase as text, for the strength estimate.
    pub fn expose_secret_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a passphrase is valid UTF-8 by construction")
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([REDACTED])")
    }
}

/// A recovery code: 128 random bits, shown once as eight groups of four hex digits. It opens
/// only the recovery keyslot, never an operator's.
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    pub fn generate() -> Self {
        let bytes = Zeroizing::new(random_array::<16>());
        RecoveryCode(Zeroizing::new(hex::encode(&bytes[..])))
    }

    /// Reads a code as typed: case, spaces and dashes do not matter.
    pub fn parse(typed: &str) -> Option<Self> {
        let mut digits = Zeroizing::new(String::with_capacity(32));
        for c in typed.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            digits.push(c.to_ascii_lowercase());
        }
        (digits.len() == 32 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| RecoveryCode(digits))
    }

    /// The code for people: `1a2b-3c4d-…`.
    pub fn expose_secret_grouped(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(39));
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// The code as the KDF's input.
    pub fn as_passphrase(&self) -> Passphrase {
        Passphrase(Zeroizing::new(self.0.as_bytes().to_vec()))
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

/// SHA-256 that moves to a second thread once more than 1 MiB has passed, then hashes copies
/// of the bytes in batches of 1 MiB, so that hashing large content overlaps the work that
/// produces or consumes it; small content is hashed in place, without a thread. The copies
/// are zeroized once hashed: plaintext may pass through.
pub struct ParallelSha256 {
    batch: Zeroizing<Vec<u8>>,
    /// Before the worker starts.
    here: Option<Sha256>,
    send: Option<std::sync::mpsc::SyncSender<Zeroizing<Vec<u8>>>>,
    worker: Option<std::thread::JoinHandle<[u8; 32]>>,
}

impl Default for ParallelSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl ParallelSha256 {
    const BATCH: usize = 1 << 20;

    pub fn new() -> Self {
        ParallelSha256 {
            batch: Zeroizing::new(Vec::new()),
            here: Some(<Sha256 as sha2::Digest>::new()),
            send: None,
            worker: None,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.batch.extend_from_slice(data);
        if self.batch.len() >= Self::BATCH {
            self.flush_batch();
        }
    }

    fn flush_batch(&mut self) {
        let batch = std::mem::replace(
            &mut self.batch,
            Zeroizing::new(Vec::with_capacity(Self::BATCH)),
        );
        if let Some(mut hasher) = self.here.take() {
            let (send, receive) = std::sync::mpsc::sync_channel::<Zeroizing<Vec<u8>>>(4);
            self.worker = Some(std::thread::spawn(move || {
                for batch in receive {
                    sha2::Digest::update(&mut hasher, &batch);
                }
                sha2::Digest::finalize(hasher).into()
            }));
            self.send = Some(send);
        }
        if let Some(send) = &self.send {
            // The worker only stops when the sender is dropped, so this cannot fail.
            let _ = send.send(batch);
        }
    }

    pub fn finish(mut self) -> [u8; 32] {
        if let Some(mut hasher) = self.here.take() {
            sha2::Digest::update(&mut hasher, &self.batch);
            return sha2::Digest::finalize(hasher).into();
        }
        self.flush_batch();
        self.send = None;
        let worker = self.worker.take().expect("the worker started");
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for ParallelSha256 {
    fn drop(&mut self) {
        self.send = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// What an opened keyslot yields: the master key, and the key its secret derived (which
/// seals the master key in that slot).
pub struct SlotKeys {
    pub vmk: Key,
    pub kek: Key,
}

/// The vault master key and the subkeys derived from it.
pub struct VaultKeys {
    pub vmk: Key,
    pub wrap: Key,
    pub meta: Key,
    pub hdr: Key,
    /// Keys the tags under which import memos are found (`vault::import_memo`).
    pub memo: Key,
}

impl VaultKeys {
    pub fn derive(vmk: Key, vault_id: &[u8; 16]) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(vault_id), vmk.expose_secret());
        let sub = |label: &[u8]| {
            Key::from_fn(|k| {
                hk.expand(label, k)
                    .expect("32 bytes is a valid HKDF-SHA256 output length")
            })
        };
        VaultKeys {
            wrap: sub(b"tvault v1 K_wrap"),
            meta: sub(b"tvault v1 K_meta"),
            hdr: sub(b"tvault v1 K_hdr"),
            memo: sub(b"tvault v1 K_memo"),
            vmk,
        }
    }
}

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` under `key`; the result is `nonce || ciphertext || tag`.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_array();
    let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Reverses [`seal`]. `None` when the value was not sealed under this key and AAD.
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.expose_secret().into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Smallest size any padded plaintext has, so short values all look alike.
pub const MIN_PADDED: u64 = 1024;

/// The padded length for `len` bytes: Padmé (Nikitin et al., "Reducing Metadata Leakage from
/// Encrypted Files and Communication with PURBs", 2019), at least [`MIN_PADDED`]. It leaks
/// O(log log len) bits of the length, for at most about 12 % overhead, 3 % at 1 GiB.
pub fn padded_len(len: u64) -> u64 {
    let len = len.max(MIN_PADDED);
    let e = 63 - u64::from(len.leading_zeros()); // floor(log2 len)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let mask = (1u64 << (e - s)) - 1;
    (len + mask) & !mask
}

/// Seals a small value with a 4-byte length prefix and zero padding to [`padded_len`].
pub fn seal_padded(key: &Key, aad: &[u8], value: &[u8]) -> Vec<u8> {
    let len = u32::try_from(value.len()).expect("sealed values are small");
    let total = padded_len(value.len() as u64 + 4) as usize;
    let mut buf = Zeroizing::new(Vec::with_capacity(total));
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(value);
    buf.resize(total, 0);
    seal(key, aad, &buf)
}

/// Reverses [`seal_padded`].
pub fn open_padded(key: &Key, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut buf = open(key, aad, sealed)?;
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    if len > buf.len() - 4 {
        return None;
    }
    buf.drain(..4);
    buf.truncate(len);
    Some(buf)
}

/// A buffer for plaintext that is reused from one value to the next (the digest buckets a
/// scan opens in turn), so that each value costs neither an allocation nor fresh pages.
/// Wiped on drop, and before it is given up for a larger one, with one bulk write:
/// `Zeroizing<Vec<u8>>` wipes a byte at a time, which for the ~2 GiB of statement text a
/// search of 1,000,000 records opens took about 6 % of the search.
#[derive(Default)]
pub struct SecretBuf(Vec<u8>);

impl SecretBuf {
    /// The first `len` bytes of the buffer, grown (with zeros) if needed. Whatever it held
    /// before may still be in them: the caller overwrites them.
    pub fn resize(&mut self, len: usize) -> &mut [u8] {
        if len > self.0.capacity() {
            self.wipe();
            self.0 = Vec::with_capacity(len);
        }
        self.0.resize(len, 0);
        &mut self.0
    }

    fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
        self.0.clear();
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// [`open_padded`] in the buffer that holds the sealed value, for large values: the
/// plaintext is neither copied nor moved. What is left in `buf` (plaintext, or nothing of
/// use if the value does not open) is the caller's to wipe.
pub fn open_padded_in_place<'a>(key: &Key, aad: &[u8], buf: &'a mut [u8]) -> Option<&'a [u8]> {
    if buf.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let tag_at = buf.len() - TAG_LEN;
    let (nonce, rest) = buf.split_at_mut(NONCE_LEN);
    let (ct, tag) = rest.split_at_mut(tag_at - NONCE_LEN);
    XChaCha20Poly1305::new(key.expose_secret().into())
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            aad,
            ct,
            chacha20poly1305::Tag::from_slice(tag),
        )
        .ok()?;
    let start = NONCE_LEN + 4;
    if tag_at < start {
        return None;
    }
    let len = u32::from_be_bytes(buf[NONCE_LEN..start].try_into().ok()?) as usize;
    if len > tag_at - start {
        return None;
    }
    Some(&buf[start..start + len])
}

/// Builds an AAD: a context string followed by length-prefixed fields, so no two different
/// field lists give the same bytes.
pub fn aad(context: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(context.as_bytes());
    out.push(0);
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// HMAC-SHA256 under `key` of [`aad`]`(context, fields)`.
pub fn mac(key: &Key, context: &str, fields: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret())
        .expect("HMAC takes any key length");
    mac.update(&aad(context, fields));
    mac.finalize().into_bytes().into()
}

/// AAD for a record version's sealed metadata or identity.
pub fn record_aad(context: &str, vault_id: &[u8; 16], record: &RecordId, version: u32) -> Vec<u8> {
    aad(
        context,
        &[vault_id, record.as_bytes(), &version.to_be_bytes()],
    )
}

/// The kind of secret a keyslot opens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    Passphrase,
    Recovery,
    /// Opened by a secret split among custodians ([`shares`]); format 7 on.
    Custodians,
}

impl SlotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Passphrase => "passphrase",
            SlotKind::Recovery => "recovery",
            SlotKind::Custodians => "custodians",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "passphrase" => Some(SlotKind::Passphrase),
            "recovery" => Some(SlotKind::Recovery),
            "custodians" => Some(SlotKind::Custodians),
            _ => None,
        }
    }
}

/// How the secret of a custodians keyslot was split: any `threshold` of `shares` recover it.
/// Public (`status` shows it), and bound into the slot's AAD, so the header MAC covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub threshold: u8,
    pub shares: u8,
}

/// A keyslot as stored: everything in it is public except what `wrapped` and `label` seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyslot {
    pub slot_id: [u8; 16],
    pub kind: SlotKind,
    pub kdf: KdfParams,
    /// Set when the slot was created with parameters below the floor, on explicit request.
    pub weak_kdf: bool,
    pub salt: Vec<u8>,
    /// The VMK sealed under the KEK.
    pub wrapped: Vec<u8>,
    /// The operator's name sealed under K_meta.
    pub label: Vec<u8>,
    /// A custodians slot's K and N (`None` for every other kind).
    pub split: Option<Split>,
    /// The operator's personal signing key (format 8): `None` until the operator's first
    /// unlock on a vault made before, and for recovery and custodians slots.
    pub operator_key: Option<OperatorKey>,
}

/// An operator's personal Ed25519 key as a keyslot stores it: the public half, and the
/// secret sealed under a key derived from the operator's own passphrase (never the master
/// key), so no other operator can use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    pub public: [u8; 32],
    pub sealed: Vec<u8>,
}

impl Keyslot {
    fn wrap_aad(&self, vault_id: &[u8; 16]) -> Vec<u8> {
        let (m, t, p) = (
            self.kdf.m_kib.to_be_bytes(),
            self.kdf.t.to_be_bytes(),
            self.kdf.p.to_be_bytes(),
        );
        let weak = [u8::from(self.weak_kdf)];
        let split = self.split.map(|s| [s.threshold, s.shares]);
        let mut fields: Vec<&[u8]> = vec![
            vault_id,
            &self.slot_id,
            self.kind.as_str().as_bytes(),
            &m,
            &t,
            &p,
            &weak,
            &self.salt,
        ];
        // Only custodians slots have a split: every other slot's AAD (and so the header MAC
        // of every older vault) is what it was.
        if let Some(split) = &split {
            fields.push(split);
        }
        aad("tvault keyslot v1", &fields)
    }

    fn label_aad(&self, vault_id: &[u8; 16]) -> Vec<u8> {
        aad("tvault keyslot label v1", &[vault_id, &self.slot_id])
    }

    /// Creates a slot that opens the vault's master key with `passphrase`. Runs the KDF once.
    pub fn create(
        vault_id: &[u8; 16],
        kind: SlotKind,
        kdf: KdfParams,
        weak_kdf: bool,
        passphrase: &Passphrase,
        keys: &VaultKeys,
        label: &str,
    ) -> crate::Result<Self> {
        Self::create_keyed(vault_id, kind, kdf, weak_kdf, passphrase, keys, label)
            .map(|(slot, _)| slot)
    }

    /// [`Keyslot::create`], also returning the key the passphrase derived.
    pub fn create_keyed(
        vault_id: &[u8; 16],
        kind: SlotKind,
        kdf: KdfParams,
        weak_kdf: bool,
        passphrase: &Passphrase,
        keys: &VaultKeys,
        label: &str,
    ) -> crate::Result<(Self, Key)> {
        Self::create_split(
            vault_id,
            (random_array(), kind, None),
            kdf,
            weak_kdf,
            passphrase,
            keys,
            label,
        )
    }

    /// [`Keyslot::create_keyed`] with a given slot id and split (a custodians slot, whose id
    /// its shares name).
    pub fn create_split(
        vault_id: &[u8; 16],
        (slot_id, kind, split): ([u8; 16], SlotKind, Option<Split>),
        kdf: KdfParams,
        weak_kdf: bool,
        passphrase: &Passphrase,
        keys: &VaultKeys,
        label: &str,
    ) -> crate::Result<(Self, Key)> {
        let mut slot = Keyslot {
            slot_id,
            kind,
            kdf,
            weak_kdf,
            salt: random_array::<32>().to_vec(),
            wrapped: Vec::new(),
            label: Vec::new(),
            split,
            operator_key: None,
        };
        let kek = kdf::derive(passphrase, &slot.salt, &slot.kdf)?;
        slot.wrapped = seal(&kek, &slot.wrap_aad(vault_id), keys.vmk.expose_secret());
        slot.label = seal_padded(&keys.meta, &slot.label_aad(vault_id), label.as_bytes());
        Ok((slot, kek))
    }

    /// Tries to open the slot. The KDF parameters are bounds-checked before anything is
    /// allocated; `Ok(None)` means the passphrase does not open this slot.
    pub fn unlock(
        &self,
        vault_id: &[u8; 16],
        passphrase: &Passphrase,
    ) -> crate::Result<Option<SlotKeys>> {
        self.kdf.check_bounds()?;
        let kek = kdf::derive(passphrase, &self.salt, &self.kdf)?;
        let Some(vmk) = open(&kek, &self.wrap_aad(vault_id), &self.wrapped) else {
            return Ok(None);
        };
        let Ok(bytes) = <[u8; 32]>::try_from(vmk.as_slice()) else {
            return Ok(None);
        };
        Ok(Some(SlotKeys {
            vmk: Key::from_fn(|k| k.copy_from_slice(&bytes)),
            kek,
        }))
    }

    /// The same slot (id, salt, KDF cost, operator) sealing a new master key: for rekey,
    /// with the key its secret derived when it was opened. Runs no KDF.
    pub fn rewrap(&self, vault_id: &[u8; 16], kek: &Key, keys: &VaultKeys, label: &str) -> Self {
        let mut slot = self.clone();
        slot.wrapped = seal(kek, &slot.wrap_aad(vault_id), keys.vmk.expose_secret());
        slot.label = seal_padded(&keys.meta, &slot.label_aad(vault_id), label.as_bytes());
        slot
    }

    fn operator_key_aad(&self, vault_id: &[u8; 16], public: &[u8; 32]) -> Vec<u8> {
        aad("tvault operator key v1", &[vault_id, &self.slot_id, public])
    }

    /// The key that seals the operator's signing key: HKDF-SHA256 of the key the slot's
    /// passphrase derived, so only that passphrase opens it.
    fn operator_sealing_key(kek: &Key) -> Key {
        let hk = hkdf::Hkdf::<Sha256>::new(None, kek.expose_secret());
        Key::from_fn(|k| {
            hk.expand(b"tvault operator signing key v1", k)
                .expect("32 bytes is a valid HKDF-SHA256 length")
        })
    }

    /// Seals `signing` into this slot as its operator's personal key, under `kek` (the key
    /// this slot's passphrase derived).
    pub fn set_operator_key(
        &mut self,
        vault_id: &[u8; 16],
        kek: &Key,
        signing: &ed25519_dalek::SigningKey,
    ) {
        let public = signing.verifying_key().to_bytes();
        let secret = Zeroizing::new(signing.to_bytes());
        let sealed = seal(
            &Self::operator_sealing_key(kek),
            &self.operator_key_aad(vault_id, &public),
            secret.as_ref(),
        );
        self.operator_key = Some(OperatorKey { public, sealed });
    }

    /// Opens the operator's personal key with `kek`. `None` when the slot has none, or it
    /// does not open under this key and place (then the slot was tampered with).
    pub fn operator_key(
        &self,
        vault_id: &[u8; 16],
        kek: &Key,
    ) -> Option<Option<ed25519_dalek::SigningKey>> {
        let Some(stored) = &self.operator_key else {
            return Some(None);
        };
        let secret = open(
            &Self::operator_sealing_key(kek),
            &self.operator_key_aad(vault_id, &stored.public),
            &stored.sealed,
        )?;
        let bytes: [u8; 32] = secret.as_slice().try_into().ok()?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&bytes);
        (signing.verifying_key().to_bytes() == stored.public).then_some(Some(signing))
    }

    /// The operator's name, once the vault is unlocked.
    pub fn label(&self, vault_id: &[u8; 16], keys: &VaultKeys) -> Option<String> {
        let bytes = open_padded(&keys.meta, &self.label_aad(vault_id), &self.label)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests;
