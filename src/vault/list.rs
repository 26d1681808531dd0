//! `list`: every current record in listing order, the first of them straight from the buckets'
//! fronts ([`crate::digest`]) so that a listing of a million records starts at once.

use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::audit::Action;
use crate::crypto;
use crate::digest::{self, SummaryRef};
use crate::error::{Error, Result};
use crate::record::{InterviewDate, RecordId};
use crate::store;

use super::order::{Listed, MergeSorted};
use super::read::{RecordSummary, Scan};
use super::{Draft, Vault};

/// Which records `list` shows.
#[derive(Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub witness: Option<String>,
    pub since: Option<InterviewDate>,
    pub until: Option<InterviewDate>,
}

/// How many records the vault holds, the first of them in listing order, and the
/// `PRAGMA data_version` at which they were checked ([`Vault::front_listing`]).
type FrontListing<T> = (u64, Vec<Listed<T>>, i64);

impl Vault {
    /// The latest version of every record that passes `filter`, by interview date.
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<RecordSummary>> {
        let mut out = Vec::new();
        self.list_each(
            filter,
            RecordSummary::of,
            |r| {
                out.extend(r);
                Ok(())
            },
            || false,
        )?;
        Ok(out)
    }

    /// [`Vault::list`] without holding every record: each record that passes `filter` is
    /// reduced by `map` (on every core, while the digest is read) to what the caller shows of
    /// it, and then handed to `emit` in listing order, after the read is logged. Returns how
    /// many were shown.
    ///
    /// An unfiltered listing hands over its first records (at least [`digest::FRONT`]) from
    /// the buckets' fronts before it reads every bucket, then `None`: a sign to write out what
    /// it has, since the rest takes a while. An error from `emit` (a closed pipe) stops the
    /// listing, and so does `gone` answering true (the reader went away) while the buckets
    /// are read.
    pub fn list_each<T: Send>(
        &mut self,
        filter: &Filter,
        map: impl Fn(&SummaryRef<'_>) -> T + Sync,
        mut emit: impl FnMut(Option<T>) -> std::io::Result<()>,
        gone: impl Fn() -> bool + Sync,
    ) -> Result<u64> {
        self.s.readable()?;
        let mut emit = |item| emit(item).map_err(Error::Output);
        let unfiltered = filter.tag.is_none()
            && filter.witness.is_none()
            && filter.since.is_none()
            && filter.until.is_none();
        let front = if unfiltered {
            self.front_listing(&map)?
        } else {
            None
        };
        let Some((records, first, checked)) = front else {
            // Every bucket first; an unfiltered listing stores new fronts where needed.
            let scan = Scan {
                texts: false,
                fronts: unfiltered,
                gone: &gone,
                checked: None,
            };
            let (records, shares) = self.scan_digest_shares(
                &scan,
                |_, _, entry, _| Ok(filter.matches(entry).then(|| Listed::new(entry, &map))),
                Listed::cmp,
            )?;
            let shown = shares.iter().map(Vec::len).sum::<usize>() as u64;
            self.log_listed(records, shown)?;
            for listed in MergeSorted::new(shares, Listed::cmp) {
                emit(Some(listed.item))?;
            }
            return Ok(shown);
        };
        self.log_listed(records, records)?;
        let printed: Vec<_> = first.iter().map(Listed::record).collect();
        let skip: HashSet<RecordId> = first.iter().map(Listed::id).collect();
        for listed in first {
            emit(Some(listed.item))?;
        }
        emit(None)?;
        let scan = Scan {
            texts: false,
            fronts: false,
            gone: &gone,
            checked: Some(checked),
        };
        let (seen, shares) = self.scan_digest_shares(
            &scan,
            |_, _, entry, _| {
                let printed = skip.contains(&entry.id);
                Ok(Some(Listed::new(entry, |e| (!printed).then(|| map(e)))))
            },
            Listed::cmp,
        )?;
        let mut rest = MergeSorted::new(shares, Listed::cmp);
        // What was printed must still be how the listing starts. It is not only when another
        // tvault changed the vault between the two reads.
        let same_start = printed
            .iter()
            .all(|p| rest.next().is_some_and(|l| l.record() == *p));
        if seen != records || !same_start {
            return Err(Error::Busy);
        }
        for item in rest.filter_map(|l| l.item) {
            emit(Some(item))?;
        }
        Ok(records)
    }

    fn log_listed(&mut self, records: u64, shown: u64) -> Result<()> {
        self.record(vec![Draft::new(Action::RecordsListed).detail(
            serde_json::json!({
                "records": records,
                "shown": shown,
            }),
        )])
    }

    /// How many records the vault holds, the first records of its listing in order as the
    /// buckets' fronts give them (every record when each front holds its whole bucket), and
    /// the `PRAGMA data_version` at which every bucket's records were checked against the
    /// heads, on every core, before any of this is shown. `None` when a bucket's front is
    /// missing or was not taken from the versions the heads name: the listing then reads every
    /// bucket first, which stores new fronts.
    fn front_listing<T>(
        &self,
        map: &impl Fn(&SummaryRef<'_>) -> T,
    ) -> Result<Option<FrontListing<T>>> {
        // Per bucket that holds records: how many, and its front, opened; `None` for a front
        // that is not current.
        type Front = Option<(usize, Zeroizing<Vec<u8>>)>;
        let s = &self.s;
        let (checked, shares) = self.on_every_core(|conn, buckets, _| {
            let mut buf = crypto::SecretBuf::default();
            let mut fronts: Vec<Front> = Vec::new();
            for bucket in buckets {
                let expected = store::bucket_versions(conn, bucket)?;
                s.check_bucket(conn, bucket, &expected)?;
                if expected.is_empty() {
                    continue;
                }
                let blob = s.stored_digest(conn, bucket, digest::Kind::Front, &mut buf)?;
                let current = blob
                    .and_then(digest::front)
                    .is_some_and(|(versions, entries)| {
                        entries.len() == expected.len().min(digest::FRONT)
                            && versions
                                == digest::versions_hash(expected.iter().map(|(id, v)| (id, *v)))
                    });
                fronts.push(
                    blob.filter(|_| current)
                        .map(|blob| (expected.len(), Zeroizing::new(blob.to_vec()))),
                );
            }
            Ok(fronts)
        })?;
        let Some(fronts) = shares.into_iter().flatten().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        let records = fronts.iter().map(|(n, _)| *n as u64).sum();
        let fronts: Vec<(Vec<SummaryRef<'_>>, bool)> = fronts
            .iter()
            .map(|(n, blob)| {
                let entries = digest::front(blob).expect("checked above").1;
                let more = *n > entries.len();
                (entries, more)
            })
            .collect();
        // Every front's records in order, each named by its place in `fronts`, as far as the
        // earliest last record of a front whose bucket holds more: beyond it, records that
        // are in no front may come first.
        let mut first = Vec::new();
        let mut bound = None::<Listed<()>>;
        for (f, (entries, more)) in fronts.iter().enumerate() {
            first.extend(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| Listed::new(e, |_| (f, i))),
            );
            if *more
                && let Some(last) = entries.last().map(|e| Listed::new(e, |_| ()))
                && bound
                    .as_ref()
                    .is_none_or(|b| Listed::cmp_keys(&last, b).is_lt())
            {
                bound = Some(last);
            }
        }
        first.sort_unstable_by(Listed::cmp);
        if let Some(bound) = bound {
            first.truncate(first.partition_point(|l| Listed::cmp_keys(l, &bound).is_le()));
        }
        let first = first
            .into_iter()
            .map(|l| l.with(|(f, i)| map(&fronts[f].0[i])))
            .collect();
        Ok(Some((records, first, checked)))
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
