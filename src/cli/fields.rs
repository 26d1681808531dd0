//! What `add` and `amend` read from files rather than from the command line: the witness's
//! identity (`--identity-file`) and the record's metadata (`--metadata-file`).
//!
//! A command line is not private: it stays in the shell's history file and, while tvault runs,
//! anyone on the machine can read it in `/proc/PID/cmdline`. So the witness's real name and
//! contact are never taken from it (`--witness-name` and `--witness-contact` only explain
//! that), and every other field can come from a file too.
//!
//! Both files are small TOML tables. Unknown keys and wrong types are usage errors that name
//! the file and the key, never a value: what the file holds may say who a witness is. The
//! text is read into a zeroizing buffer and every string is moved, not copied, out of the
//! parsed table; what is left over is zeroized when the table is dropped. (The TOML parser's
//! own scratch memory is outside tvault's reach.)

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use tvault::record::{InterviewDate, parse_purposes};
use tvault::{IdentityLevel, MediaConsent, Purpose};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::{CliError, Exit};
use super::terminal::escape;

/// The largest identity or metadata file read: far more than any real one needs.
const FILE_LIMIT: u64 = 64 * 1024;

/// The keys an identity file may set.
const IDENTITY_KEYS: &[&str] = &["name", "contact", "aliases"];

/// The keys a metadata file may set: the flags' names, with `_` for `-` and `tags` for `--tag`.
const METADATA_KEYS: &[&str] = &[
    "witness",
    "title",
    "interviewer",
    "date",
    "location",
    "language",
    "tags",
    "consent",
    "identity_level",
    "media_consent",
];

/// The refusal for `--witness-name` and `--witness-contact`: exit 2, before anything else.
pub fn refuse_identity_flag(flag: &str) -> CliError {
    CliError::usage(format!(
        "{flag} is refused: a value on the command line stays in the shell's history and is visible to other users while tvault runs"
    ))
    .hint("put `name = \"…\"`, `contact = \"…\"` and `aliases = [\"…\"]` in a file on a RAM-backed folder (e.g. /dev/shm) and give --identity-file FILE")
    .hint("or run `tvault add` on a terminal, without --text-file, to be asked for them")
    .hint("the value you typed is likely in your shell's history now: remove it (bash: `history -d N`, then `history -w`)")
}

/// The witness's identity as an identity file gives it: each key present replaces.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
pub struct IdentityFile {
    pub name: Option<String>,
    pub contact: Option<String>,
    pub aliases: Option<Vec<String>>,
}

/// The record's metadata as a metadata file gives it, parsed with the flags' own parsers.
#[derive(Default)]
pub struct MetadataFile {
    pub witness: Option<String>,
    pub title: Option<String>,
    pub interviewer: Option<String>,
    pub date: Option<InterviewDate>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub tags: Option<Vec<String>>,
    pub consent: Option<BTreeSet<Purpose>>,
    pub identity_level: Option<IdentityLevel>,
    pub media_consent: Option<MediaConsent>,
}

/// Reads `--identity-file`.
pub fn read_identity(path: &Path) -> Result<IdentityFile, CliError> {
    let mut t = Table::read(path, "identity file", IDENTITY_KEYS)?;
    Ok(IdentityFile {
        name: t.string("name")?,
        contact: t.string("contact")?,
        aliases: t.strings("aliases")?,
    })
}

/// Reads `--metadata-file`.
pub fn read_metadata(path: &Path) -> Result<MetadataFile, CliError> {
    let mut t = Table::read(path, "metadata file", METADATA_KEYS)?;
    Ok(MetadataFile {
        witness: t.string("witness")?,
        title: t.string("title")?,
        interviewer: t.string("interviewer")?,
        date: t.parsed("date", InterviewDate::from_str)?,
        location: t.string("location")?,
        language: t.string("language")?,
        tags: t.strings("tags")?,
        consent: t.parsed("consent", parse_purposes)?,
        identity_level: t.parsed("identity_level", IdentityLevel::from_str)?,
        media_consent: t.parsed("media_consent", MediaConsent::from_str)?,
    })
}

