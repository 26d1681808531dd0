//! tvault: an offline, encrypted, audited vault for witness testimony.
//!
//! The model: a vault is one SQLite file. It holds records (a testimony with its statement,
//! metadata, the witness's real identity and attachments); records are immutable and versioned.
//! Nothing about a witness is stored in plaintext.
//!
//! The keys, in five lines:
//!
//! ```text
//! passphrase --Argon2id--> KEK --XChaCha20-Poly1305--> VMK (random, 32 bytes), one keyslot each
//! VMK --HKDF-SHA256--> K_wrap : wraps each content part's age file key (tvault's own stanza)
//!                  --> K_meta : seals metadata, witness identity and operator labels
//!                  --> K_hdr  : MACs the vault header and the keyslot table
//! content parts (statement, attachments) are age v1 files, header and ~1 MiB chunks in rows
//! ```
//!
//! The layer rule: [`vault`] is the facade, one file per concern; below it [`disclosure`]
//! (pure: what an export releases and withholds, and why), [`bundle`] (export bundles, read
//! and written without a vault), [`store`] (the only module with SQL; it sees only ciphertext
//! and opaque ids), and the pure [`crypto`] and [`audit`]; [`fs`] creates files. Nothing below
//! `vault` imports it. The library never prints, never reads the environment or the terminal
//! and never exits. docs/architecture.md says what each module owns.

#![warn(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod audit;
pub mod bundle;
pub mod crypto;
pub mod digest;
pub mod disclosure;
pub mod error;
pub mod fs;
pub mod heads;
pub mod progress;
pub mod record;
pub mod store;
pub mod vault;

pub use error::{Error, Integrity, Result};
pub use record::{Consent, IdentityLevel, MediaConsent, Purpose, RecordId, RecordIdPrefix};
pub use vault::{Timestamp, TimestampRequest, Vault};
