//! Reading a whole age file of unknown length on every core: the bundle's `payload.age`.
//!
//! [`super::decrypt`] knows from a sealed manifest how many chunks a part has. An age file
//! from elsewhere does not say: as in the age crate, its last chunk is the one that ends at
//! the end of the input. This module reads such a file with the same STREAM construction
//! (see [`super`]): the age crate parses the header, unwraps its stanza with the identities
//! given (an X25519 key, or scrypt for a passphrase) and checks its MAC; the chunks are then
//! read in batches by a reading thread, decrypted on every core and handed, in order, to a
//! reader on the caller's thread.
//!
//! Every chunk but the one ending at the end of the input must authenticate with the
//! last-chunk flag clear, and that one with the flag set; an empty last chunk is accepted
//! only as the whole payload (an empty file), and a file with no chunk at all is truncated.
//! So a truncated stream, a dropped, duplicated or reordered chunk, a last chunk moved to the
//! middle, and data after the last chunk all fail, as they do with the age crate (the
//! module's tests compare the two on each). A batch's plaintext is released only once every
//! chunk in it authenticated, and batches are released in order. As with the age crate, what
//! was released before a failure came from authentic chunks but may not be the whole file:
//! a caller keeps nothing until the reader reached its end. Memory stays flat: a fixed
//! number of batch buffers circulate.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use age::Identity;
use zeroize::Zeroizing;

use super::{BATCH_CHUNKS, CHUNK, Capture, ChunkCipher, not_authentic, read_full, truncated};

/// A chunk as stored: its plaintext and the 16-byte tag.
const SEALED: usize = CHUNK + 16;

/// Records what passes through a reader (the header and nonce, a few hundred bytes).
struct Recorder<'r, R> {
    inner: &'r mut R,
    seen: Vec<u8>,
}

impl<R: Read> Read for Recorder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Reads the header and nonce of the age file at the start of `input` (and nothing more),
/// and returns the payload key: the age crate parses the header, unwraps the file key with
/// the first of `identities` that matches, and checks the header's MAC.
fn open_header<R: Read>(
    input: &mut R,
    identities: &[&dyn Identity],
) -> Result<Zeroizing<[u8; 32]>, age::DecryptError> {
    let capture = Capture::new(identities);
    let mut recorder = Recorder {
        inner: input,
        seen: Vec::new(),
    };
    // `new` reads exactly the header and the 16-byte nonce; `decrypt` returns only once a
    // stanza was unwrapped and the MAC over the header checked out.
    age::Decryptor::new(&mut recorder)?
        .decrypt(std::iter::once(&capture as &dyn Identity))
        .map(drop)?;
    let nonce = recorder
        .seen
        .len()
        .checked_sub(16)
        .map(|at| &recorder.seen[at..])
        .ok_or(age::DecryptError::InvalidHeader)?;
    let file_key = capture.file_key()?;
    Ok(Zeroizing::new(age_core::primitives::hkdf(
        nonce, b"payload", &*file_key,
    )))
}

/// Opens the header of the age file at the start of `input` with the first of `identities`
/// that matches, checking its MAC, and reads nothing past the header and nonce.
pub fn check_header<R: Read>(
    input: &mut R,
    identities: &[&dyn Identity],
) -> Result<(), age::DecryptError> {
    open_header(input, identities).map(drop)
}

/// A run of consecutive sealed chunks, decrypted in place.
struct Batch {
    first_chunk: u64,
    buf: Zeroizing<Vec<u8>>,
    /// How many bytes of `buf` the chunks take.
    len: usize,
    /// Whether the batch ends at the end of the input (its last chunk is the stream's).
    last: bool,
}

impl Batch {
    /// The number of chunks.
    fn count(&self) -> usize {
        self.len.div_ceil(SEALED)
    }

    /// Where chunk `j` of the batch lies in `buf`, sealed (plaintext and tag).
    fn chunk(&self, j: usize) -> Option<std::ops::Range<usize>> {
        (j < self.count()).then(|| j * SEALED..((j + 1) * SEALED).min(self.len))
    }

    /// Decrypts every chunk in place; fails at the first that does not authenticate.
    fn decrypt(&mut self, cipher: &ChunkCipher) -> io::Result<()> {
        let count = self.count();
        for j in 0..count {
            let range = self.chunk(j).expect("j < count");
            let i = self.first_chunk + j as u64;
            let last = self.last && j + 1 == count;
            let Some(text_len) = range.len().checked_sub(16) else {
                return Err(not_authentic());
            };
            if last && text_len == 0 && i > 0 {
                // Only an empty file may end with an empty chunk (as in the age crate).
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "last STREAM chunk is empty",
                ));
            }
            if !cipher.open(i, last, &mut self.buf[range]) {
                return Err(not_authentic());
            }
        }
        Ok(())
    }
}

/// What the workers hand the caller's reader: a batch by its place, decrypted or failed.
type Done = (u64, io::Result<Batch>);