/// A parsed file whose values are taken out one key at a time.
struct Table {
    /// The file's path as given, escaped for the terminal.
    file: String,
    what: &'static str,
    table: toml::Table,
}

impl Table {
    fn read(path: &Path, what: &'static str, keys: &[&str]) -> Result<Self, CliError> {
        let file = escape(&path.display().to_string(), false).into_owned();
        let bad = |message: String| CliError::usage(format!("{what} {file}: {message}"));
        let fail = |e: std::io::Error| {
            CliError::new(Exit::Io, format!("cannot read the {what} {file}"))
                .with_source(&e)
                .hint("check that the file exists and is readable")
        };
        let f = std::fs::File::open(path).map_err(fail)?;
        let meta = f.metadata().map_err(fail)?;
        if !meta.is_file() {
            return Err(bad("not a regular file".into()));
        }
        if meta.len() > FILE_LIMIT {
            return Err(bad(format!("larger than {} KiB", FILE_LIMIT >> 10)));
        }
        // Sized up front so reading never reallocates and leaves a copy behind.
        let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_LIMIT as usize + 1));
        f.take(FILE_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(fail)?;
        if bytes.len() as u64 > FILE_LIMIT {
            return Err(bad(format!("larger than {} KiB", FILE_LIMIT >> 10)));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        // The parser's message is left out on purpose: it can quote what is in the file.
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(1, |at| {
                text[..at.start.min(text.len())].lines().count().max(1)
            });
            bad(format!("line {line} is not valid TOML"))
                .hint("write each field as key = \"text\", and lists as key = [\"a\", \"b\"]")
        })?;
        let unknown = table.keys().find(|k| !keys.contains(&k.as_str())).cloned();
        let t = Table {
            file: file.clone(),
            what,
            table,
        };
        if let Some(mut key) = unknown {
            let e = bad(format!("unknown key `{}`", escape(&key, false)))
                .hint(format!("it may set: {}", keys.join(", ")));
            key.zeroize();
            return Err(e);
        }
        Ok(t)
    }

    fn bad(&self, key: &str, message: &str) -> CliError {
        CliError::usage(format!("{} {}: `{key}` {message}", self.what, self.file))
    }

    /// Takes a text value, trimmed; an empty one is an error (leave the key out instead).
    fn string(&mut self, key: &str) -> Result<Option<String>, CliError> {
        let Some(value) = self.table.remove(key) else {
            return Ok(None);
        };
        let mut value = ZeroizingValue(value);
        match &mut value.0 {
            toml::Value::String(s) if !s.trim().is_empty() => Ok(Some(take_trimmed(s))),
            toml::Value::String(_) => Err(self.bad(key, "is empty: leave it out instead")),
            _ => Err(self.bad(key, "must be text, in quotes")),
        }
    }

    /// Takes a list of text values, each trimmed and none empty.
    fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, CliError> {
        let Some(value) = self.table.remove(key) else {
            return Ok(None);
        };
        let mut value = ZeroizingValue(value);
        let toml::Value::Array(items) = &mut value.0 else {
            return Err(self.bad(key, "must be a list of text, e.g. [\"a\", \"b\"]"));
        };
        let mut out = Zeroizing::new(Vec::with_capacity(items.len()));
        for item in items.iter_mut() {
            match item {
                toml::Value::String(s) if !s.trim().is_empty() => out.push(take_trimmed(s)),
                _ => return Err(self.bad(key, "must be a list of non-empty text")),
            }
        }
        Ok(Some(std::mem::take(&mut *out)))
    }

    /// Takes a text value and parses it as the flag of the same name does.
    fn parsed<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, CliError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        let text = Zeroizing::new(text);
        // The parsers' messages describe the expected form; none repeats the value.
        parse(&text)
            .map(Some)
            .map_err(|e| self.bad(key, &format!("is not valid: {e}")))
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for (mut key, mut value) in std::mem::take(&mut self.table) {
            key.zeroize();
            zeroize_value(&mut value);
        }
    }
}

/// A parsed TOML value that is zeroized when dropped.
struct ZeroizingValue(toml::Value);

