//! How far a long operation is: a [`Tally`] hears bytes as they pass through a [`Counted`]
//! reader and tells a callback `(done, total)`. The library draws nothing; the command line
//! turns the callback into a progress bar.

use std::io::{self, Read, Seek};

/// Bytes done out of a total known in advance, reported to a callback as they go.
pub struct Tally<'a> {
    done: u64,
    total: u64,
    hear: Option<&'a mut dyn FnMut(u64, u64)>,
}

impl<'a> Tally<'a> {
    pub fn new(total: u64, hear: &'a mut dyn FnMut(u64, u64)) -> Self {
        Tally {
            done: 0,
            total,
            hear: Some(hear),
        }
    }

    /// A tally nobody listens to.
    pub fn silent() -> Self {
        Tally {
            done: 0,
            total: 0,
            hear: None,
        }
    }

    /// Adds to the total (work found on the way).
    pub fn grow(&mut self, more: u64) {
        self.total += more;
    }

    pub fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(hear) = self.hear.as_mut() {
            hear(self.done, self.total.max(self.done));
        }
    }
}

/// A reader that adds what it reads to a [`Tally`].
pub struct Counted<'t, 'a, R> {
    pub inner: R,
    pub tally: &'t mut Tally<'a>,
}

impl<R: Read> Read for Counted<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.add(n as u64);
        Ok(n)
    }
}

/// Seeking past bytes does not count them: they were not read.
impl<R: Seek> Seek for Counted<'_, '_, R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_reader_reports_every_byte_once() {
        let mut heard = Vec::new();
        let mut hear = |done, total| heard.push((done, total));
        let mut tally = Tally::new(10, &mut hear);
        let mut out = Vec::new();
        let mut r = Counted {
            inner: &b"0123456789"[..],
            tally: &mut tally,
        };
        io::copy(&mut r, &mut out).unwrap();
        tally.grow(5);
        tally.add(5);
        assert_eq!(out, b"0123456789");
        assert_eq!(heard.first(), Some(&(10, 10)));
        assert_eq!(heard.last(), Some(&(15, 15)));
    }
}
