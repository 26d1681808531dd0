//! The library's one error type.
//!
//! Each variant is a failure a user can act on. Messages are lowercase and name what failed and
//! where, but never carry testimony, metadata, witness names, attachment names or key material:
//! an error message may end up in a terminal scrollback, a CI log or a bug report.

use std::io;
use std::path::PathBuf;

use crate::record::{RecordId, RecordIdPrefix};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no vault at {}", path.display())]
    NoVault { path: PathBuf },

    #[error("a vault already exists at {}", path.display())]
    VaultExists { path: PathBuf },

    #[error("the vault is busy: another tvault process is using it")]
    Busy,

    /// Deliberately one message whatever failed: the caller learns nothing about which check.
    #[error("wrong passphrase, or no keyslot matches")]
    WrongPassphrase,

    #[error("integrity check failed: {0}")]
    Integrity(Integrity),

    /// The vault's log is shorter than, or inconsistent with, the checkpoint kept outside it.
    #[error(
        "the vault was rolled back or its log rewritten: it does not extend the checkpoint kept outside it\n\nanchor checkpoint ({anchor_path}):\n{anchor}\nvault checkpoint:\n{vault}"
    )]
    Rollback {
        anchor_path: String,
        anchor: String,
        vault: String,
    },

    /// The change was committed, but its checkpoint could not be copied to the anchor file.
    #[error("the change was saved, but the anchor checkpoint could not be written to {}", path.display())]
    Anchor {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The change was committed, but the rollback journal that held the pages it replaced
    /// could not be overwritten and removed.
    #[error(
        "the change was saved, but its rollback journal {} could not be overwritten: the old pages it holds are still on disk",
        path.display()
    )]
    JournalNotCleared {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The vault holds records but has no custody log: made before the log existed, or its
    /// log was removed. Only `audit restart-log` goes on from here.
    #[error("this vault holds records but has no custody log")]
    LogMissing,

    /// `audit restart-log` on a vault whose log is there.
    #[error("this vault's custody log is in place: there is nothing to restart")]
    LogPresent,

    /// An anchor was written for this vault, and it is not where it should be.
    #[error("the anchor checkpoint of this vault is missing: {}", path.display())]
    AnchorMissing { path: PathBuf },

    #[error("the vault has format version {found}, newer than this tvault supports ({supported})")]
    UnsupportedFormat { found: i64, supported: i64 },

    #[error("the timestamp response was not accepted: {0}")]
    Timestamp(crate::audit::timestamp::TimestampError),

    #[error("no authority certificate to check the timestamp against")]
    TimestampCaNeeded,

    #[error("no record matches id {0}")]
    RecordNotFound(RecordIdPrefix),

    /// Records whose consent does not cover the export's purpose.
    #[error("consent does not allow this export:\n{}", .0.join("\n"))]
    ConsentRefused(Vec<String>),

    #[error("not a recipient tvault can seal to: {0}")]
    InvalidRecipient(String),

    /// (The name is not repeated: operator names are people's names.)
    #[error("an operator with that name already exists")]
    OperatorExists(String),

    #[error("no operator has that name")]
    OperatorNotFound(String),

    #[error("this vault has several operators: say whose passphrase to set")]
    OperatorNeeded,

    #[error("this is the last way into the vault; removing it would lock everyone out")]
    LastKeyslot,

    /// The vault's two-person rule was not met: nothing was done (the refusal is logged).
    #[error("{0}")]
    Approval(ApprovalError),

    /// Custodian shares that cannot be read or combined.
    #[error("{0}")]
    Share(crate::crypto::shares::ShareError),

    #[error("these custodian shares belong to another vault ({0})")]
    SharesOtherVault(String),

    #[error(
        "these custodian shares belong to a split that was replaced: they no longer open the vault"
    )]
    SharesReplaced,

    #[error("this custodian share is sealed: give the custodian's identity with --identity FILE")]
    ShareSealed,

    #[error("no identity given opens this sealed custodian share")]
    ShareNotForKey,

    #[error("this vault has no custodians keyslot")]
    NoCustodians,

    #[error("a split needs 2 <= threshold <= shares <= 255 (got {threshold} of {shares})")]
    BadSplit { threshold: usize, shares: usize },

    #[error("no records match what was asked to export")]
    NothingToExport,

    #[error("the bundle failed verification at: {0}")]
    Bundle(crate::bundle::BundleError),

    /// A bundle's record may not change what this vault holds of it.
    #[error("record {record}: {why}")]
    ImportRefused {
        record: RecordId,
        why: ImportRefusal,
    },

    /// An import without a named signer, of a bundle whose source vault and signer are not
    /// the ones this vault pinned for records it holds.
    #[error(
        "no signer was named, and this vault has not pinned this bundle's signer for its source"
    )]
    SignerNotPinned,

    /// The bundle's payload is sealed to other keys, or to another passphrase.
    #[error("this bundle is not for that key (or passphrase)")]
    BundleNotForKey,

    #[error("record {record} has no version {version}")]
    VersionNotFound { record: RecordId, version: u32 },

    #[error("id {0} matches more than one record")]
    AmbiguousId(RecordIdPrefix),

    #[error("record {0} has no attachment with that name")]
    AttachmentNotFound(RecordId),

    /// (The name is not repeated: names of files can say who a witness is.)
    #[error("record {0} already has an attachment or derived item with that name")]
    PartNameTaken(RecordId),

    #[error(
        "a derived item's name must be a plain file name (no `/`, no control characters, at most 255 bytes)"
    )]
    InvalidPartName,

    #[error("record {0} has no statement, attachment or derived item by that name")]
    SourceNotFound(RecordId),

    /// `redact` works on text only.
    #[error("record {0}: the source to redact is not UTF-8 text within {limit} bytes", limit = crate::disclosure::TEXT_REDACTION_LIMIT)]
    SourceNotText(RecordId),

    /// (The pattern is not repeated: it may hold a name.)
    #[error("a --mask-regex is not a valid regular expression")]
    InvalidMask,

    #[error("no mask matched anything in the source: there is nothing to redact")]
    NothingMasked,

    #[error("the statement is not valid UTF-8 text")]
    StatementNotUtf8,

    #[error("the statement is larger than {limit} bytes")]
    StatementTooLarge { limit: u64 },

    #[error("invalid KDF parameters: {0}")]
    InvalidKdf(&'static str),

    #[error("not enough memory for the key derivation ({mib} MiB)")]
    KdfMemory { mib: u64 },

    #[error("cannot read the statement")]
    ReadStatement(#[source] io::Error),

    /// `index` counts from 1 in the order the attachments were given.
    #[error("cannot read attachment {index}")]
    ReadAttachment {
        index: usize,
        #[source]
        source: io::Error,
    },

    #[error("cannot write the output")]
    Output(#[source] io::Error),

    #[error("cannot use {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("database error")]
    Database(#[source] rusqlite::Error),

    /// A reading command on a field kit, which holds no key that opens what it records.
    #[error("this is a field kit: records can be read only at headquarters")]
    FieldKit,

    /// A field kit command (`kit send`, `kit confirm`) on a vault.
    #[error("this vault is not a field kit")]
    NotAFieldKit,

    /// (The name is not repeated: kit names may say where a team works.)
    #[error("a field kit with that name already exists")]
    KitExists,

    #[error("no field kit has that name")]
    KitNotFound,

    /// A kit bundle that no field kit made by this vault sealed, or that names another vault.
    #[error("this bundle is not from a field kit of this vault")]
    KitUnknown,

    /// A bundle from a revoked kit, without `--accept-revoked`.
    #[error("the field kit that sent this bundle was revoked on {revoked_at}")]
    KitRevoked { revoked_at: String },

    /// A kit bundle, or a receipt for one, failed a check.
    #[error("{what}: {why}")]
    KitCheck { what: &'static str, why: String },

    /// Every record a kit holds has been confirmed: there is nothing to send.
    #[error("there is nothing to send: every record on this kit was confirmed by headquarters")]
    NothingToSend,
}

/// Why approvals were refused. Never names an operator (names are people's names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "refused: the vault's policy needs {required} operators to sign, and {given} did (no file was written; the refusal is logged)"
    )]
    Missing { required: u8, given: usize },
    #[error("refused: an approver must be another operator than the one who unlocked")]
    Oneself,
    #[error("refused: the same operator is named twice among the approvers")]
    Twice,
    #[error("refused: no operator with a passphrase has the approver's name")]
    Unknown,
    #[error("refused: wrong passphrase for the approver")]
    WrongPassphrase,
    #[error("refused: the approver has no personal key yet (it is made at their next unlock)")]
    ApproverHasNoKey,
    #[error(
        "refused: the operator who unlocked has no personal key to sign with (the recovery code and custodians have none)"
    )]
    NoPersonalKey,
    #[error("a policy asks for 1 to 9 operators, not {0}")]
    InvalidRule(u8),
    #[error(
        "an export rule of {needed} operators needs that many operators with a passphrase, and there would be {operators}"
    )]
    TooFewOperators { needed: u8, operators: usize },
}