/// The reading thread: reads batches of sealed chunks from `input` and queues them for the
/// workers, reusing the buffers the caller's reader gives back (at most `buffers` exist).
/// Stops at the end of the input, at a failure (sent in the batch's place), or when the
/// caller's reader is gone; returns `input`.
fn read_batches<R: Read>(
    mut input: R,
    batch_chunks: usize,
    buffers: usize,
    jobs: &Sender<(u64, Batch)>,
    done: &Sender<Done>,
    free: &Receiver<Zeroizing<Vec<u8>>>,
) -> R {
    let capacity = batch_chunks * SEALED;
    let mut allocated = 0;
    // A byte read past a full batch to learn whether the input ends there.
    let mut carry = None;
    for index in 0u64.. {
        let buf = if allocated < buffers {
            allocated += 1;
            Ok(Zeroizing::new(Vec::new()))
        } else {
            free.recv()
        };
        let Ok(mut buf) = buf else {
            // The caller's reader is gone.
            return input;
        };
        buf.resize(capacity, 0);
        let mut len = 0;
        if let Some(byte) = carry.take() {
            buf[0] = byte;
            len = 1;
        }
        let read = read_full(&mut input, &mut buf[len..]).and_then(|n| {
            len += n;
            if len < capacity {
                return Ok(true);
            }
            let mut byte = [0u8];
            let more = read_full(&mut input, &mut byte)? == 1;
            carry = more.then_some(byte[0]);
            Ok(!more)
        });
        let (last, failure) = match read {
            // Nothing at all after the nonce: not even the last chunk.
            Ok(_) if len == 0 => (true, Some(truncated())),
            Ok(last) => (last, None),
            Err(e) => (true, Some(e)),
        };
        if let Some(e) = failure {
            let _ = done.send((index, Err(e)));
            return input;
        }
        let batch = Batch {
            first_chunk: index * batch_chunks as u64,
            buf,
            len,
            last,
        };
        if jobs.send((index, batch)).is_err() || last {
            return input;
        }
    }
    unreachable!("a u64 counts more batches than any input holds")
}

/// The caller's side: the plaintext, batch by batch in order, each only once all its chunks
/// authenticated. A failure stays: every later read fails too.
struct Plaintext {
    done: Receiver<Done>,
    free: Sender<Zeroizing<Vec<u8>>>,
    /// Batches that arrived before their turn.
    waiting: BTreeMap<u64, io::Result<Batch>>,
    next: u64,
    /// The batch being read, the chunk being read and the offset in it.
    current: Option<(Batch, usize, usize)>,
    finished: bool,
    failed: Option<(io::ErrorKind, String)>,
}

impl Plaintext {
    /// Waits for the next batch in order.
    fn next_batch(&mut self) -> io::Result<Batch> {
        loop {
            if let Some(result) = self.waiting.remove(&self.next) {
                self.next += 1;
                return result;
            }
            match self.done.recv() {
                Ok((index, result)) => {
                    self.waiting.insert(index, result);
                }
                Err(_) => return Err(io::Error::other("a decrypting thread stopped")),
            }
        }
    }
}

impl Read for Plaintext {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, message)) = &self.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some((batch, chunk, offset)) = &mut self.current {
                if let Some(range) = batch.chunk(*chunk) {
                    // Decrypted: every chunk is at least its 16-byte tag.
                    let text = &batch.buf[range.start..range.end - 16];
                    let n = (text.len() - *offset).min(out.len());
                    out[..n].copy_from_slice(&text[*offset..*offset + n]);
                    *offset += n;
                    if *offset == text.len() {
                        (*chunk, *offset) = (*chunk + 1, 0);
                    }
                    if n > 0 {
                        return Ok(n);
                    }
                    continue;
                }
                let (batch, _, _) = self.current.take().expect("a batch is being read");
                self.finished = batch.last;
                // The reading thread may have stopped already.
                let _ = self.free.send(batch.buf);
            }
            if self.finished {
                return Ok(0);
            }
            match self.next_batch() {
                Ok(batch) => self.current = Some((batch, 0, 0)),
                Err(e) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
    }
}

/// Decrypts the age file `input` with the first of `identities` that opens it, handing
/// `consume` a reader of its plaintext (see the module documentation). Fails before calling
/// `consume` if the header does not parse, no identity matches or the header's MAC is
/// wrong; a failure in the stream comes as an error from the reader. Returns what `consume`
/// returned and `input`, read up to where the reading stopped (its end, unless `consume`
/// stopped early or the stream failed).
pub fn decrypt<R: Read + Send, T>(
    input: R,
    identities: &[&dyn Identity],
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> Result<(T, R), age::DecryptError> {
    decrypt_in_batches(input, identities, BATCH_CHUNKS, consume)
}

/// [`decrypt`] with `batch_chunks` chunks per batch (small in tests).
pub(crate) fn decrypt_in_batches<R: Read + Send, T>(
    mut input: R,
    identities: &[&dyn Identity],
    batch_chunks: usize,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> Result<(T, R), age::DecryptError> {
    let cipher = ChunkCipher::new(&*open_header(&mut input, identities)?);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8);
    let (job_tx, job_rx) = channel::<(u64, Batch)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = channel::<Done>();
    let (free_tx, free_rx) = channel();
    Ok(std::thread::scope(|scope| {
        for _ in 0..workers {
            let (job_rx, done_tx, cipher) = (Arc::clone(&job_rx), done_tx.clone(), &cipher);
            scope.spawn(move || {
                loop {
                    let job = job_rx.lock().expect("not poisoned").recv();
                    let Ok((index, mut batch)) = job else { return };
                    let result = batch.decrypt(cipher).map(|()| batch);
                    if done_tx.send((index, result)).is_err() {
                        return;
                    }
                }
            });
        }
        let reader = scope.spawn(move || {
            read_batches(
                input,
                batch_chunks,
                workers * 2 + 3,
                &job_tx,
                &done_tx,
                &free_rx,
            )
        });
        let mut plaintext = Plaintext {
            done: done_rx,
            free: free_tx,
            waiting: BTreeMap::new(),
            next: 0,
            current: None,
            finished: false,
            failed: None,
        };
        let result = consume(&mut plaintext);
        // Without the caller's reader, the reading thread and then the workers stop.
        drop(plaintext);
        let input = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (result, input)
    }))
}

#[cfg(test)]
mod tests;
