//! Reading a large part's age payload on every core.
//!
//! The age crate decrypts a payload on one thread. For large parts (`cat`, `verify`) this
//! module composes the same STREAM construction from the primitives age itself uses, so
//! that chunks are decrypted on every core and the intake SHA-256 runs on a thread of its
//! own:
//!
//! - the header is parsed, its stanza unwrapped and its MAC checked by the age crate (an
//!   [`Identity`] that remembers the file key it unwrapped);
//! - the payload key is HKDF-SHA256(salt = the payload's 16-byte nonce, info = "payload",
//!   ikm = file key) through `age_core::primitives::hkdf`;
//! - chunk `i` (64 KiB of plaintext and a 16-byte tag) is ChaCha20-Poly1305 with the nonce
//!   `i` as 11 big-endian bytes followed by the last-chunk flag (1 for the last chunk, else
//!   0), and no associated data.
//!
//! The number of chunks is not taken from the stream but from the sealed manifest's
//! padded size, so the last flag is demanded exactly where the manifest says the stream
//! ends: a truncated stream, a dropped, duplicated or reordered chunk, a last chunk moved to
//! the middle or a chunk taken from another part all fail to authenticate. A chunk's
//! plaintext is written out only once it (and every chunk of its batch) authenticated, in
//! order. The batch holding the last bytes of the content is withheld until the whole rest
//! of the stream has authenticated, its padding is zeros, nothing follows it, and the
//! SHA-256 of the content matches the intake hash: the same promise as
//! [`super::part::PlainReader`], which still reads small parts. The module's tests check
//! that both readers agree with the age crate byte for byte.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use age::Identity;
use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use sha2::{Digest, Sha256};

use crate::fs::read_full;
use zeroize::Zeroizing;

use super::part::MismatchError;

/// Plaintext bytes per STREAM chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks per batch by default (1 MiB of plaintext): a unit of work for a thread.
pub const BATCH_CHUNKS: usize = 16;

/// Why reading a part failed: its input (the store, or the content not authenticating or
/// not matching its manifest) or the output.
#[derive(Debug)]
pub enum ReadFailure {
    Input(io::Error),
    Output(io::Error),
}

/// What the sealed manifest says about a part's content.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub size: u64,
    pub padded_size: u64,
    pub sha256: [u8; 32],
}

impl Expected {
    /// The number of STREAM chunks: an empty payload is still one (empty, last) chunk.
    fn chunks(&self) -> u64 {
        self.padded_size.div_ceil(CHUNK as u64).max(1)
    }

    /// The plaintext length of chunk `i`.
    fn chunk_len(&self, i: u64) -> usize {
        if i + 1 < self.chunks() {
            CHUNK
        } else {
            (self.padded_size - (self.chunks() - 1) * CHUNK as u64) as usize
        }
    }
}

/// An identity that tries each of `inner` in turn, as the age crate does with a list of
/// identities, and remembers the file key the first one that matched unwrapped.
struct Capture<'a> {
    inner: &'a [&'a dyn Identity],
    file_key: Mutex<Option<Zeroizing<[u8; 16]>>>,
}

impl<'a> Capture<'a> {
    fn new(inner: &'a [&'a dyn Identity]) -> Self {
        Capture {
            inner,
            file_key: Mutex::new(None),
        }
    }

    fn remember(
        &self,
        result: Option<Result<FileKey, age::DecryptError>>,
    ) -> Option<Result<FileKey, age::DecryptError>> {
        if let Some(Ok(file_key)) = &result {
            *self.file_key.lock().expect("not poisoned") =
                Some(Zeroizing::new(*file_key.expose_secret()));
        }
        result
    }

    /// The file key, once the age crate accepted the header (its MAC included).
    fn file_key(&self) -> Result<Zeroizing<[u8; 16]>, age::DecryptError> {
        self.file_key
            .lock()
            .expect("not poisoned")
            .take()
            .ok_or(age::DecryptError::NoMatchingKeys)
    }
}

impl Identity for Capture<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.remember(self.inner.iter().find_map(|i| i.unwrap_stanza(stanza)))
    }

    // Each identity's own rules for a whole header (a plugin's, say) are kept.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        self.remember(self.inner.iter().find_map(|i| i.unwrap_stanzas(stanzas)))
    }
}

