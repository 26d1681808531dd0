//! The sealed listing digest kept per bucket of record ids (see `crate::digest`): how a
//! session reads, rebuilds and writes it.

use std::collections::{BTreeSet, HashMap};

use rusqlite::Connection;

use crate::crypto;
use crate::digest::{self, Summary, SummaryEntry, Text, TextEntry};
use crate::error::{Integrity, Result};
use crate::record::{InterviewDate, RecordId};
use crate::store;

use super::Session;
use super::order::sort_key_of;

/// The digest entries of versions a caller has just written, by record and version: their
/// summary and their text as written (what would otherwise be decrypted again from the store).
pub(super) type Known = HashMap<(RecordId, u32), (Summary, Text)>;

/// A bucket's sealed summaries, texts and front.
type SealedBucket = [Option<Vec<u8>>; 3];

impl Session {
    pub(super) fn digest_aad(&self, bucket: u8, kind: digest::Kind) -> Vec<u8> {
        crypto::aad(
            "tvault digest v1",
            &[&self.vault_id, &[bucket], &[kind as u8]],
        )
    }

    /// Opens a stored digest blob in `buf`; `None` when there is none or it does not open.
    pub(super) fn stored_digest<'b>(
        &self,
        conn: &Connection,
        bucket: u8,
        kind: digest::Kind,
        buf: &'b mut crypto::SecretBuf,
    ) -> Result<Option<&'b [u8]>> {
        let Some((rowid, len)) = store::digest_place(conn, bucket, kind as u8)? else {
            return Ok(None);
        };
        let sealed = buf.resize(len);
        store::read_digest(conn, rowid, sealed)?;
        Ok(crypto::open_padded_in_place(
            &self.keys.meta,
            &self.digest_aad(bucket, kind),
            sealed,
        ))
    }

    pub(super) fn stored_summaries(
        &self,
        conn: &Connection,
        bucket: u8,
    ) -> Result<Option<Vec<SummaryEntry>>> {
        Ok(self
            .stored_digest(
                conn,
                bucket,
                digest::Kind::Summaries,
                &mut Default::default(),
            )?
            .and_then(digest::decode_summaries))
    }

    pub(super) fn stored_texts(
        &self,
        conn: &Connection,
        bucket: u8,
    ) -> Result<Option<Vec<TextEntry>>> {
        Ok(self
            .stored_digest(conn, bucket, digest::Kind::Texts, &mut Default::default())?
            .and_then(digest::decode_texts))
    }

    /// A digest bucket for the records `expected` (id order), taking what is still current
    /// from `old_summaries` and `old_texts`, the versions just written from `known` (see
    /// [`Known`]), and the rest from the records.
    pub(super) fn build_bucket(
        &self,
        conn: &Connection,
        expected: &[(RecordId, u32)],
        old_summaries: Vec<SummaryEntry>,
        old_texts: Vec<TextEntry>,
        known: &mut Known,
    ) -> Result<(Vec<SummaryEntry>, Vec<TextEntry>)> {
        let mut old_summaries: HashMap<_, _> = old_summaries
            .into_iter()
            .map(|e| ((e.id, e.version), e))
            .collect();
        let mut old_texts: HashMap<_, _> = old_texts
            .into_iter()
            .map(|e| ((e.id, e.version), e))
            .collect();
        let (mut sums, mut texts) = (Vec::new(), Vec::new());
        for key in expected {
            if let (Some(s), Some(t)) = (old_summaries.remove(key), old_texts.remove(key)) {
                sums.push(s);
                texts.push(t);
                continue;
            }
            let (id, version) = *key;
            if let Some((summary, text)) = known.remove(key) {
                sums.push(SummaryEntry {
                    id,
                    version,
                    summary,
                });
                texts.push(TextEntry { id, version, text });
                continue;
            }
            let row = store::version(conn, &id, version)?.ok_or(Integrity::Corrupt)?;
            let sealed = self.open_meta(&row)?;
            let text = match &sealed.statement {
                None => Text::None,
                Some(info) if info.size > digest::TEXT_MAX => Text::Large,
                Some(info) => Text::Inline(self.read_statement(conn, &row, info)?.0),
            };
            sums.push(SummaryEntry {
                id,
                version,
                summary: Summary::of(&sealed),
            });
            texts.push(TextEntry { id, version, text });
        }
        Ok((sums, texts))
    }

    /// Seals and stores a digest bucket; an empty one is deleted.
    pub(super) fn write_bucket(
        &self,
        conn: &Connection,
        bucket: u8,
        sums: &[SummaryEntry],
        texts: &[TextEntry],
    ) -> Result<()> {
        self.store_bucket(conn, bucket, self.seal_bucket(bucket, sums, texts))
    }

    /// A bucket's three digests, sealed (none for an empty bucket).
    fn seal_bucket(&self, bucket: u8, sums: &[SummaryEntry], texts: &[TextEntry]) -> SealedBucket {
        if sums.is_empty() {
            return [None, None, None];
        }
        let seal = |kind, bytes: &[u8]| {
            crypto::seal_padded(&self.keys.meta, &self.digest_aad(bucket, kind), bytes)
        };
        [
            Some(seal(
                digest::Kind::Summaries,
                &digest::encode_summaries(sums),
            )),
            Some(seal(digest::Kind::Texts, &digest::encode_texts(texts))),
            Some(self.seal_front(bucket, sums)),
        ]
    }

    /// The sealed front of a bucket whose current records are `sums`, in id order: its first
    /// [`digest::FRONT`] records in listing order.
    fn seal_front(&self, bucket: u8, sums: &[SummaryEntry]) -> Vec<u8> {
        let versions = digest::versions_hash(sums.iter().map(|e| (&e.id, e.version)));
        let first = first_in_order(sums, |e| {
            let s = &e.summary;
            sort_key_of(
                s.meta.date.as_ref().map(InterviewDate::as_str),
                &s.created_at,
                e.id,
            )
        });
        self.seal_front_with(bucket, &versions, first)
    }

    /// A sealed front of `first`, taken from the versions whose hash is `versions`.
    pub(super) fn seal_front_with<'e>(
        &self,
        bucket: u8,
        versions: &[u8; 32],
        first: impl IntoIterator<Item = &'e SummaryEntry>,
    ) -> Vec<u8> {
        crypto::seal_padded(
            &self.keys.meta,
            &self.digest_aad(bucket, digest::Kind::Front),
            &digest::encode_front(versions, first),
        )
    }

    /// Whether the stored front of `bucket` opens and was taken from the versions `current`
    /// (id order), so holds the bucket's first records in listing order.
    pub(super) fn front_current(
        &self,
        conn: &Connection,
        bucket: u8,
        current: &[(RecordId, u32)],
    ) -> Result<bool> {
        let mut buf = crypto::SecretBuf::default();
        let Some(blob) = self.stored_digest(conn, bucket, digest::Kind::Front, &mut buf)? else {
            return Ok(false);
        };
        Ok(digest::front(blob).is_some_and(|(versions, first)| {
            first.len() == current.len().min(digest::FRONT)
                && versions == digest::versions_hash(current.iter().map(|(id, v)| (id, *v)))
        }))
    }

    fn store_bucket(&self, conn: &Connection, bucket: u8, sealed: SealedBucket) -> Result<()> {
        let kinds = [
            digest::Kind::Summaries,
            digest::Kind::Texts,
            digest::Kind::Front,
        ];
        for (kind, blob) in kinds.into_iter().zip(sealed) {
            store::set_digest(conn, bucket, kind as u8, blob.as_deref())?;
        }
        Ok(())
    }

    /// Brings the digest buckets of `records` up to date, in the caller's transaction.
    pub(super) fn refresh_digest(
        &self,
        conn: &Connection,
        records: impl IntoIterator<Item = RecordId>,
    ) -> Result<()> {
        self.refresh_digest_known(conn, records, &mut Known::new())
    }

    /// [`Session::refresh_digest`], taking the entries of the versions in `known` as given
    /// rather than reading those versions back.
    pub(super) fn refresh_digest_known(
        &self,
        conn: &Connection,
        records: impl IntoIterator<Item = RecordId>,
        known: &mut Known,
    ) -> Result<()> {
        let buckets: Vec<u8> = records
            .into_iter()
            .map(|r| digest::bucket(&r))
            .collect::<BTreeSet<u8>>()
            .into_iter()
            .collect();
        // A few buckets at a time are built (reading the store), then encoded and sealed on
        // every core, then stored.
        for group in buckets.chunks(16) {
            let mut built = Vec::with_capacity(group.len());
            for &bucket in group {
                let expected = store::bucket_versions(conn, bucket)?;
                let old_sums = self.stored_summaries(conn, bucket)?.unwrap_or_default();
                let old_texts = self.stored_texts(conn, bucket)?.unwrap_or_default();
                let (sums, texts) =
                    self.build_bucket(conn, &expected, old_sums, old_texts, known)?;
                built.push((bucket, sums, texts));
            }
            let sealed = super::cores::map_in_order(built, 2, |(bucket, sums, texts)| {
                (bucket, self.seal_bucket(bucket, &sums, &texts))
            });
            for (bucket, sealed) in sealed {
                self.store_bucket(conn, bucket, sealed)?;
            }
        }
        Ok(())
    }
}

/// The first [`digest::FRONT`] of `entries` in listing order (`key` gives each one's), in
/// that order.
pub(super) fn first_in_order<E>(
    entries: &[E],
    key: impl Fn(&E) -> (&str, &str, RecordId),
) -> Vec<&E> {
    let mut first: Vec<&E> = entries.iter().collect();
    let order = |a: &&E, b: &&E| key(a).cmp(&key(b));
    if first.len() > digest::FRONT {
        first.select_nth_unstable_by(digest::FRONT - 1, order);
        first.truncate(digest::FRONT);
    }
    first.sort_unstable_by(order);
    first
}