impl From<ApprovalError> for Error {
    fn from(e: ApprovalError) -> Self {
        Error::Approval(e)
    }
}

/// What an integrity failure was about. Names places, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Integrity {
    #[error("the file is not a tvault vault, or its header is damaged")]
    NotAVault,
    #[error("unexpected object in the database schema: {0:?}")]
    UnexpectedSchema(String),
    #[error("SQLite did not accept the required setting {0}")]
    Pragma(&'static str),
    #[error("a keyslot's KDF parameters are out of bounds")]
    KdfOutOfBounds,
    #[error("the vault header or keyslot table was modified")]
    HeaderMac,
    #[error("the database file is damaged")]
    Corrupt,
    #[error("record {0}: metadata does not authenticate")]
    Metadata(RecordId),
    #[error("record {0}: witness identity does not authenticate")]
    Identity(RecordId),
    #[error("record {record}: part {part} does not authenticate")]
    Part { record: RecordId, part: u32 },
    #[error("record {record}: part {part} is truncated or has missing chunks")]
    PartLength { record: RecordId, part: u32 },
    #[error("record {record}: part {part} does not match its intake hash")]
    PartHash { record: RecordId, part: u32 },
    #[error("record {record}: part {part} is missing")]
    PartMissing { record: RecordId, part: u32 },
    #[error("the custody log: {0}")]
    Log(String),
    #[error("the vault's signing key does not match its public half")]
    SigningKey,
    /// The tables hold something other than what the custody log says of a record: its
    /// newest version was removed, a shredded record was brought back, or a version was
    /// added without being logged.
    #[error(
        "record {0}: the stored versions disagree with the custody log (a version was removed, a shredded record brought back, or a version added unlogged)"
    )]
    LogDisagrees(RecordId),
}