fn invalid(e: age::DecryptError) -> io::Error {
    match e {
        age::DecryptError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

/// The payload key of an age file: the age crate parses `header`, unwraps its stanza with
/// `identity` and checks its MAC; the key is then derived from the file key and `nonce` as
/// age does.
fn payload_key(
    identity: &dyn Identity,
    header: &[u8],
    nonce: &[u8; 16],
) -> io::Result<Zeroizing<[u8; 32]>> {
    let identities = [identity];
    let capture = Capture::new(&identities);
    let mut file = Vec::with_capacity(header.len() + nonce.len());
    file.extend_from_slice(header);
    file.extend_from_slice(nonce);
    let mut rest = file.as_slice();
    // `decrypt` returns only once the MAC over the header checked out.
    age::Decryptor::new_buffered(&mut rest)
        .map_err(invalid)?
        .decrypt(std::iter::once(&capture as &dyn Identity))
        .map_err(invalid)?;
    if !rest.is_empty() {
        // The header row held more than a header.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "trailing data after the age header",
        ));
    }
    let file_key = capture.file_key().map_err(invalid)?;
    Ok(Zeroizing::new(age_core::primitives::hkdf(
        nonce, b"payload", &*file_key,
    )))
}

/// One batch of consecutive chunks, sealed on the way in and plaintext (in place, each
/// chunk at its sealed offset) on the way out.
struct Batch {
    index: u64,
    first_chunk: u64,
    chunks: usize,
    buf: Zeroizing<Vec<u8>>,
    authentic: bool,
}

impl Batch {
    /// The plaintext of each chunk, in order, with its offset in the content.
    fn plaintext<'b>(
        &'b self,
        expected: &'b Expected,
    ) -> impl Iterator<Item = (u64, &'b [u8])> + 'b {
        let mut at = 0;
        (0..self.chunks).map(move |j| {
            let i = self.first_chunk + j as u64;
            let len = expected.chunk_len(i);
            let slice = &self.buf[at..at + len];
            at += len + 16;
            (i * CHUNK as u64, slice)
        })
    }

    /// The content (not padding) bytes of the batch.
    fn content<'b>(&'b self, expected: &'b Expected) -> impl Iterator<Item = &'b [u8]> + 'b {
        self.plaintext(expected)
            .filter(|(at, _)| *at < expected.size)
            .map(|(at, slice)| &slice[..(expected.size - at).min(slice.len() as u64) as usize])
    }
}

/// What comes back to the reading thread.
enum Event {
    Decrypted(Batch),
    /// A buffer the hasher is done with.
    Free(Zeroizing<Vec<u8>>),
    /// The withheld batch, hashed.
    Held(Batch),
}

/// Decrypts chunks of a batch in place with the payload key.
fn decrypt_batch(cipher: &ChunkCipher, expected: &Expected, batch: &mut Batch) {
    let last = expected.chunks() - 1;
    let mut at = 0;
    batch.authentic = true;
    for j in 0..batch.chunks {
        let i = batch.first_chunk + j as u64;
        let len = expected.chunk_len(i);
        if !cipher.open(i, i == last, &mut batch.buf[at..at + len + 16]) {
            batch.authentic = false;
            return;
        }
        at += len + 16;
    }
}

/// The payload key of a STREAM, opening its chunks: ChaCha20-Poly1305 from `ring`, whose
/// assembly takes about two thirds of the RustCrypto crates' time here (the age crate, which
/// writes every stream, uses those). `ring` does not wipe its key when it is dropped
/// (SECURITY.md, secrets in memory).
pub(crate) struct ChunkCipher(ring::aead::LessSafeKey);

impl ChunkCipher {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key)
            .expect("32 bytes are a ChaCha20-Poly1305 key");
        ChunkCipher(ring::aead::LessSafeKey::new(key))
    }

    /// Opens chunk `i` in place: `sealed` is its ciphertext then its 16-byte tag. Whether it
    /// authenticated; when it did not, the ciphertext is left as it was.
    pub(crate) fn open(&self, i: u64, last: bool, sealed: &mut [u8]) -> bool {
        let Some(text_len) = sealed.len().checked_sub(16) else {
            return false;
        };
        let (text, tag) = sealed.split_at_mut(text_len);
        let tag: [u8; 16] = (&*tag).try_into().expect("split at 16 bytes from the end");
        self.0
            .open_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(chunk_nonce(i, last)),
                ring::aead::Aad::empty(),
                ring::aead::Tag::from(tag),
                text,
                0..,
            )
            .is_ok()
    }
}

