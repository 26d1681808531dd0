//! Export bundles: the writer's building blocks and the reader that verifies and opens them
//! without any vault. The format (docs/export-format.md) is checkable with `tar`, `sha256sum`,
//! `ssh-keygen` and `age` alone.
//!
//! Outer tar (deterministic: ustar, fixed order, mode 0644, times and owners zero):
//! `payload.age`, `checkpoint.txt`, `checkpoint.txt.sig`, `receipt.json`, `allowed_signers`,
//! `VERIFY.txt`, optionally `timestamps/…` (v5), `SHA256SUMS`, `SHA256SUMS.sig`. Inside
//! `payload.age`, a tar of `records/<id>/…`, `MANIFEST.json`, `approvals/…` (the operators'
//! signatures over the manifest, v5), `SHA256SUMS` and `SHA256SUMS.sig`.

mod approvals;
mod format;
pub mod kit;
mod outer;
mod payload;
mod read;
mod report;
mod signer;
#[cfg(test)]
mod tests;
pub mod timestamps;
mod verify_text;
mod write;

pub use crate::disclosure::Withheld;
pub use approvals::{
    APPROVAL_NAMESPACE, APPROVAL_SIGNERS, APPROVALS_DIR, Approval, ApprovalReport, key_line, role,
    sig_name, signers_text,
};
pub use format::{
    DERIVED_DIR, LINEAGE_FILE, LineageNode, Manifest, ManifestRecord, Receipt, Redaction,
    file_names, header, ssh_sign, sums_text,
};
pub(crate) use outer::check_end_of_archive;
pub use payload::Visitor;
pub use read::{
    BundleError, BundleFailure, BundleReport, OuterChecked, SignerTrust, Unlock, VerifiedBundle,
    verify_bundle, verify_bundle_counted,
};
pub use report::{ReportInput, report_html};
pub use timestamps::{BundleTimestamp, TimestampFiles};
pub use verify_text::{FINGERPRINT_PLACEHOLDER, KEY_FILE_PLACEHOLDER, SealKind};
pub use write::{BundleWriter, HashingWriter, InnerWriter, OuterFiles, ThreadedWriter};

use format::{parse_sums, ssh_verify};
use verify_text::verify_text;

/// The bundle format this build writes and reads: v4, plus the operators' signatures over
/// the manifest (`approvals/`) and optional trusted timestamps in the outer tar
/// (`timestamps/`).
pub const FORMAT: &str = "tvault-export/v5";

/// The fourth bundle format, still read: as v5, without operators' signatures or trusted
/// timestamps.
pub const FORMAT_V4: &str = "tvault-export/v4";

/// The third bundle format, still read: as v4, without derived items and their lineage.
pub const FORMAT_V3: &str = "tvault-export/v3";

/// The second bundle format, still read: its manifest and custody excerpts listed the intake
/// hashes of withheld parts and of the unredacted statement too.
pub const FORMAT_V2: &str = "tvault-export/v2";

/// The first bundle format, still read: its receipt carried the intent event in the clear.
pub const FORMAT_V1: &str = "tvault-export/v1";

/// SSHSIG namespace of the outer `SHA256SUMS.sig` and `checkpoint.txt.sig`.
pub const OUTER_NAMESPACE: &str = "tvault-export@v1";

/// SSHSIG namespace of the inner `SHA256SUMS.sig`.
pub const INNER_NAMESPACE: &str = "tvault-export-inner@v1";

/// The principal named in `allowed_signers`.
pub const PRINCIPAL: &str = "tvault-export";

/// The outer files every bundle has, in the order they are written (a v5 bundle may add the
/// files of [`timestamps`] before `SHA256SUMS`).
pub const OUTER_FILES: [&str; 8] = [
    "payload.age",
    "checkpoint.txt",
    "checkpoint.txt.sig",
    "receipt.json",
    "allowed_signers",
    "VERIFY.txt",
    "SHA256SUMS",
    "SHA256SUMS.sig",
];

/// The most any small file of a bundle (everything but the payload and attachments) may be.
const SMALL_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// The most the payload's `MANIFEST.json` and `SHA256SUMS`, which grow with the records, may
/// be: read whole, so bounded, but room for a few hundred thousand records.
const LIST_FILE_LIMIT: u64 = 256 * 1024 * 1024;
