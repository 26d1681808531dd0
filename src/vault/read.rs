//! Reading: `list`, `show`, `cat`, `search` and `history`.

use std::io::Write;

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::crypto;
use crate::digest::{self, Summary, SummaryEntry, SummaryRef, TextEntry, TextRef};
use crate::error::{Error, Integrity, Result};
use crate::record::{InterviewDate, RecordId, RecordIdPrefix, SealedMeta, WitnessIdentity};
use crate::store::{self, Store, VersionRow};

use super::snippet::Matcher;
use super::{Draft, Session, Vault};

/// A record's current version, as `list` and `search` see it.
#[derive(Clone)]
pub struct RecordSummary {
    pub id: RecordId,
    pub version: u32,
    pub summary: Summary,
    order: OrderKey,
}

impl RecordSummary {
    /// The record as its own copy.
    pub fn of(entry: &SummaryRef<'_>) -> Self {
        Self::new(entry.to_owned())
    }

    fn new(entry: SummaryEntry) -> Self {
        let mut r = RecordSummary {
            id: entry.id,
            version: entry.version,
            summary: entry.summary,
            order: OrderKey::default(),
        };
        r.order = OrderKey::of(sort_key(&r));
        r
    }
}

/// A record version with its whole manifest, as `history` sees it.
pub struct VersionSummary {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
}

/// A statement's text. Zeroized on drop.
pub struct Statement(pub(super) Zeroizing<String>);

impl Statement {
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// A record as `show` presents it.
pub struct RecordView {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
    pub statement: Option<Statement>,
    /// Present only when asked for and stored.
    pub identity: Option<WitnessIdentity>,
}

/// Which records `list` shows.
#[derive(Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub witness: Option<String>,
    pub since: Option<InterviewDate>,
    pub until: Option<InterviewDate>,
}

/// A record that matched a search, with where and a short excerpt.
pub struct SearchHit {
    pub record: RecordSummary,
    pub field: &'static str,
    pub snippet: Zeroizing<String>,
}