/// The STREAM nonce of chunk `i`: 11 big-endian counter bytes (the top three are zero for
/// any u64 counter), then the last-chunk flag.
fn chunk_nonce(i: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&i.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "age file is truncated")
}

fn not_authentic() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "decryption error")
}

/// Decrypts the age file made of `header` and `payload` (from its 16-byte nonce to its
/// end) with `identity`, writing the content (the first `expected.size` bytes of the
/// plaintext) to `out`, with the guarantees of the module documentation.
pub fn decrypt(
    identity: &dyn Identity,
    header: &[u8],
    payload: &mut dyn Read,
    expected: &Expected,
    out: &mut dyn Write,
) -> Result<(), ReadFailure> {
    decrypt_in_batches(identity, header, payload, expected, out, BATCH_CHUNKS)
}

/// [`decrypt`] with `batch_chunks` chunks per batch (small in tests).
pub(crate) fn decrypt_in_batches(
    identity: &dyn Identity,
    header: &[u8],
    payload: &mut dyn Read,
    expected: &Expected,
    out: &mut dyn Write,
    batch_chunks: usize,
) -> Result<(), ReadFailure> {
    if expected.padded_size < expected.size {
        return Err(ReadFailure::Input(io::Error::other(MismatchError)));
    }
    let mut nonce = [0u8; 16];
    if read_full(payload, &mut nonce).map_err(ReadFailure::Input)? < nonce.len() {
        return Err(ReadFailure::Input(truncated()));
    }
    let key = payload_key(identity, header, &nonce).map_err(ReadFailure::Input)?;
    let cipher = ChunkCipher::new(&key);
    drop(key);

    // The hash is the one step that cannot be spread: it gets a core of its own, and the
    // chunks are decrypted on the others (sharing one core with it when there is only one).
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .saturating_sub(1)
        .clamp(1, 8);
    let (job_tx, job_rx) = channel::<Batch>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (event_tx, event_rx) = channel::<Event>();
    let (hash_tx, hash_rx) = sync_channel::<(Batch, bool)>(workers + 2);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (job_rx, event_tx, cipher) = (Arc::clone(&job_rx), event_tx.clone(), &cipher);
            scope.spawn(move || {
                loop {
                    let job = job_rx.lock().expect("not poisoned").recv();
                    let Ok(mut batch) = job else { return };
                    decrypt_batch(cipher, expected, &mut batch);
                    if event_tx.send(Event::Decrypted(batch)).is_err() {
                        return;
                    }
                }
            });
        }
        let hasher = {
            let event_tx = event_tx.clone();
            scope.spawn(move || hash(expected, &hash_rx, &event_tx))
        };
        drop(event_tx);
        let pipeline = Pipeline {
            expected,
            batch_chunks,
            buffers: workers * 2 + 3,
            job_tx,
            hash_tx,
            event_rx,
        };
        // `run` owns the channels: once it returns, every thread ends.
        pipeline.run(payload, out, hasher)
    })
}

/// The hashing thread: hashes the content and checks that the padding is zeros, in batch
/// order; gives each buffer back (the withheld batch whole). Returns the digest and whether
/// the padding was all zeros.
fn hash(
    expected: &Expected,
    batches: &Receiver<(Batch, bool)>,
    events: &Sender<Event>,
) -> ([u8; 32], bool) {
    let mut hasher = Sha256::new();
    let mut zeros = true;
    for (batch, held) in batches {
        for (at, slice) in batch.plaintext(expected) {
            let content = (expected.size.saturating_sub(at)).min(slice.len() as u64) as usize;
            hasher.update(&slice[..content]);
            zeros &= slice[content..].iter().all(|&b| b == 0);
        }
        let event = if held {
            Event::Held(batch)
        } else {
            Event::Free(batch.buf)
        };
        if events.send(event).is_err() {
            break;
        }
    }
    (hasher.finalize().into(), zeros)
}