/// Why an import may not add a bundle's version of a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportRefusal {
    #[error(
        "it was recorded in this vault; a bundle adds versions to it only when its source is trusted for it (--trust-source)"
    )]
    NotTrusted,
    #[error("it was first imported from another vault or signer than this bundle's")]
    OtherSource,
    #[error("the bundle holds version {offered}, but the next version here is {next}")]
    NotContiguous { offered: u32, next: u32 },
    #[error("it was shredded in this vault; an import does not bring it back")]
    Shredded,
    #[error("the bundle's version {0} differs from the version {0} held here")]
    DifferentVersion(u32),
    #[error(
        "the bundle's version allows more than the consent held here (--accept-consent-change)"
    )]
    ConsentWidened,
}

impl From<Integrity> for Error {
    fn from(value: Integrity) -> Self {
        Error::Integrity(value)
    }
}

impl From<crate::bundle::BundleError> for Error {
    fn from(e: crate::bundle::BundleError) -> Self {
        match e.kind {
            crate::bundle::BundleFailure::NotForKey => Error::BundleNotForKey,
            crate::bundle::BundleFailure::Integrity => Error::Bundle(e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        // tvault never writes a value of the wrong type: one found is damage or tampering.
        if matches!(
            e,
            rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
        ) {
            return Error::Integrity(Integrity::Corrupt);
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::Integrity(Integrity::Corrupt)
            }
            _ => Error::Database(e),
        }
    }
}

impl Error {
    /// True when the failure came from the operating system's storage: a full disk, a
    /// permission, a failing device. The command line maps these to their own exit code.
    pub fn is_storage(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            Error::Io { .. }
            | Error::Output(_)
            | Error::Anchor { .. }
            | Error::JournalNotCleared { .. } => true,
            Error::Database(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::CannotOpen
                        | ErrorCode::ReadOnly
                        | ErrorCode::PermissionDenied
                )
            ),
            _ => false,
        }
    }

    /// True when the database refused a write for breaking a constraint (a UNIQUE or foreign
    /// key): a conflict in what was written, never a storage failure.
    pub fn is_constraint(&self) -> bool {
        matches!(self, Error::Database(e)
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation))
    }
}

/// Adds the path to an I/O error, the way jj's `IoResultExt::context` does.
pub(crate) trait IoResultExt<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

impl From<crate::audit::timestamp::TimestampError> for Error {
    fn from(e: crate::audit::timestamp::TimestampError) -> Self {
        Error::Timestamp(e)
    }
}
