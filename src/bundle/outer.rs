//! The outer tar of a bundle: every entry checked and the small files kept, the payload hashed
//! or skipped, and the archive's end checked, so that nothing rides along after it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};

use crate::progress::{Counted, Tally};

use super::OUTER_FILES;
use super::SMALL_FILE_LIMIT;
use super::payload::ParallelHashingReader;
use super::read::{BundleError, fail};

/// Reads the outer tar: every entry a regular file with an expected name, once. Small files
/// are kept in memory. The payload is never kept: with `hash_payload` it is hashed as it is
/// read, else it is skipped unread (a key holder's decrypting pass hashes it instead).
pub(super) struct Outer {
    pub(super) small: BTreeMap<String, Vec<u8>>,
    /// The actual SHA-256 of `payload.age`, when it was hashed.
    pub(super) payload_sha256: Option<[u8; 32]>,
}

pub(super) fn read_outer(
    file: &File,
    hash_payload: bool,
    tally: &mut Tally<'_>,
) -> Result<Outer, BundleError> {
    let mut archive = tar::Archive::new(Counted { inner: file, tally });
    let mut small = BTreeMap::new();
    let mut payload_seen = false;
    let mut payload_sha256 = None;
    // With seeking, an entry left unread is skipped rather than read.
    let entries = archive
        .entries_with_seek()
        .or_else(|e| fail("read the outer tar", e.to_string()))?;
    // Where the last entry's data ends (padded to a block): the end-of-archive marker must
    // follow there, so a bundle cut short anywhere, even in that marker, is refused.
    let mut end = 0u64;
    for entry in entries {
        let mut entry = entry.or_else(|e| fail("read the outer tar", e.to_string()))?;
        end = end.max(entry.raw_file_position() + entry.size().div_ceil(512) * 512);
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name).into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return fail(
                "read the outer tar",
                format!("{name:?} is not a regular file"),
            );
        }
        if !OUTER_FILES.contains(&name.as_str()) && !super::timestamps::is_timestamp_name(&name) {
            return fail("read the outer tar", format!("unexpected entry {name:?}"));
        }
        if small.contains_key(&name) || (name == "payload.age" && payload_seen) {
            return fail("read the outer tar", format!("{name:?} appears twice"));
        }
        if name == "payload.age" {
            payload_seen = true;
            if hash_payload {
                // Hashed on another thread while this one reads.
                let mut hashing = ParallelHashingReader {
                    inner: &mut entry,
                    hasher: crate::crypto::ParallelSha256::new(),
                };
                io::copy(&mut hashing, &mut io::sink())
                    .or_else(|e| fail("read payload.age", e.to_string()))?;
                payload_sha256 = Some(hashing.hasher.finish());
            }
        } else {
            if entry.size() > SMALL_FILE_LIMIT {
                return fail("read the outer tar", format!("{name:?} is too large"));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .or_else(|e| fail("read the outer tar", e.to_string()))?;
            small.insert(name, data);
        }
    }
    check_end_of_archive(file, end)?;
    if !payload_seen {
        return fail("read the outer tar", "payload.age is missing");
    }
    for name in OUTER_FILES.iter().skip(1) {
        if !small.contains_key(*name) {
            return fail("read the outer tar", format!("{name} is missing"));
        }
    }
    Ok(Outer {
        small,
        payload_sha256,
    })
}

/// The outer tar ends as tvault writes it: after the last entry, two zero blocks (tar's
/// end-of-archive marker) and at most a record's worth of zero padding, nothing else.
pub(crate) fn check_end_of_archive(file: &File, end: u64) -> Result<(), BundleError> {
    use std::os::unix::fs::FileExt;
    let step = "read the outer tar";
    let len = file
        .metadata()
        .or_else(|e| fail(step, e.to_string()))?
        .len();
    let tail = len.saturating_sub(end);
    if tail < 1024 {
        return fail(
            step,
            "the bundle is cut short: its end-of-archive marker is missing",
        );
    }
    if tail > 10240 {
        return fail(step, "there is data after the end of the archive");
    }
    let mut rest = vec![0u8; tail as usize];
    file.read_exact_at(&mut rest, end)
        .or_else(|e| fail(step, e.to_string()))?;
    if rest.iter().any(|&b| b != 0) {
        return fail(step, "there is data after the end of the archive");
    }
    Ok(())
}
