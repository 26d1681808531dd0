//! An import's statements: read whole during the pass over the bundle (they are bounded),
//! encrypted in batches on a thread of their own while the pass goes on, and stored in the
//! import's transaction.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::record::PartInfo;
use crate::store::PartPlace;

use super::Session;
use super::parts::SealedPart;

/// Statements read from a bundle: each checked UTF-8 text within the statement limit, with
/// its record's folder name and its place.
type Held = Vec<(String, PartPlace, Zeroizing<Vec<u8>>)>;

/// A batch of statements back from [`seal_statements`], each encrypted.
type Sealed = (Held, Result<Vec<SealedPart>>);

/// A statement stored: its record's folder name, its part, and the text itself while the
/// listing digest's budget lasts.
pub(super) type StoredStatement = (String, PartInfo, Option<Zeroizing<String>>);

/// Statements read from a bundle and not stored yet. A full batch is encrypted on a thread of
/// its own ([`seal_statements`]) while the pass goes on, and stored once the next batch is
/// full or the pass is over: at most one batch is being encrypted at a time.
pub(super) struct Statements<'a> {
    s: &'a Session,
    tx: &'a Connection,
    path: &'a Path,
    held: Held,
    bytes: usize,
    /// The statements go into the listing digest at the end; up to this many bytes of them
    /// are kept rather than decrypted again from the store.
    keep_budget: u64,
    jobs: Sender<Held>,
    done: Receiver<Sealed>,
    /// Whether a batch is being encrypted.
    sealing: bool,
}

impl<'a> Statements<'a> {
    /// Enough to amortise handing a batch over, and few enough bytes to hold. Debug builds
    /// (the tests) use batches of three, so that an import of a few records crosses batches.
    const BATCH: usize = if cfg!(debug_assertions) { 3 } else { 512 };
    const BATCH_BYTES: usize = 32 * 1024 * 1024;

    /// Starts the thread that encrypts the batches, in `scope`; it ends once this is dropped.
    pub(super) fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        s: &'a Session,
        tx: &'a Connection,
        path: &'a Path,
    ) -> Self
    where
        'a: 'scope,
    {
        let (jobs, to_seal) = channel();
        let (sealed, done) = channel();
        scope.spawn(move || seal_statements(s, path, &to_seal, &sealed));
        Statements {
            s,
            tx,
            path,
            held: Vec::new(),
            bytes: 0,
            keep_budget: 64 * 1024 * 1024,
            jobs,
            done,
            sealing: false,
        }
    }

    /// Holds one; whether the batch is full and should be sent now.
    pub(super) fn add(&mut self, id: String, place: PartPlace, text: Zeroizing<Vec<u8>>) -> bool {
        self.bytes += text.len();
        self.held.push((id, place, text));
        self.held.len() >= Self::BATCH || self.bytes >= Self::BATCH_BYTES
    }

    /// Stores the batch being encrypted, if any, and sends those held to be encrypted.
    /// Returns what was stored.
    pub(super) fn send(&mut self) -> Result<Vec<StoredStatement>> {
        let stored = self.collect()?;
        if !self.held.is_empty() {
            self.bytes = 0;
            self.jobs
                .send(std::mem::take(&mut self.held))
                .map_err(|_| self.stopped())?;
            self.sealing = true;
        }
        Ok(stored)
    }

    /// Stores every statement still held or being encrypted: once the pass is over.
    pub(super) fn finish(&mut self) -> Result<Vec<StoredStatement>> {
        let mut stored = self.send()?;
        stored.extend(self.collect()?);
        Ok(stored)
    }

    /// Waits for the batch being encrypted, if any, and stores it.
    fn collect(&mut self) -> Result<Vec<StoredStatement>> {
        if !std::mem::take(&mut self.sealing) {
            return Ok(Vec::new());
        }
        let (held, sealed) = self.done.recv().map_err(|_| self.stopped())?;
        let mut stored = Vec::with_capacity(held.len());
        for ((id, _, mut text), part) in held.into_iter().zip(sealed?) {
            let part = self.s.store_sealed_part(self.tx, self.path, part)?;
            let len = text.len() as u64;
            let kept = (len <= crate::digest::TEXT_MAX && len <= self.keep_budget).then(|| {
                self.keep_budget -= len;
                let text = std::mem::take(&mut *text);
                Zeroizing::new(String::from_utf8(text).expect("checked to be UTF-8 when read"))
            });
            stored.push((id, part, kept));
        }
        Ok(stored)
    }

    /// The thread stopped: it panicked, and the panic follows when the scope ends.
    fn stopped(&self) -> Error {
        super::from_store_io(
            std::io::Error::other("the thread encrypting statements stopped"),
            self.path,
        )
    }
}

/// The thread that encrypts an import's statements: each batch it is sent, in order, goes
/// back encrypted. Ends when the import's [`Statements`] is dropped.
fn seal_statements(s: &Session, path: &Path, jobs: &Receiver<Held>, sealed: &Sender<Sealed>) {
    for held in jobs {
        let parts = held
            .iter()
            .map(|(_, place, text)| s.seal_part_in_memory(path, *place, text))
            .collect();
        if sealed.send((held, parts)).is_err() {
            return;
        }
    }
}
