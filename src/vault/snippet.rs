//! Finding a search term in a text, case-insensitively, and the excerpt `search` shows
//! around it.
//!
//! The meaning is Rust's own: a text matches where its [`str::to_lowercase`] contains the
//! term's. Nearly every text searched does not match, so the common case is made cheap: in
//! ASCII text (where lowercasing is byte for byte) the term is looked for with
//! [`memchr::memmem`] in a lowercased copy made a few KiB at a time on the stack, instead of
//! stopping at every occurrence of its first letter. Other text is lowercased whole, as
//! before.

use memchr::memmem;
use zeroize::{Zeroize, Zeroizing};

/// A search term, lowercased, and what finds it.
pub(super) struct Matcher<'a> {
    needle: &'a str,
    finder: memmem::Finder<'a>,
}

/// How much ASCII text is lowercased at a time.
const CHUNK: usize = 4096;

/// Texts shorter than this (the metadata fields) are searched without a lowercased copy.
const SHORT: usize = 64;

impl<'a> Matcher<'a> {
    /// A matcher for `needle`, which must already be lowercase (`str::to_lowercase`).
    pub(super) fn new(needle: &'a str) -> Self {
        Matcher {
            needle,
            finder: memmem::Finder::new(needle),
        }
    }

    /// The first match in `text`, with about forty characters on each side, on one line.
    pub(super) fn snippet(&self, text: &str) -> Option<Zeroizing<String>> {
        let first = self.find(text)?;
        let len = self.needle.chars().count();
        let total = text.chars().count();
        let start = first.saturating_sub(40).min(total);
        let end = (first + len + 40).min(total);
        let mut out = Zeroizing::new(String::new());
        if start > 0 {
            out.push('…');
        }
        let excerpt: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .skip(start)
                .take(end - start)
                .map(|c| if c.is_whitespace() { ' ' } else { c })
                .collect(),
        );
        out.push_str(excerpt.trim());
        if end < total {
            out.push('…');
        }
        Some(out)
    }

    /// Where the first match starts, counted in characters of `text`.
    fn find(&self, text: &str) -> Option<usize> {
        if self.needle.is_empty() {
            return None;
        }
        if text.is_ascii() {
            // Lowercase ASCII holds no other character, so a term that is not ASCII cannot
            // be in it. Bytes are characters here.
            if !self.needle.is_ascii() {
                return None;
            }
            return if text.len() < SHORT || self.needle.len() > CHUNK / 2 {
                find_ascii_lowercase(text.as_bytes(), self.needle.as_bytes())
            } else {
                self.find_ascii_chunked(text.as_bytes())
            };
        }
        let lower = Zeroizing::new(text.to_lowercase());
        let at = lower.find(self.needle)?;
        // Lowercasing can change lengths; this counts the characters of the lowercased text
        // before the match (which is where `search` has always placed its excerpt).
        Some(lower[..at].chars().count())
    }

    /// [`Matcher::find`] in ASCII `haystack`: each chunk is lowercased into a buffer on the
    /// stack and searched there; consecutive chunks overlap by the term's length less one,
    /// so a match across their border is found in the second.
    fn find_ascii_chunked(&self, haystack: &[u8]) -> Option<usize> {
        let n = self.needle.len();
        let mut scratch = Scratch {
            buf: [0; CHUNK],
            used: 0,
        };
        let mut at = 0;
        loop {
            let end = (at + CHUNK).min(haystack.len());
            let lower = scratch.lowercase(&haystack[at..end]);
            if let Some(i) = self.finder.find(lower) {
                return Some(at + i);
            }
            if end == haystack.len() {
                return None;
            }
            at = end + 1 - n;
        }
    }
}

/// A lowercased piece of a text, wiped when dropped.
struct Scratch {
    buf: [u8; CHUNK],
    /// How much of `buf` has held text.
    used: usize,
}

impl Scratch {
    fn lowercase(&mut self, ascii: &[u8]) -> &[u8] {
        let out = &mut self.buf[..ascii.len()];
        for (o, b) in out.iter_mut().zip(ascii) {
            *o = b.to_ascii_lowercase();
        }
        self.used = self.used.max(ascii.len());
        out
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.buf[..self.used].zeroize();
    }
}

/// Where `needle` (ASCII, lowercase) first occurs in ASCII `haystack`, ignoring case.
fn find_ascii_lowercase(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let last = haystack.len().checked_sub(needle.len())?;
    let (lower, upper) = (needle[0], needle[0].to_ascii_uppercase());
    let mut at = 0;
    while at <= last {
        at += memchr::memchr2(lower, upper, &haystack[at..=last])?;
        if haystack[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}
