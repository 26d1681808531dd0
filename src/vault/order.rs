//! Listing order: by interview date (intake date when there is none), then intake time, then
//! record id, and the keys and merge that `list` and `search` sort by.

use crate::digest::SummaryRef;
use crate::record::RecordId;

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
    pub(super) fn of((date, created, id): (&str, &str, RecordId)) -> Self {
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

    pub(super) fn cmp(
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
pub(super) struct Listed<T> {
    order: OrderKey,
    /// The date and intake time in full, kept only where [`OrderKey`] had to cut them.
    full: Option<Box<(String, String)>>,
    version: u32,
    pub(super) item: T,
}

impl<T> Listed<T> {
    pub(super) fn new(r: &SummaryRef<'_>, map: impl Fn(&SummaryRef<'_>) -> T) -> Self {
        let key = sort_key_of(r.date, r.created_at, r.id);
        let order = OrderKey::of(key);
        let full = (!order.exact).then(|| Box::new((key.0.to_owned(), key.1.to_owned())));
        Listed {
            order,
            full,
            version: r.version,
            item: map(r),
        }
    }

    /// The record and version listed.
    pub(super) fn record(&self) -> (u128, u32) {
        (self.order.id, self.version)
    }

    /// The record listed.
    pub(super) fn id(&self) -> RecordId {
        RecordId(self.order.id.to_be_bytes())
    }

    /// The same place in the order, holding `f` of the item.
    pub(super) fn with<U>(self, f: impl FnOnce(T) -> U) -> Listed<U> {
        Listed {
            order: self.order,
            full: self.full,
            version: self.version,
            item: f(self.item),
        }
    }

    /// [`by_date`] for listed records.
    pub(super) fn cmp(a: &Self, b: &Self) -> std::cmp::Ordering {
        Self::cmp_keys(a, b)
    }

    /// [`Listed::cmp`] of records that hold different items.
    pub(super) fn cmp_keys<U>(a: &Self, b: &Listed<U>) -> std::cmp::Ordering {
        a.order.cmp(&b.order, || a.full_key().cmp(&b.full_key()))
    }

    fn full_key(&self) -> (Vec<u8>, Vec<u8>, u128) {
        let packed = self.order.packed();
        let (date, created) = match &self.full {
            Some(full) => (full.0.as_bytes().to_vec(), full.1.as_bytes().to_vec()),
            None => (trimmed(&packed[..10]), trimmed(&packed[10..])),
        };
        (date, created, self.order.id)
    }
}

/// `bytes` without the zero bytes [`OrderKey`] padded them with.
fn trimmed(bytes: &[u8]) -> Vec<u8> {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes[..end].to_vec()
}

pub(super) fn sort_key_of<'a>(
    date: Option<&'a str>,
    created: &'a str,
    id: RecordId,
) -> (&'a str, &'a str, RecordId) {
    let date = date.unwrap_or_else(|| created.get(..10).unwrap_or(created));
    (date, created, id)
}
