//! The optional config file: defaults for the vault, the anchor folder, the operator and export
//! recipients, so that a field laptop or a legal team's workstation needs no flags for them.
//!
//! Where: `$TVAULT_CONFIG`, else `$XDG_CONFIG_HOME/tvault/config.toml`, else
//! `~/.config/tvault/config.toml`. Precedence: a flag, then its environment variable, then the
//! config file, then the built-in default. No secret belongs here and none is read from it.
//!
//! Because it can change where testimony is written and to whom an export is sealed, the file
//! (or what a link to it names) must be a regular file owned by the user and not writable by
//! anyone else, as OpenSSH asks of its own configuration; otherwise tvault stops (exit 2)
//! before doing anything.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{CliError, Exit};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The vault file.
    pub vault: Option<PathBuf>,
    /// The folder for anchor checkpoints.
    pub anchor_dir: Option<PathBuf>,
    /// The operator whose keyslot must unlock.
    pub operator: Option<String>,
    #[serde(default)]
    pub export: ExportConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Recipients `export` seals to when none is given on the command line.
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// Where the config file is looked for (it may not exist).
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TVAULT_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let absolute = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(std::env::var_os("XDG_CONFIG_HOME"))
        .or_else(|| absolute(std::env::var_os("HOME")).map(|h| h.join(".config")))
        .map(|base| base.join("tvault").join("config.toml"))
}

/// Reads the config file at `path`; a missing file is an empty config.
pub fn load(path: &Path) -> Result<Config, CliError> {
    let bad = |what: String| {
        CliError::new(
            Exit::Usage,
            format!("config file {}: {what}", path.display()),
        )
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => {
            return Err(CliError::new(
                Exit::Io,
                format!("cannot read the config file {}", path.display()),
            )
            .with_source(&e)
            .hint("fix its permissions, or point TVAULT_CONFIG at another file"));
        }
    };
    if !meta.file_type().is_file() {
        return Err(bad("not a regular file".into())
            .hint("the config file must be a plain file (or a link to one), not a folder"));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return Err(bad("owned by someone else, or writable by others".into()).hint(format!(
            "it decides where testimony goes and to whom exports are sealed: `chmod go-w {}`, and make sure it is yours",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            Exit::Io,
            format!("cannot read the config file {}", path.display()),
        )
        .with_source(&e)
        .hint("it must be UTF-8 text")
    })?;
    let mut config: Config = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |at| {
            text[..at.start.min(text.len())].lines().count().max(1)
        });
        bad(format!("line {line}: {}", e.message().trim())).hint(
            "it may set: vault, anchor_dir, operator, and [export] recipients (docs/config.md)",
        )
    })?;
    for (name, p) in [
        ("vault", &mut config.vault),
        ("anchor_dir", &mut config.anchor_dir),
    ] {
        if let Some(value) = p.take() {
            *p = Some(expand(&value).ok_or_else(|| {
                bad(format!("{name} must be an absolute path or start with ~/"))
                    .hint("write the whole path, e.g. \"~/testimony/vault.tvault\"")
            })?);
        }
    }
    Ok(config)
}

/// An absolute path, or one under the home folder written `~/…`.
fn expand(p: &Path) -> Option<PathBuf> {
    if p.is_absolute() {
        return Some(p.to_owned());
    }
    let rest = p.strip_prefix("~").ok()?;
    let home = PathBuf::from(std::env::var_os("HOME")?);
    home.is_absolute().then(|| home.join(rest))
}