impl Drop for ZeroizingValue {
    fn drop(&mut self) {
        zeroize_value(&mut self.0);
    }
}

/// A trimmed copy of `s`, overwriting the original.
fn take_trimmed(s: &mut String) -> String {
    let out = s.trim().to_owned();
    s.zeroize();
    out
}

/// Overwrites every string in a parsed TOML value, however deeply nested.
fn zeroize_value(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => s.zeroize(),
        toml::Value::Array(items) => items.iter_mut().for_each(zeroize_value),
        toml::Value::Table(table) => {
            for (mut key, mut v) in std::mem::take(table) {
                key.zeroize();
                zeroize_value(&mut v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[allow(
        clippy::disallowed_methods,
        reason = "test files in a temporary folder"
    )]
    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn message(e: CliError) -> String {
        format!("{} {}", e.message, e.hints.join(" "))
    }

    #[test]
    fn an_identity_file_gives_name_contact_and_aliases() {
        let (_d, p) =
            file("name = \" Zahra Q \"\ncontact = \"z@q\"\naliases = [\"Zaza\", \"ZQ\"]\n");
        let Ok(id) = read_identity(&p) else {
            panic!("refused")
        };
        assert_eq!(id.name.as_deref(), Some("Zahra Q"));
        assert_eq!(id.contact.as_deref(), Some("z@q"));
        assert_eq!(
            id.aliases.as_deref(),
            Some(&["Zaza".into(), "ZQ".into()][..])
        );
    }

    #[test]
    fn bad_identity_files_name_the_key_never_the_value() {
        for (text, key) in [
            ("name = \"Secretname\"\nnmae = \"Secretname\"\n", "nmae"),
            ("aliases = \"Secretname\"\n", "aliases"),
            ("name = [\"Secretname\"]\n", "name"),
            ("aliases = [\"Secretname\", 3]\n", "aliases"),
            ("name = \"\"\n", "name"),
        ] {
            let (_d, p) = file(text);
            let Err(e) = read_identity(&p) else {
                panic!("{key} was accepted")
            };
            assert_eq!(e.kind, Exit::Usage);
            let m = message(e);
            assert!(m.contains(&format!("`{key}`")), "{m}");
            assert!(m.contains("f.toml"), "{m}");
            assert!(!m.contains("Secretname"), "{m}");
        }
        for text in ["name = Secretname\n", "name = \"Secretname\n", "\u{0}"] {
            let (_d, p) = file(text);
            let Err(e) = read_identity(&p) else {
                panic!("malformed file was accepted")
            };
            assert_eq!(e.kind, Exit::Usage);
            assert!(!message(e).contains("Secretname"));
        }
    }

    #[test]
    fn metadata_values_go_through_the_flags_parsers() {
        let (_d, p) = file(
            "witness = \"W\"\ndate = \"2024-02-29\"\ntags = [\"a\", \"b\"]\n\
             consent = \"court,un\"\nidentity_level = \"named\"\nmedia_consent = \"voice\"\n",
        );
        let Ok(m) = read_metadata(&p) else {
            panic!("refused")
        };
        assert_eq!(m.witness.as_deref(), Some("W"));
        assert_eq!(m.date.unwrap().as_str(), "2024-02-29");
        assert_eq!(m.tags.unwrap(), ["a", "b"]);
        assert_eq!(m.consent.unwrap(), parse_purposes("court,un").unwrap());
        assert_eq!(m.identity_level, Some(IdentityLevel::Named));
        assert!(m.media_consent.unwrap().voice);
        for (text, key) in [
            ("date = \"2024-02-30\"\n", "date"),
            ("consent = \"court,press\"\n", "consent"),
            ("identity_level = \"famous\"\n", "identity_level"),
            ("media_consent = \"smell\"\n", "media_consent"),
            ("tag = [\"a\"]\n", "tag"),
        ] {
            let (_d, p) = file(text);
            let Err(e) = read_metadata(&p) else {
                panic!("{key} was accepted")
            };
            assert_eq!(e.kind, Exit::Usage);
            assert!(message(e).contains(&format!("`{key}`")));
        }
    }
}
