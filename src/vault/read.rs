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

use super::listing::first_in_order;
use super::order::{MergeSorted, OrderKey, sort_key_of};
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

/// How [`Vault::scan_digest_shares`] reads the buckets: with the statements' texts, checking
/// the fronts (and storing new ones where they are not current), and stopping with a broken
/// pipe once `gone` answers true.
pub(super) struct Scan<'g> {
    pub(super) texts: bool,
    pub(super) fronts: bool,
    pub(super) gone: &'g (dyn Fn() -> bool + Sync),
    /// The `PRAGMA data_version` at which every bucket's records were just checked against
    /// the heads ([`Session::check_bucket`]). While it is still the same (no other connection
    /// has written since), each bucket's current versions are taken from the heads without
    /// reading and checking the records table again.
    pub(super) checked: Option<i64>,
}

/// A thread's share of the buckets ([`Vault::on_every_core`]).
pub(super) type Buckets = Vec<u8>;

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

/// A record that matched a search, with where and a short excerpt.
pub struct SearchHit {
    pub record: RecordSummary,
    pub field: &'static str,
    pub snippet: Zeroizing<String>,
}

impl Vault {
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
        let scan = Scan {
            texts,
            fronts: false,
            gone: &|| false,
            checked: None,
        };
        let (seen, shares) = self.scan_digest_shares(&scan, visit, &order)?;
        Ok((seen, MergeSorted::new(shares, &order).collect()))
    }

    /// [`Vault::scan_digest`], with what each thread kept still apart (each share sorted).
    pub(super) fn scan_digest_shares<T: Send>(
        &mut self,
        &Scan {
            texts,
            fronts,
            gone,
            checked,
        }: &Scan<'_>,
        visit: impl Fn(&Session, &Connection, &SummaryRef<'_>, Option<TextRef<'_>>) -> Result<Option<T>>
        + Sync,
        order: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
    ) -> Result<(u64, Vec<Vec<T>>)> {
        /// A bucket to store again: all of it, or only its front.
        struct Rebuilt {
            bucket: u8,
            from: Vec<(RecordId, u32)>,
            whole: Option<(Vec<SummaryEntry>, Vec<TextEntry>)>,
            front: Option<Vec<u8>>,
        }
        struct Share<T> {
            seen: u64,
            kept: Vec<T>,
            rebuilt: Vec<Rebuilt>,
        }
        let s = &self.s;
        let run = |conn: &Connection, buckets: Buckets, data_version: i64| {
            let mut share = Share {
                seen: 0,
                kept: Vec::new(),
                rebuilt: Vec::new(),
            };
            // Each bucket is read into these and decoded in place: only what `visit` keeps
            // is copied.
            let (mut sums_buf, mut txts_buf) = <(crypto::SecretBuf, crypto::SecretBuf)>::default();
            for bucket in buckets {
                if gone() {
                    return Err(Error::Output(std::io::ErrorKind::BrokenPipe.into()));
                }
                let expected = if checked == Some(data_version) {
                    s.live_heads(conn, bucket)?
                } else {
                    let expected = store::bucket_versions(conn, bucket)?;
                    s.check_bucket(conn, bucket, &expected)?;
                    expected
                };
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
                        from: expected.clone(),
                        whole: Some((sums, txts)),
                        front: None,
                    });
                    (
                        digest::summaries(&rebuilt_blobs.0).expect("just encoded"),
                        digest::texts(&rebuilt_blobs.1).expect("just encoded"),
                    )
                };
                // A bucket whose front is missing or was taken from other versions gets a new
                // one (a vault from before fronts, or a front replaced in the file).
                let rebuilding = share.rebuilt.last().is_some_and(|r| r.bucket == bucket);
                if fronts
                    && !rebuilding
                    && !expected.is_empty()
                    && !s.front_current(conn, bucket, &expected)?
                {
                    let first = first_in_order(&sums, |e| sort_key_of(e.date, e.created_at, e.id));
                    let first: Vec<SummaryEntry> =
                        first.iter().map(|e| SummaryRef::to_owned(e)).collect();
                    let versions = digest::versions_hash(expected.iter().map(|(id, v)| (id, *v)));
                    share.rebuilt.push(Rebuilt {
                        bucket,
                        front: Some(s.seal_front_with(bucket, &versions, &first)),
                        from: expected,
                        whole: None,
                    });
                }
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
        let (_, shares) = self.on_every_core(run)?;
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
                if store::bucket_versions(&tx, r.bucket)? != r.from {
                    continue;
                }
                if let Some((sums, txts)) = &r.whole {
                    self.s.write_bucket(&tx, r.bucket, sums, txts)?;
                }
                if let Some(front) = &r.front {
                    store::set_digest(&tx, r.bucket, digest::Kind::Front as u8, Some(front))?;
                }
            }
            tx.commit()?;
        }
        Ok((seen, kept))
    }

    /// Runs `run` on every core, each thread over its share of the buckets through a
    /// connection of its own, while this connection's read lock keeps any write from
    /// committing, so all threads see one state. Returns that state's `PRAGMA data_version`
    /// (which `run` is given too) and what each thread returned.
    pub(super) fn on_every_core<R: Send>(
        &self,
        run: impl Fn(&Connection, Buckets, i64) -> Result<R> + Sync,
    ) -> Result<(i64, Vec<R>)> {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(8);
        let share = |first: usize| -> Buckets {
            (first..digest::BUCKETS)
                .step_by(threads)
                .map(|b| b as u8)
                .collect()
        };
        let path = self.store.path().to_owned();
        let snapshot = self.store.read()?;
        // Reading it takes the read lock, before any worker starts.
        let data_version = store::data_version(&snapshot)?;
        let results = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads)
                .map(|first| {
                    let (run, path) = (&run, &path);
                    scope.spawn(move || {
                        let store = Store::open(path)?;
                        let tx = store.read()?;
                        run(&tx, share(first), data_version)
                    })
                })
                .collect();
            let mut results = vec![run(&snapshot, share(0), data_version)?];
            for worker in workers {
                results.push(
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                );
            }
            Ok::<_, Error>(results)
        })?;
        Ok((data_version, results))
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

/// Listing order: by interview date (intake date when there is none), then intake time, then
/// id. The keys end with the record id, so they are unique: an unstable sort is exact.
pub(super) fn by_date(a: &RecordSummary, b: &RecordSummary) -> std::cmp::Ordering {
    a.order.cmp(&b.order, || sort_key(a).cmp(&sort_key(b)))
}

pub(super) fn sort_key(r: &RecordSummary) -> (&str, &str, RecordId) {
    sort_key_of(
        r.summary.meta.date.as_ref().map(InterviewDate::as_str),
        &r.summary.created_at,
        r.id,
    )
}