impl Vault {
    /// The latest version of every record that passes `filter`, by interview date.
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<RecordSummary>> {
        let mut out = Vec::new();
        self.list_each(filter, RecordSummary::of, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Vault::list`] without holding every record: each record that passes `filter` is
    /// reduced by `map` (on every core, while the digest is read) to what the caller shows of
    /// it, and then handed to `emit` in listing order, after the read is logged. Returns how
    /// many were shown. An error from `emit` (a closed pipe) stops the listing.
    pub fn list_each<T: Send>(
        &mut self,
        filter: &Filter,
        map: impl Fn(&SummaryRef<'_>) -> T + Sync,
        mut emit: impl FnMut(T) -> std::io::Result<()>,
    ) -> Result<u64> {
        self.s.readable()?;
        let (records, shares) = self.scan_digest_shares(
            false,
            |_, _, entry, _| Ok(filter.matches(entry).then(|| Listed::new(entry, &map))),
            Listed::cmp,
        )?;
        let shown: usize = shares.iter().map(Vec::len).sum();
        self.record(vec![Draft::new(Action::RecordsListed).detail(
            serde_json::json!({
                "records": records,
                "shown": shown,
            }),
        )])?;
        for listed in MergeSorted::new(shares, Listed::cmp) {
            emit(listed.item).map_err(Error::Output)?;
        }
        Ok(shown as u64)
    }

    /// Visits the current version of every record through the listing digest
    /// ([`crate::digest`]), with its statement text when `texts`, on every core: each thread
    /// takes its share of the buckets through a connection of its own, and the shared lock
    /// this connection holds meanwhile keeps any write from committing, so all threads see
    /// one state. A bucket that is missing, does not open or lists other versions than the
    /// records table is rebuilt from the records, and stored again afterwards. Returns how
    /// many records were visited and what `visit` kept, sorted by `order` (each thread sorts
    /// its share, then the shares are merged).
    fn scan_digest<T: Send>(
        &mut self,
        texts: bool,
        visit: impl Fn(&Session, &Connection, &SummaryRef<'_>, Option<TextRef<'_>>) -> Result<Option<T>>
        + Sync,
        order: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
    ) -> Result<(u64, Vec<T>)> {
        let (seen, shares) = self.scan_digest_shares(texts, visit, &order)?;
        Ok((seen, MergeSorted::new(shares, &order).collect()))
    }

    /// [`Vault::scan_digest`], with what each thread kept still apart (each share sorted).
    fn scan_digest_shares<T: Send>(
        &mut self,
        texts: bool,
        visit: impl Fn(&Session, &Connection, &SummaryRef<'_>, Option<TextRef<'_>>) -> Result<Option<T>>
        + Sync,
        order: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
    ) -> Result<(u64, Vec<Vec<T>>)> {
        struct Rebuilt {
            bucket: u8,
            from: Vec<(RecordId, u32)>,
            sums: Vec<SummaryEntry>,
            txts: Vec<TextEntry>,
        }
        struct Share<T> {
            seen: u64,
            kept: Vec<T>,
            rebuilt: Vec<Rebuilt>,
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(8);
        let path = self.store.path().to_owned();
        let s = &self.s;
        let run = |conn: &Connection, first: usize| {
            let mut share = Share {
                seen: 0,
                kept: Vec::new(),
                rebuilt: Vec::new(),
            };
            // Each bucket is read into these and decoded in place: only what `visit` keeps
            // is copied.
            let (mut sums_buf, mut txts_buf) = <(crypto::SecretBuf, crypto::SecretBuf)>::default();
            for bucket in (first..digest::BUCKETS).step_by(threads) {
                let bucket = bucket as u8;
                let expected = store::bucket_versions(conn, bucket)?;
                s.check_bucket(conn, bucket, &expected)?;
                let sums_blob =
                    s.stored_digest(conn, bucket, digest::Kind::Summaries, &mut sums_buf)?;
                let sums = sums_blob.and_then(digest::summaries);
                let sums_current = sums.as_ref().is_some_and(|e| {
                    e.iter()
                        .map(|e| (e.id, e.version))
                        .eq(expected.iter().copied())
                });
                let txts_blob = if texts || !sums_current {
                    s.stored_digest(conn, bucket, digest::Kind::Texts, &mut txts_buf)?
                } else {
                    None
                };
                let txts = txts_blob.and_then(digest::texts);
                let txts_current = txts.as_ref().is_some_and(|e| {
                    e.iter()
                        .map(|(id, version, _)| (*id, *version))
                        .eq(expected.iter().copied())
                });
                let rebuilt_blobs;
                let (sums, txts) = if sums_current && (txts_current || !texts) {
                    (sums.unwrap_or_default(), txts.unwrap_or_default())
                } else {
                    let old_sums = sums
                        .map(|e| e.iter().map(SummaryRef::to_owned).collect())
                        .unwrap_or_default();
                    let old_txts = txts_blob.and_then(digest::decode_texts).unwrap_or_default();
                    let (sums, txts) = s.build_bucket(
                        conn,
                        &expected,
                        old_sums,
                        old_txts,
                        &mut super::listing::Known::new(),
                    )?;
                    // Visited as they will be stored.
                    rebuilt_blobs = (digest::encode_summaries(&sums), digest::encode_texts(&txts));
                    share.rebuilt.push(Rebuilt {
                        bucket,
                        from: expected,
                        sums,
                        txts,
                    });
                    (
                        digest::summaries(&rebuilt_blobs.0).expect("just encoded"),
                        digest::texts(&rebuilt_blobs.1).expect("just encoded"),
                    )
                };
                let mut txts = txts.into_iter().filter(|_| texts);
                for entry in &sums {
                    share.seen += 1;
                    share
                        .kept
                        .extend(visit(s, conn, entry, txts.next().map(|t| t.2))?);
                }
            }
            share.kept.sort_unstable_by(&order);
            Ok::<_, Error>(share)
        };
        let snapshot = self.store.read()?;
        let shares: Vec<Share<T>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads)
                .map(|first| {
                    let (run, path) = (&run, &path);
                    scope.spawn(move || {
                        let store = Store::open(path)?;
                        let tx = store.read()?;
                        run(&tx, first)
                    })
                })
                .collect();
            let mut shares = vec![run(&snapshot, 0)?];
            for worker in workers {
                shares.push(
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                );
            }
            Ok::<_, Error>(shares)
        })?;
        drop(snapshot);
        let (mut seen, mut kept, mut rebuilt) = (0, Vec::new(), Vec::new());
        for share in shares {
            seen += share.seen;
            kept.push(share.kept);
            rebuilt.extend(share.rebuilt);
        }
        if !rebuilt.is_empty() {
            // Stored only where the records are still as they were read.
            let tx = self.store.write()?;
            for r in rebuilt {
                if store::bucket_versions(&tx, r.bucket)? == r.from {
                    self.s.write_bucket(&tx, r.bucket, &r.sums, &r.txts)?;
                }
            }
            tx.commit()?;
        }
        Ok((seen, kept))
    }

    /// Resolves an id or unique prefix to a record.
    pub fn resolve(&self, prefix: &RecordIdPrefix) -> Result<RecordId> {
        match store::find_records(self.store.conn(), prefix, 2)?.as_slice() {
            [] => Err(Error::RecordNotFound(prefix.clone())),
            [one] => Ok(*one),
            _ => Err(Error::AmbiguousId(prefix.clone())),
        }
    }

    /// A version of a record (the latest unless `version` is given).
    pub(super) fn version_row(
        &self,
        prefix: &RecordIdPrefix,
        version: Option<u32>,
    ) -> Result<VersionRow> {
        let id = self.resolve(prefix)?;
        let row = match version {
            None => store::current_version(self.store.conn(), &id)?,
            Some(v) => store::version(self.store.conn(), &id, v)?,
        };
        let row = row.ok_or_else(|| match version {
            Some(v) => Error::VersionNotFound {
                record: id,
                version: v,
            },
            None => Error::RecordNotFound(prefix.clone()),
        })?;
        // The log, not the table, says which version is current and whether the record
        // still exists.
        self.s.check_version(self.store.conn(), &row)?;
        Ok(row)
    }

    /// A record's metadata, consent, statement, and the witness's identity when
    /// `with_identity`; the latest version unless `version` is given.
    pub fn show(
        &mut self,
        prefix: &RecordIdPrefix,
        version: Option<u32>,
        with_identity: bool,
    ) -> Result<RecordView> {
        self.s.readable()?;
        let row = self.version_row(prefix, version)?;
        let id = row.record;
        let sealed = self.s.open_meta(&row)?;
        self.record(vec![
            Draft::new(Action::RecordShown)
                .on(id, row.version)
                .parts(sealed.statement.iter())
                .detail(serde_json::json!({ "identity": with_identity })),
        ])?;
        let tx = self.store.read()?;
        let statement = match &sealed.statement {
            Some(info) => Some(self.s.read_statement(&tx, &row, info)?),
            None => None,
        };
        let identity = if with_identity {
            self.s.open_identity(&row)?
        } else {
            None
        };
        Ok(RecordView {
            id,
            version: row.version,
            sealed,
            statement,
            identity,
        })
    }

    /// Streams one attachment's or derived item's plaintext to `out` (from the latest version unless `version`
    /// is given), after logging the read. Nothing is written
    /// before the stored length is checked, and each chunk only once it authenticates.
    pub fn cat(
        &mut self,
        prefix: &RecordIdPrefix,
        version: Option<u32>,
        name: &str,
        out: &mut dyn Write,
    ) -> Result<u64> {
        self.s.readable()?;
        let row = self.version_row(prefix, version)?;
        let id = row.record;
        let sealed = self.s.open_meta(&row)?;
        // An attachment or a derived item: their names are unique together.
        let info = sealed
            .attachments
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .or_else(|| sealed.derived_item(name).map(|d| &d.part))
            .ok_or(Error::AttachmentNotFound(id))?;
        self.record(vec![
            Draft::new(Action::AttachmentRead)
                .on(id, row.version)
                .parts([info]),
        ])?;
        let tx = self.store.read()?;
        self.s.read_part(&tx, &row, info, out)?;
        Ok(info.size)
    }

    /// Case-insensitive search over every record's statement and metadata (never the
    /// witness's identity). Returns one hit per matching record.
    pub fn search(&mut self, query: &str) -> Result<Vec<SearchHit>> {
        self.s.readable()?;
        let needle = Zeroizing::new(query.to_lowercase());
        let matcher = Matcher::new(&needle);
        let snippet = |text: &str| matcher.snippet(text);
        // `records` counts every digest entry the scan checked against the log: one per
        // record in the records table, as each bucket's check makes sure.
        let (records, hits) = self.scan_digest(
            true,
            |s, conn, entry, text| {
                let fields: [(&'static str, Option<&str>); 6] = [
                    ("witness", Some(entry.witness)),
                    ("title", entry.title),
                    ("interviewer", entry.interviewer),
                    ("location", entry.location),
                    ("language", entry.language),
                    ("date", entry.date),
                ];
                let tags = entry.tags.iter().map(|t| ("tag", Some(*t)));
                let mut found = fields
                    .into_iter()
                    .chain(tags)
                    .find_map(|(field, text)| Some((field, snippet(text?)?)));
                if found.is_none() {
                    found = match text {
                        Some(TextRef::Inline(text)) => snippet(text),
                        Some(TextRef::Large) => {
                            let row = store::version(conn, &entry.id, entry.version)?
                                .ok_or(Integrity::Corrupt)?;
                            let sealed = s.open_meta(&row)?;
                            match &sealed.statement {
                                Some(info) => {
                                    let text = s.read_statement(conn, &row, info)?;
                                    snippet(text.expose_secret())
                                }
                                None => None,
                            }
                        }
                        Some(TextRef::None) | None => None,
                    }
                    .map(|s| ("statement", s));
                }
                Ok(found.map(|(field, snippet)| SearchHit {
                    record: RecordSummary::of(entry),
                    field,
                    snippet,
                }))
            },
            |a, b| by_date(&a.record, &b.record),
        )?;
        // Logged once the scan has checked every bucket against the log (a refused scan
        // writes nothing), and before any hit reaches the caller.
        self.record(vec![Draft::new(Action::Searched).detail(
            serde_json::json!({
                "records": records,
            }),
        )])?;
        Ok(hits)
    }

    /// Every version of a record, oldest first.
    pub fn history(&mut self, prefix: &RecordIdPrefix) -> Result<Vec<VersionSummary>> {
        self.s.readable()?;
        let id = self.resolve(prefix)?;
        let rows = store::versions(self.store.conn(), Some(&id))?;
        if let Some(newest) = rows.last() {
            self.s.check_version(self.store.conn(), newest)?;
        }
        self.record(vec![
            Draft::new(Action::HistoryRead).on(id, rows.len() as u32),
        ])?;
        rows.iter()
            .map(|row| {
                Ok(VersionSummary {
                    id,
                    version: row.version,
                    sealed: self.s.open_meta(row)?,
                })
            })
            .collect()
    }
}

impl Filter {
    fn matches(&self, entry: &SummaryRef<'_>) -> bool {
        let eq = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        if let Some(tag) = &self.tag
            && !entry.tags.iter().any(|t| eq(t, tag))
        {
            return false;
        }
        if let Some(w) = &self.witness
            && !eq(entry.witness, w)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            // Valid dates (`YYYY-MM-DD`) order as their text does.
            let Some(date) = entry.date else {
                return false;
            };
            if self.since.as_ref().is_some_and(|s| date < s.as_str())
                || self.until.as_ref().is_some_and(|u| date > u.as_str())
            {
                return false;
            }
        }
        true
    }
}

/// Listing order: by interview date (intake date when there is none), then intake time, then
/// id. The keys end with the record id, so they are unique: an unstable sort is exact.
pub(super) fn by_date(a: &RecordSummary, b: &RecordSummary) -> std::cmp::Ordering {
    a.order.cmp(&b.order, || sort_key(a).cmp(&sort_key(b)))
}

/// [`sort_key`] packed into integers, so that sorting 100,000 records compares registers
/// rather than strings spread over the heap: the date and intake time, cut or padded with zero
/// bytes to 10 and 22 bytes (which keeps their order wherever the packed bytes differ), and
/// the id. Where a date or time was cut, records whose packed bytes are equal are compared
/// in full.
#[derive(Default, Clone)]
pub(super) struct OrderKey {
    when: (u128, u128),
    id: u128,
    exact: bool,
}

impl OrderKey {
    fn of((date, created, id): (&str, &str, RecordId)) -> Self {
        let mut packed = [0u8; 32];
        packed[..date.len().min(10)].copy_from_slice(&date.as_bytes()[..date.len().min(10)]);
        packed[10..10 + created.len().min(22)]
            .copy_from_slice(&created.as_bytes()[..created.len().min(22)]);
        let (hi, lo) = packed.split_at(16);
        OrderKey {
            when: (
                u128::from_be_bytes(hi.try_into().expect("16 bytes")),
                u128::from_be_bytes(lo.try_into().expect("16 bytes")),
            ),
            id: u128::from_be_bytes(id.0),
            exact: date.len() <= 10 && created.len() <= 22,
        }
    }

    /// The packed date (10 bytes) and intake time (22 bytes).
    fn packed(&self) -> [u8; 32] {
        let mut packed = [0u8; 32];
        packed[..16].copy_from_slice(&self.when.0.to_be_bytes());
        packed[16..].copy_from_slice(&self.when.1.to_be_bytes());
        packed
    }

    fn cmp(
        &self,
        other: &Self,
        in_full: impl FnOnce() -> std::cmp::Ordering,
    ) -> std::cmp::Ordering {
        self.when.cmp(&other.when).then_with(|| {
            if self.exact && other.exact {
                self.id.cmp(&other.id)
            } else {
                in_full()
            }
        })
    }
}

/// The items of vectors each sorted by `order`, in that order (a merge, taking from the first
/// vector on ties).
pub(super) struct MergeSorted<T, F> {
    sources: Vec<std::iter::Peekable<std::vec::IntoIter<T>>>,
    order: F,
}

impl<T, F: Fn(&T, &T) -> std::cmp::Ordering> MergeSorted<T, F> {
    pub(super) fn new(sources: Vec<Vec<T>>, order: F) -> Self {
        MergeSorted {
            sources: sources
                .into_iter()
                .map(|v| v.into_iter().peekable())
                .collect(),
            order,
        }
    }
}

impl<T, F: Fn(&T, &T) -> std::cmp::Ordering> Iterator for MergeSorted<T, F> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        // A few sources (one per thread): a linear look at their heads is enough.
        let mut best: Option<(usize, &T)> = None;
        for (i, source) in self.sources.iter_mut().enumerate() {
            if let Some(head) = source.peek()
                && best.is_none_or(|(_, b)| (self.order)(head, b).is_lt())
            {
                best = Some((i, head));
            }
        }
        let i = best?.0;
        self.sources[i].next()
    }
}

/// A listed record reduced to what the caller shows of it, with its place in the order.
struct Listed<T> {
    order: OrderKey,
    /// The date and intake time in full, kept only where [`OrderKey`] had to cut them.
    full: Option<Box<(String, String)>>,
    item: T,
}

impl<T> Listed<T> {
    fn new(r: &SummaryRef<'_>, map: impl Fn(&SummaryRef<'_>) -> T) -> Self {
        let key = sort_key_of(r.date, r.created_at, r.id);
        let order = OrderKey::of(key);
        let full = (!order.exact).then(|| Box::new((key.0.to_owned(), key.1.to_owned())));
        Listed {
            order,
            full,
            item: map(r),
        }
    }

    /// [`by_date`] for listed records.
    fn cmp(a: &Self, b: &Self) -> std::cmp::Ordering {
        a.order.cmp(&b.order, || {
            let key = |l: &Self| {
                let packed = l.order.packed();
                let (date, created) = match &l.full {
                    Some(full) => (full.0.as_bytes().to_vec(), full.1.as_bytes().to_vec()),
                    None => (trimmed(&packed[..10]), trimmed(&packed[10..])),
                };
                (date, created, l.order.id)
            };
            key(a).cmp(&key(b))
        })
    }
}

/// `bytes` without the zero bytes [`OrderKey`] padded them with.
fn trimmed(bytes: &[u8]) -> Vec<u8> {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes[..end].to_vec()
}

pub(super) fn sort_key(r: &RecordSummary) -> (&str, &str, RecordId) {
    sort_key_of(
        r.summary.meta.date.as_ref().map(InterviewDate::as_str),
        &r.summary.created_at,
        r.id,
    )
}

fn sort_key_of<'a>(
    date: Option<&'a str>,
    created: &'a str,
    id: RecordId,
) -> (&'a str, &'a str, RecordId) {
    let date = date.unwrap_or_else(|| created.get(..10).unwrap_or(created));
    (date, created, id)
}
