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
//! The layer rule: [`vault`] is the facade; below it [`store`] is the only module with SQL and
//! sees only ciphertext and opaque ids, [`crypto`] is pure logic, and [`fs`] creates files. The
//! library never prints, never reads the environment or the terminal and never exits.

#![warn(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod audit;
pub mod crypto;
pub mod digest;
pub mod error;
pub mod export;
pub mod fs;
pub mod progress;
pub mod record;
pub mod store;
pub mod vault;

pub use error::{Error, Integrity, Result};
pub use record::{Consent, IdentityLevel, MediaConsent, Purpose, RecordId, RecordIdPrefix};
pub use vault::Vault;