/// The reading thread's side: reads sealed batches, hands them to the workers, writes the
/// decrypted ones in order and passes them on to the hasher.
struct Pipeline<'e> {
    expected: &'e Expected,
    batch_chunks: usize,
    /// At most this many batch buffers exist at once.
    buffers: usize,
    job_tx: Sender<Batch>,
    hash_tx: SyncSender<(Batch, bool)>,
    event_rx: Receiver<Event>,
}

impl Pipeline<'_> {
    fn run(
        self,
        payload: &mut dyn Read,
        out: &mut dyn Write,
        hasher: std::thread::ScopedJoinHandle<'_, ([u8; 32], bool)>,
    ) -> Result<(), ReadFailure> {
        let Pipeline {
            expected,
            batch_chunks,
            buffers,
            job_tx,
            hash_tx,
            event_rx,
        } = self;
        let chunks = expected.chunks();
        let batches = chunks.div_ceil(batch_chunks as u64);
        // The batch holding the content's last byte waits for every check.
        let held = expected
            .size
            .checked_sub(1)
            .map(|last| last / CHUNK as u64 / batch_chunks as u64);
        let (mut sent, mut written, mut allocated) = (0u64, 0u64, 0usize);
        let mut free: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut decrypted: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut withheld: Option<Batch> = None;
        let mut job_tx = Some(job_tx);
        loop {
            while sent < batches && (allocated < buffers || !free.is_empty()) {
                let mut buf = free.pop().unwrap_or_else(|| {
                    allocated += 1;
                    Zeroizing::new(Vec::new())
                });
                let first_chunk = sent * batch_chunks as u64;
                let n = (chunks - first_chunk).min(batch_chunks as u64) as usize;
                let len: usize = (0..n)
                    .map(|j| expected.chunk_len(first_chunk + j as u64) + 16)
                    .sum();
                buf.resize(len, 0);
                if read_full(payload, &mut buf).map_err(ReadFailure::Input)? < len {
                    return Err(ReadFailure::Input(truncated()));
                }
                if sent + 1 == batches
                    && read_full(payload, &mut [0u8; 1]).map_err(ReadFailure::Input)? != 0
                {
                    // Longer than the manifest says: not the stream that was sealed.
                    return Err(ReadFailure::Input(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "data after the last chunk",
                    )));
                }
                let batch = Batch {
                    index: sent,
                    first_chunk,
                    chunks: n,
                    buf,
                    authentic: false,
                };
                job_tx
                    .as_ref()
                    .expect("open while batches are sent")
                    .send(batch)
                    .map_err(|_| ReadFailure::Input(io::Error::other("a worker stopped")))?;
                sent += 1;
                if sent == batches {
                    job_tx = None;
                }
            }
            if written == batches {
                break;
            }
            match event_rx.recv() {
                Ok(Event::Decrypted(batch)) => {
                    decrypted.insert(batch.index, batch);
                }
                Ok(Event::Free(buf)) => free.push(buf),
                Ok(Event::Held(batch)) => withheld = Some(batch),
                Err(_) => return Err(ReadFailure::Input(io::Error::other("a worker stopped"))),
            }
            while let Some(batch) = decrypted.remove(&written) {
                if !batch.authentic {
                    return Err(ReadFailure::Input(not_authentic()));
                }
                let is_held = held == Some(batch.index);
                if !is_held {
                    for slice in batch.content(expected) {
                        out.write_all(slice).map_err(ReadFailure::Output)?;
                    }
                }
                hash_tx
                    .send((batch, is_held))
                    .map_err(|_| ReadFailure::Input(io::Error::other("the hasher stopped")))?;
                written += 1;
            }
        }
        drop(hash_tx);
        // The hasher may still hand back the withheld batch.
        let (digest, zeros) = hasher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        while withheld.is_none() && held.is_some() {
            match event_rx.recv() {
                Ok(Event::Held(batch)) => withheld = Some(batch),
                Ok(_) => {}
                Err(_) => return Err(ReadFailure::Input(io::Error::other("the hasher stopped"))),
            }
        }
        if !zeros || digest != expected.sha256 {
            return Err(ReadFailure::Input(io::Error::other(MismatchError)));
        }
        if let Some(batch) = withheld {
            for slice in batch.content(expected) {
                out.write_all(slice).map_err(ReadFailure::Output)?;
            }
        }
        Ok(())
    }
}

pub mod stream;

#[cfg(test)]
mod tests;
