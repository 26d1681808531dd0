//! The one place library errors become messages, hints and exit codes.
//!
//! Rendered as `error: …`, then `caused by: …` lines (always for storage failures, where the
//! cause is the useful part; otherwise with `-v`), then `hint: …` lines. With `--json` the same
//! goes to stderr as one JSON object.

use std::io::{self, Write};
use std::process::ExitCode;

use tvault::Error;
use tvault::audit::timestamp::TimestampError;

/// The stable exit codes (README.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failure = 1,
    Usage = 2,
    /// Done, but not all of it: `export --only-consented` left records out.
    Partial = 3,
    NoVault = 10,
    Busy = 11,
    WrongPassphrase = 12,
    Integrity = 13,
    NoSecretSource = 14,
    Io = 15,
}

pub struct CliError {
    pub kind: Exit,
    pub message: String,
    /// The chain of causes, outermost first.
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    /// Render as JSON on stderr.
    pub json: bool,
    /// Show causes even when the kind would not.
    pub verbose: bool,
    /// A closed stdout (`tvault list | head`): not an error at all.
    quiet_success: bool,
}

impl CliError {
    pub fn new(kind: Exit, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            json: false,
            verbose: false,
            quiet_success: false,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Prefixes the message with what it is about (`share FILE: …`).
    pub fn context(mut self, what: impl Into<String>) -> Self {
        self.message = format!("{}: {}", what.into(), self.message);
        self
    }

    pub fn with_source(mut self, source: &dyn std::error::Error) -> Self {
        let mut next = Some(source);
        while let Some(e) = next {
            self.causes.push(e.to_string());
            next = e.source();
        }
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Exit::Usage, message)
    }

    /// Writing to stdout failed. A closed pipe is a quiet success, as in ripgrep.
    pub fn stdout(e: io::Error) -> Self {
        let mut err = CliError::new(Exit::Io, "cannot write to standard output").with_source(&e);
        err.quiet_success = e.kind() == io::ErrorKind::BrokenPipe;
        err
    }

    pub fn report(self) -> ExitCode {
        if self.quiet_success {
            return ExitCode::SUCCESS;
        }
        let show_causes = self.verbose || self.kind == Exit::Io;
        let stderr = io::stderr();
        let mut w = stderr.lock();
        // Nothing useful can be done if stderr itself is gone.
        let _ = if self.json {
            let doc = serde_json::json!({
                "error": {
                    "message": self.message,
                    "exit_code": self.kind as i32,
                    "causes": self.causes,
                    "hints": self.hints,
                }
            });
            writeln!(w, "{doc}")
        } else {
            let mut text = format!("error: {}\n", self.message);
            if show_causes {
                for c in &self.causes {
                    text.push_str(&format!("caused by: {c}\n"));
                }
            }
            for h in &self.hints {
                text.push_str(&format!("hint: {h}\n"));
            }
            w.write_all(text.as_bytes())
        };
        ExitCode::from(self.kind as u8)
    }
}

