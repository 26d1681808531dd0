//! `tvault doctor`: checks the places and the machine tvault relies on, and prints a report
//! that is safe to paste into a bug report: paths, modes, sizes and settings, never a name or
//! any content. It needs no passphrase and records nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tvault::store::{self, Store};

use super::error::{CliError, Exit};
use super::{Context, human_size, print, print_json};

/// Check the vault's file, folder, filesystem and free space, the anchor, and the machine
/// (swap, core dumps, a terminal for prompts, a shell history file); needs no passphrase
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    /// "ok", "warn" or "fail".
    status: &'static str,
    detail: String,
}

fn check(check: &'static str, status: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
    }
}

/// Filesystems a vault should not live on, by `statfs` magic number.
fn filesystem_warning(magic: i64) -> Option<&'static str> {
    match magic {
        0x6969 => Some("NFS: locking and syncing over a network are not reliable for the vault"),
        0xFF53_4D42 | 0xFE53_4D42 | 0x517B => {
            Some("a network share (SMB): locking and syncing are not reliable for the vault")
        }
        0x4d44 => Some("FAT: no file permissions, and easily damaged when unplugged"),
        0x2011_BAB0 => Some("exFAT: no file permissions, and easily damaged when unplugged"),
        0x0102_1994 => Some("tmpfs: held in memory only; the vault is lost at the next restart"),
        _ => None,
    }
}

/// The shell history file that exists on persistent storage, if any: `$HISTFILE`, else the
/// usual places of bash, zsh and fish under `$HOME`. A command line typed there stays on disk.
fn shell_history() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let candidates: Vec<PathBuf> = std::env::var_os("HISTFILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(home.iter().flat_map(|h| {
            [
                h.join(".bash_history"),
                h.join(".zsh_history"),
                h.join(".local/share/fish/fish_history"),
            ]
        }))
        .collect();
    candidates
        .into_iter()
        .find(|f| f.is_file() && !super::editor::ram_backed(f.parent().unwrap_or(Path::new("/"))))
}

/// Long on purpose: a flat list of independent checks, each adding one line to the report.
pub fn run(ctx: &Context, _args: Args) -> Result<(), CliError> {
    let mut checks = Vec::new();
    let vault = &ctx.vault_path;
    let folder = vault
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));

    match std::fs::metadata(vault) {
        Err(_) => checks.push(check(
            "vault",
            "fail",
            format!("no vault at {} (`tvault init` makes one)", vault.display()),
        )),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            checks.push(if mode & 0o077 == 0 {
                check(
                    "vault file",
                    "ok",
                    format!("{} (mode {mode:o})", vault.display()),
                )
            } else {
                check(
                    "vault file",
                    "warn",
                    format!("mode {mode:o}: others on this machine can read it; chmod 600"),
                )
            });
            checks.push(check("vault size", "ok", human_size(meta.len())));
            match Store::open(vault).and_then(|s| store::integrity_check(s.conn())) {
                Ok(None) => checks.push(check("SQLite integrity check", "ok", "ok")),
                Ok(Some(problem)) => checks.push(check("SQLite integrity check", "fail", problem)),
                Err(e) => checks.push(check("SQLite integrity check", "fail", e.to_string())),
            }
        }
    }
    if let Ok(meta) = std::fs::metadata(folder) {
        let mode = meta.permissions().mode() & 0o777;
        checks.push(if mode & 0o077 == 0 {
            check("vault folder", "ok", format!("mode {mode:o}"))
        } else {
            check(
                "vault folder",
                "warn",
                format!("mode {mode:o}: others can list it; chmod 700"),
            )
        });
        if let Ok(fs) = rustix::fs::statfs(folder) {
            #[allow(clippy::unnecessary_cast)]
            let magic = fs.f_type as i64;
            checks.push(match filesystem_warning(magic) {
                Some(warning) => check("filesystem", "warn", warning),
                None => check("filesystem", "ok", format!("type {magic:#x}")),
            });
        }
        if let Ok(vfs) = rustix::fs::statvfs(folder) {
            let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
            let size = std::fs::metadata(vault).map(|m| m.len()).unwrap_or(0);
            // A rekey or backup needs about the vault's size again; leave room for intake.
            let wanted = size.saturating_mul(2).max(1 << 30);
            checks.push(if free >= wanted {
                check("free space", "ok", human_size(free))
            } else {
                check(
                    "free space",
                    "warn",
                    format!(
                        "{} free: a rekey or backup needs about the vault's size again",
                        human_size(free)
                    ),
                )
            });
        }
    }

    checks.push(match tvault::Vault::status(vault, Some(&ctx.anchor_dir)) {
        Ok(status) => match status.anchor {
            Some(anchor) => check("anchor", "ok", anchor.display().to_string()),
            None => check(
                "anchor",
                "warn",
                "none yet: it is written at the next unlock, outside the vault's folder",
            ),
        },
        Err(_) => check("anchor", "warn", "not checked (no readable vault)"),
    });

    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    checks.push(if swaps.lines().skip(1).any(|l| !l.trim().is_empty()) {
        check(
            "swap",
            "warn",
            "swap is on: memory holding keys or testimony could be written to disk; use encrypted swap or none",
        )
    } else {
        check("swap", "ok", "off")
    });
    let core = rustix::process::getrlimit(rustix::process::Resource::Core);
    checks.push(if core.current == Some(0) {
        check("core dumps", "ok", "off for tvault")
    } else {
        check("core dumps", "warn", "tvault could not turn them off")
    });
    checks.push(if std::fs::File::open("/dev/tty").is_ok() {
        check("terminal", "ok", "available for prompts")
    } else {
        check(
            "terminal",
            "warn",
            "none: give passphrases with --passphrase-file, --passphrase-fd or --passphrase-command",
        )
    });

    checks.push(match shell_history() {
        Some(file) => check(
            "shell history",
            "warn",
            format!(
                "{} keeps every command typed: keep tvault's out of it with HISTCONTROL=ignorespace and a leading space, or `unset HISTFILE` for the session",
                file.display()
            ),
        ),
        None => check("shell history", "ok", "no history file found"),
    });

    let failed = checks.iter().any(|c| c.status == "fail");
    if ctx.json {
        print_json(&serde_json::json!({
            "tvault": env!("CARGO_PKG_VERSION"),
            "format_supported": store::FORMAT_VERSION,
            "checks": checks,
        }))?;
    } else {
        let mut text = format!(
            "tvault {} (vault format {})\n",
            env!("CARGO_PKG_VERSION"),
            store::FORMAT_VERSION
        );
        for c in &checks {
            text.push_str(&format!("{:<5} {:<24} {}\n", c.status, c.check, c.detail));
        }
        print(&text)?;
    }
    if failed {
        return Err(CliError::new(
            Exit::Failure,
            "some checks failed (marked fail above)",
        ));
    }
    Ok(())
}
