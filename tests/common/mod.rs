//! Shared test helpers: a hermetic vault in a temporary folder, driven through the real
//! binary with the same flags a user has (cheap KDF parameters via --kdf-memory-mib).
#![allow(dead_code)]

pub mod tsa;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A passphrase the strength estimate accepts.
pub const PASSPHRASE: &str = "umbrella quarry lantern velvet oxygen 7 mosaic";

/// A field kit's own passphrase (see [`TestVault::kit`]).
pub const KIT_PASSPHRASE: &str = "granite lantern orchard whistle copper meadow";

/// The cheapest KDF parameters, through the flags a user has.
pub const CHEAP_KDF: [&str; 7] = [
    "--kdf-memory-mib",
    "1",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
    "--allow-weak-kdf",
];

pub struct TestVault {
    pub dir: TempDir,
    pub vault: PathBuf,
    pub pass_file: PathBuf,
    /// TMPDIR for every command, scanned by the leakage tests.
    pub tmp: PathBuf,
}

impl TestVault {
    /// A folder with a passphrase file, and no vault yet.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = dir.path().join("data").join("vault.tvault");
        let pass_file = dir.path().join("pass");
        std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        TestVault {
            dir,
            vault,
            pass_file,
            tmp,
        }
    }

    /// A vault made with `init`, cheap KDF parameters.
    pub fn new() -> Self {
        let tv = Self::empty();
        tv.init().assert().success();
        tv
    }

    /// `tvault` with a clean environment: no TVAULT_* or XDG_* from the developer's shell.
    pub fn bare_cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("tvault").expect("binary");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("TVAULT_") || key.starts_with("XDG_") {
                cmd.env_remove(&key);
            }
        }
        // HISTFILE too: `doctor` reports on the shell's history file.
        cmd.env_remove("HISTFILE");
        cmd.env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", &self.tmp)
            .env("NO_COLOR", "1");
        cmd
    }

    /// `tvault -q --vault V --passphrase-file P …` as a plain process, in the same clean
    /// environment as [`TestVault::bare_cmd`], with stdout and stderr discarded: for runs that
    /// are killed, or run side by side.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tvault"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("TVAULT_") || key.starts_with("XDG_") {
                cmd.env_remove(&key);
            }
        }
        // HISTFILE too: `doctor` reports on the shell's history file.
        cmd.env_remove("HISTFILE");
        cmd.env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", &self.tmp)
            .env("NO_COLOR", "1")
            .arg("--vault")
            .arg(&self.vault)
            .arg("--passphrase-file")
            .arg(&self.pass_file)
            .arg("-q")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    }

    /// `tvault --vault V --passphrase-file P …`
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare_cmd();
        cmd.arg("--vault")
            .arg(&self.vault)
            .arg("--passphrase-file")
            .arg(&self.pass_file);
        cmd
    }

    pub fn init(&self) -> Command {
        let mut cmd = self.cmd();
        cmd.arg("init").args(CHEAP_KDF);
        cmd
    }

    /// A field kit that `hq` makes with `kit create NAME`, in a folder of its own with its
    /// own passphrase file and HOME (so its own anchors), as on a researcher's laptop: `cmd`,
    /// `process` and `add` run on the kit.
    pub fn kit(hq: &TestVault, name: &str) -> Self {
        let kit = Self::empty();
        std::fs::write(&kit.pass_file, format!("{KIT_PASSPHRASE}\n")).unwrap();
        std::fs::create_dir_all(kit.vault.parent().unwrap()).unwrap();
        hq.cmd()
            .args(["kit", "create", name, "-o"])
            .arg(&kit.vault)
            .arg("--new-passphrase-file")
            .arg(&kit.pass_file)
            .args(CHEAP_KDF)
            .assert()
            .success();
        kit
    }

    /// The ids of the records `list --json` shows (on a vault or a kit).
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        let out = self.cmd().args(["list", "--json"]).assert().success();
        let listed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        listed
            .as_array()
            .expect("list --json gives an array")
            .iter()
            .map(|r| r["id"].as_str().expect("each record has an id").to_owned())
            .collect()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Writes an identity file for `--identity-file` and returns its path, as text for `args`.
    pub fn identity_file(&self, name: &str, contact: Option<&str>, aliases: &[&str]) -> String {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // `{:?}` quotes plain test strings the way TOML does.
        let mut text = format!("name = {name:?}\n");
        if let Some(contact) = contact {
            text += &format!("contact = {contact:?}\n");
        }
        if !aliases.is_empty() {
            text += &format!("aliases = {aliases:?}\n");
        }
        let path = self.write(&format!("identity-{n}.toml"), text.as_bytes());
        path.to_str().expect("a UTF-8 temp path").to_owned()
    }

    /// Runs `add` with the given arguments and returns the new record id.
    pub fn add(&self, args: &[&str]) -> String {
        let out = self.cmd().arg("add").args(args).assert().success();
        let id = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let id = id.trim().to_owned();
        assert_eq!(id.len(), 32, "add prints a full id: {id:?}");
        id
    }

    /// `cat ID NAME` to stdout, returning the bytes.
    pub fn cat(&self, id: &str, name: &str) -> Vec<u8> {
        let out = self.cmd().args(["cat", id, name]).assert().success();
        out.get_output().stdout.clone()
    }

    pub fn vault_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.vault).unwrap()
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.vault).unwrap()
    }
}

/// Deterministic test content of any length.
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Finds `needle` in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The fingerprint of a vault's signing key, as its owner gives it out of band: what a
/// receiver passes to `--signer`.
pub fn signer(tv: &TestVault) -> String {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    status["signing_key_fingerprint"]
        .as_str()
        .expect("the vault has a signing key")
        .to_owned()
}

/// Test content that starts like a real file of a kind, so that an export recognises it by
/// its content: `kind` is one of m4a, mp4, jpeg, pdf.
pub fn typed(kind: &str, len: usize, seed: u8) -> Vec<u8> {
    let magic: &[u8] = match kind {
        "m4a" => b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom",
        "mp4" => b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom",
        "jpeg" => b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0",
        "pdf" => b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        other => panic!("no magic for {other}"),
    };
    let mut out = magic.to_vec();
    out.extend(content(len.saturating_sub(magic.len()), seed));
    out
}

/// A bundle written by `export --json` to a new age key, and what it opened into.
pub struct Opened {
    pub bundle: PathBuf,
    pub into: PathBuf,
    /// The export's `--json` output.
    pub summary: serde_json::Value,
    /// The age identity file that opens the bundle.
    pub key_file: PathBuf,
}

impl Opened {
    /// The bytes of a file of the opened payload, by its path inside it.
    pub fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.into.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&self.read("MANIFEST.json")).unwrap()
    }
}

/// Runs `export --json --purpose court -o NAME.tar` with `args`, sealed to a new age key, and
/// opens the bundle with `open-export` into `NAME/`, naming the vault's signer.
pub fn export_and_open(tv: &TestVault, name: &str, args: &[&str]) -> Opened {
    let key = age::x25519::Identity::generate();
    let key_file = tv.write(
        &format!("{name}.key"),
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let bundle = tv.path(&format!("{name}.tar"));
    let out = tv
        .cmd()
        .args(["export", "--json", "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .args(args)
        .assert()
        .success();
    let summary = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let into = tv.path(name);
    tv.cmd()
        .arg("open-export")
        .arg(&bundle)
        .arg("--into")
        .arg(&into)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer(tv)])
        .assert()
        .success();
    Opened {
        bundle,
        into,
        summary,
        key_file,
    }
}