impl From<Error> for CliError {
    /// The one `match` from library errors to exit codes, messages and hints; long because
    /// it names every variant.
    fn from(err: Error) -> Self {
        let message = err.to_string();
        let (kind, hints): (Exit, &[&str]) = match &err {
            Error::NoVault { .. } => (
                Exit::NoVault,
                &[
                    "create one with `tvault init`, or name an existing vault with --vault PATH or TVAULT_VAULT",
                ],
            ),
            Error::VaultExists { .. } => (
                Exit::Failure,
                &[
                    "tvault never replaces a vault; to make a second one, pass --vault with a new path",
                ],
            ),
            Error::Busy => (
                Exit::Busy,
                &[
                    "another tvault command is using this vault; wait for it to finish and try again",
                ],
            ),
            Error::WrongPassphrase => (
                Exit::WrongPassphrase,
                &["check the passphrase and the keyboard layout; nothing was changed"],
            ),
            Error::Rollback { .. } => (
                Exit::Integrity,
                &[
                    "this copy of the vault is older than, or differs from, the one last used here: it may have been restored from a backup or swapped",
                    "if you restored it on purpose, run the command again with --accept-rollback (this is recorded in the custody log)",
                ],
            ),
            Error::AnchorMissing { .. } => (
                Exit::Integrity,
                &[
                    "an anchor checkpoint was written for this vault, and it is gone: the vault may have been swapped for an older copy, or the anchor deleted to hide that",
                    "if you moved the vault here or lost the anchor folder yourself, run the command again with --accept-missing-anchor (this is recorded in the custody log)",
                ],
            ),
            Error::LogMissing => (
                Exit::Integrity,
                &[
                    "either a tvault from before the custody log made this vault, or someone removed its log to erase what it recorded",
                    "only if you know it is the former: `tvault audit restart-log --reason TEXT` starts a new log; every event before it stays unrecorded",
                ],
            ),
            Error::LogPresent => (
                Exit::Failure,
                &["`tvault verify` checks the log; nothing was changed"],
            ),
            Error::Integrity(_) => (
                Exit::Integrity,
                &[
                    "the vault may have been damaged or tampered with; do not write to it",
                    "keep a copy of the file exactly as it is, and compare with a backup you trust",
                ],
            ),
            Error::UnsupportedFormat { .. } => (
                Exit::Failure,
                &["this vault was written by a newer tvault; install that version to open it"],
            ),
            Error::RecordNotFound(_) => (Exit::Failure, &["`tvault list` shows every record's id"]),
            Error::ConsentRefused(_) => (
                Exit::Failure,
                &[
                    "export only records whose consent lists this purpose, or choose another --purpose",
                    "--override-consent --reason TEXT includes them anyway; the reason is logged",
                ],
            ),
            Error::InvalidRecipient(_) => (
                Exit::Usage,
                &["a recipient is an age X25519 key (age1…) or an OpenSSH ssh-ed25519 public key"],
            ),
            Error::OperatorExists(_) => (
                Exit::Failure,
                &["choose another name; `tvault operator list` shows them"],
            ),
            Error::OperatorNotFound(_) => (
                Exit::Failure,
                &["`tvault operator list` shows the operators"],
            ),
            Error::OperatorNeeded => (Exit::Usage, &["name the operator with --operator NAME"]),
            Error::LastKeyslot => (
                Exit::Failure,
                &["add another operator first with `tvault operator add NAME`"],
            ),
            Error::Approval(why) => {
                use tvault::error::ApprovalError as A;
                match why {
                    A::WrongPassphrase => (
                        Exit::WrongPassphrase,
                        &[
                            "the approver types their own passphrase (or gives --approver-passphrase-file FILE); nothing was done",
                        ],
                    ),
                    A::Missing { .. } | A::Oneself | A::Twice => (
                        Exit::Failure,
                        &[
                            "name another operator with --approver NAME; they give their own passphrase (`tvault policy show` shows the rule)",
                        ],
                    ),
                    A::Unknown => (
                        Exit::Failure,
                        &["`tvault operator list` shows the operators"],
                    ),
                    A::ApproverHasNoKey => (
                        Exit::Failure,
                        &[
                            "the approver unlocks the vault once (for example `tvault list --operator NAME`) to get their personal key",
                        ],
                    ),
                    A::NoPersonalKey => {
                        (Exit::Failure, &["unlock with an operator's own passphrase"])
                    }
                    A::InvalidRule(_) => (
                        Exit::Usage,
                        &["for example `tvault policy set export-approvals 2`"],
                    ),
                    A::TooFewOperators { .. } => (
                        Exit::Failure,
                        &["add operators first with `tvault operator add NAME`"],
                    ),
                }
            }
            Error::Share(_) | Error::SharesOtherVault(_) | Error::SharesReplaced => (
                Exit::WrongPassphrase,
                &["bring together enough shares of the vault's current split; nothing was changed"],
            ),
            Error::ShareSealed => (
                Exit::NoSecretSource,
                &[
                    "the custodian who holds it decrypts it with `age -d`, or pass their --identity FILE",
                ],
            ),
            Error::ShareNotForKey => (
                Exit::WrongPassphrase,
                &[
                    "give the identity of the custodian this share was sealed to; nothing was changed",
                ],
            ),
            Error::NoCustodians => (
                Exit::WrongPassphrase,
                &["`tvault custodians split` makes one; nothing was changed"],
            ),
            Error::BadSplit { .. } => (
                Exit::Usage,
                &[
                    "for example --threshold 3 --shares 5: any 3 of the 5 custodians recover the vault",
                ],
            ),
            Error::NothingToExport => {
                (Exit::Failure, &["`tvault list` shows what the vault holds"])
            }
            Error::Bundle(_) => (
                Exit::Integrity,
                &[
                    "do not trust this bundle's content; ask the sender for a new copy through another channel",
                ],
            ),
            Error::ImportRefused { .. } => (
                Exit::Integrity,
                &[
                    "nothing was imported; `tvault show ID` and `tvault history ID` say where the versions held here came from",
                    "if you know why the bundle differs and accept it, the flag named above records that choice in the custody log",
                ],
            ),
            Error::SignerNotPinned => (
                Exit::Usage,
                &[
                    "name the signer with --signer 'SHA256:…': its fingerprint or public key comes from the sender out of band, on paper or by phone, never from the bundle itself; nothing was imported",
                    "--trust-bundle-signer checks the bundle only against the key it carries itself; then anyone could have made it",
                ],
            ),
            Error::BundleNotForKey => (
                Exit::WrongPassphrase,
                &[
                    "give the identity file (--identity), or the passphrase, the sender sealed this bundle to; nothing was written or imported",
                ],
            ),
            Error::VersionNotFound { .. } => (
                Exit::Failure,
                &["`tvault history ID` lists the record's versions"],
            ),
            Error::AmbiguousId(_) => (Exit::Failure, &["type more digits of the id"]),
            Error::AttachmentNotFound(_) => (
                Exit::Failure,
                &["`tvault show ID` lists the record's attachments by name"],
            ),
            Error::PartNameTaken(_) => (
                Exit::Failure,
                &[
                    "choose another name with --name (or -o for redact); `tvault show ID` lists the names in use",
                ],
            ),
            Error::InvalidPartName => (Exit::Usage, &["choose a plain file name with --name"]),
            Error::SourceNotFound(_) => (
                Exit::Failure,
                &["--of takes `statement`, or a name `tvault show ID` lists"],
            ),
            Error::SourceNotText(_) => (
                Exit::Failure,
                &[
                    "redact a text: the statement, a text attachment, or a transcript or translation",
                ],
            ),
            Error::InvalidMask => (
                Exit::Usage,
                &["check the expression's syntax (Rust regex syntax); try it with --preview"],
            ),
            Error::NothingMasked => (
                Exit::Failure,
                &[
                    "nothing was stored; check the spelling with --preview, or mask with --mask-regex",
                ],
            ),
            Error::StatementNotUtf8 => (
                Exit::Failure,
                &[
                    "convert the text to UTF-8 first, for example: iconv -f WINDOWS-1252 -t UTF-8 in.txt > out.txt",
                ],
            ),
            Error::StatementTooLarge { .. } => (
                Exit::Failure,
                &["store long material as an attachment with --attach"],
            ),
            Error::InvalidKdf(_) => (
                Exit::Usage,
                &["memory is in MiB (at most 4096), iterations 1 to 16, parallelism 1 to 16"],
            ),
            Error::KdfMemory { .. } => (
                Exit::Failure,
                &["close other programs, or choose less memory with --kdf-memory-mib"],
            ),
            Error::ReadStatement(_) | Error::ReadAttachment { .. } => (
                Exit::Io,
                &["nothing was stored; check the file and try again"],
            ),
            Error::Anchor { .. } => (
                Exit::Io,
                &[
                    "do not repeat the command: its change is in the vault; free some space or fix the folder's permissions, and the next command writes the anchor again",
                ],
            ),
            Error::JournalNotCleared { .. } => (
                Exit::Io,
                &[
                    "do not repeat the command: its change is in the vault; fix the disk or the folder's permissions, and the next command clears the journal",
                ],
            ),
            Error::Output(_) | Error::Io { .. } => {
                (Exit::Io, &["check free disk space and permissions"])
            }
            Error::Database(_) if err.is_storage() => (
                Exit::Io,
                &["check free disk space and permissions; the vault keeps its last complete state"],
            ),
            // A constraint the database refused (a UNIQUE or foreign key): never a full disk.
            Error::Database(_) if err.is_constraint() => (
                Exit::Failure,
                &[
                    "the database refused the change and nothing was saved; tvault should have caught this earlier, please report it",
                ],
            ),
            Error::Database(_) => (Exit::Failure, &[]),
            Error::FieldKit => (
                Exit::Usage,
                &[
                    "a kit can add, list, verify and send: `tvault kit send -o FILE` makes a bundle for headquarters",
                ],
            ),
            Error::NotAFieldKit => (
                Exit::Usage,
                &[
                    "name the kit file with --vault PATH; `tvault status` says whether a file is a kit",
                ],
            ),
            Error::KitExists => (
                Exit::Failure,
                &["`tvault kit list` shows the kits made here"],
            ),
            Error::KitNotFound => (
                Exit::Failure,
                &["`tvault kit list` shows the kits made here"],
            ),
            Error::KitUnknown => (
                Exit::Integrity,
                &[
                    "a kit bundle opens only in the vault that made the kit (`tvault kit list`); nothing was imported",
                ],
            ),
            Error::KitRevoked { .. } => (
                Exit::Integrity,
                &[
                    "nothing was imported; if you know this bundle left the kit before it was lost, pass --accept-revoked --reason TEXT (logged)",
                ],
            ),
            Error::KitCheck { .. } => (
                Exit::Integrity,
                &["nothing was changed; ask for the file again over another channel"],
            ),
            Error::NothingToSend => (Exit::Failure, &["`tvault list` shows what the kit holds"]),
            Error::Timestamp(TimestampError::NotGranted { .. }) => (
                Exit::Failure,
                &["nothing was stored; ask the authority again with the same request file"],
            ),
            Error::Timestamp(TimestampError::Chain(_)) => (
                Exit::Integrity,
                &[
                    "nothing was stored; give the authority's root certificate with --ca-file FILE (and its own certificate with --tsa-cert FILE if the response lacks it)",
                ],
            ),
            Error::Timestamp(TimestampError::OtherRequest | TimestampError::Nonce) => (
                Exit::Integrity,
                &[
                    "nothing was stored; `tvault log` lists the requests (timestamp-requested): send the newest .tsq again",
                ],
            ),
            Error::Timestamp(_) => (Exit::Integrity, &["nothing was stored"]),
            Error::TimestampCaNeeded => (
                Exit::Usage,
                &["give the authority's root certificate with --ca-file FILE (PEM)"],
            ),
        };
        let quiet = matches!(&err, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe);
        let mut out = CliError::new(kind, message);
        if let Some(source) = std::error::Error::source(&err) {
            out = out.with_source(source);
        }
        out.hints = hints.iter().map(|h| h.to_string()).collect();
        out.quiet_success = quiet;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> Error {
        Error::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn a_constraint_failure_is_never_reported_as_a_full_disk() {
        let err = CliError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!(err.kind, Exit::Failure);
        assert!(!err.hints.is_empty());
        assert!(
            err.hints.iter().all(|h| !h.contains("disk")),
            "{:?}",
            err.hints
        );
        let full = CliError::from(sqlite(rusqlite::ffi::SQLITE_FULL));
        assert_eq!(full.kind, Exit::Io);
        assert!(full.hints.iter().any(|h| h.contains("disk space")));
    }

    #[test]
    fn a_bundle_for_another_key_is_a_wrong_key_and_tampering_is_an_integrity_failure() {
        let err = CliError::from(Error::BundleNotForKey);
        assert_eq!(err.kind, Exit::WrongPassphrase);
        assert!(err.message.contains("not for that key (or passphrase)"));
        let tampered = tvault::bundle::BundleError::integrity("outer SHA256SUMS", "x");
        assert_eq!(CliError::from(Error::from(tampered)).kind, Exit::Integrity);
    }
}
