//! Statements read ahead on a core of their own, for the export's walk over many records.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rusqlite::Connection;

use crate::error::Result;
use crate::record::{PartInfo, RecordId};
use crate::store::{self, Store, VersionRow};

use super::{Session, Statement, Vault};

/// How many statements may wait, read and not yet taken.
const AHEAD: usize = 32;

/// A statement larger than this is not read ahead (it is left to the caller, see
/// [`ReadAhead::next`]), so that what waits stays within `AHEAD` of these.
const LARGEST: u64 = 1 << 20;

/// The statements [`Vault::read_ahead`] reads, in the order they were asked for.
pub(super) struct ReadAhead<'a> {
    read: Receiver<(Place, Option<Statement>)>,
    s: &'a Session,
}

/// Which statement: the record, its version and the part.
type Place = (RecordId, u32, u32);

fn place(row: &VersionRow, info: &PartInfo) -> Place {
    (row.record, row.version, info.part)
}

impl ReadAhead<'_> {
    /// The next statement asked for, read through `conn` here when it was not read ahead:
    /// then any error is the one reading it here gives.
    pub(super) fn next(
        &mut self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<Statement> {
        match self.read.recv() {
            Ok((at, Some(text))) if at == place(row, info) => Ok(text),
            // Too large to wait, the reader stopped (at an error, or a busy lock), or (never
            // by design) another statement than asked for.
            _ => self.s.read_statement(conn, row, info),
        }
    }
}

impl Vault {
    /// Runs `body` while another thread reads the statement of each of `wanted`, in order,
    /// through a connection of its own, at most [`AHEAD`] ahead of what `body` took with
    /// [`ReadAhead::next`]. `snapshot` is the caller's read transaction: it holds the read
    /// lock throughout, so no write commits and both connections see one state. Every part
    /// read is authenticated as [`super::Session::read_statement`] always does.
    pub(super) fn read_ahead<'w, R>(
        &self,
        snapshot: &Connection,
        wanted: Vec<(&'w VersionRow, &'w PartInfo)>,
        body: impl FnOnce(&mut ReadAhead<'_>) -> Result<R>,
    ) -> Result<R> {
        // Reading takes the read lock, before the reader starts.
        store::data_version(snapshot)?;
        let (path, s) = (self.store.path(), &self.s);
        std::thread::scope(|scope| {
            let (send, read) = sync_channel(AHEAD);
            scope.spawn(move || read_each(s, path, &wanted, &send));
            let mut ahead = ReadAhead { read, s };
            body(&mut ahead)
            // Dropping `ahead` here stops the reader at its next statement.
        })
    }
}

/// The reader: each of `wanted` in order, until one fails or nobody takes them any more. It
/// stops at any error, leaving that statement and the rest to [`ReadAhead::next`], which
/// reads them itself: a damaged statement is reported by the export's own read, and a lock
/// the reader could not take never fails an export that would have succeeded without it.
fn read_each(
    s: &Session,
    path: &std::path::Path,
    wanted: &[(&VersionRow, &PartInfo)],
    send: &SyncSender<(Place, Option<Statement>)>,
) {
    let Ok(store) = Store::open(path) else { return };
    let Ok(tx) = store.read() else { return };
    for (row, info) in wanted {
        let text = match (info.size <= LARGEST).then(|| s.read_statement(&tx, row, info)) {
            Some(Ok(text)) => Some(text),
            Some(Err(_)) => return,
            None => None,
        };
        if send.send((place(row, info), text)).is_err() {
            return;
        }
    }
}
