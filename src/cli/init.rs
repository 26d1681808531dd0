//! `tvault init`: create a vault with a first operator and passphrase.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tvault::crypto::{KdfParams, Passphrase, RecoveryCode};
use tvault::vault::CreateOptions;
use tvault::{Error, Vault};
use zeroize::Zeroizing;

use super::error::{CliError, Exit};
use super::passphrase::{self, Terminal, check_strength};
use super::{Context, print, print_json};

/// Create a new vault
///
/// Without KDF flags, Argon2id is calibrated to 1 to 2 s on this machine, with 1 GiB of memory
/// where the machine has it, and never below 256 MiB and 768 MiB × passes.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    kdf: KdfArgs,

    /// Accept a passphrase that the strength estimate rates as guessable
    #[arg(long)]
    allow_weak_passphrase: bool,

    /// Make a random seven-word passphrase and show it once on the terminal
    #[arg(long)]
    generate_passphrase: bool,

    /// Write the recovery code to this new file (0600) instead of showing it on the terminal
    #[arg(long, value_name = "FILE", conflicts_with = "no_recovery_code")]
    recovery_code_out: Option<PathBuf>,

    /// Make no recovery code: a forgotten passphrase then loses the vault for good
    #[arg(long)]
    no_recovery_code: bool,
}

/// The key derivation's cost, when given as flags.
#[derive(Debug, clap::Args)]
pub struct KdfArgs {
    /// Argon2id memory in MiB
    #[arg(long, value_name = "N")]
    kdf_memory_mib: Option<u32>,

    /// Argon2id passes over the memory
    #[arg(long, value_name = "N")]
    kdf_iterations: Option<u32>,

    /// Argon2id lanes
    #[arg(long, value_name = "N")]
    kdf_parallelism: Option<u32>,

    /// Accept KDF parameters below the floor; the vault records it and `status` warns
    #[arg(long)]
    allow_weak_kdf: bool,
}

impl KdfArgs {
    /// The parameters the flags give, checked against the floor; `None` without flags.
    pub fn explicit(&self) -> Result<Option<KdfParams>, CliError> {
        if self.kdf_memory_mib.is_none()
            && self.kdf_iterations.is_none()
            && self.kdf_parallelism.is_none()
        {
            return Ok(None);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let kdf = KdfParams::from_flags(
            self.kdf_memory_mib,
            self.kdf_iterations,
            self.kdf_parallelism,
            cores,
        )?;
        if kdf.is_weak() && !self.allow_weak_kdf {
            return Err(CliError::usage(format!(
                "{} MiB × {} passes is below the floor of 256 MiB and 768 MiB × passes",
                kdf.memory_mib(),
                kdf.t
            ))
            .hint("raise --kdf-memory-mib or --kdf-iterations, or pass --allow-weak-kdf to accept weaker protection of a stolen vault file"));
        }
        Ok(Some(kdf))
    }
}

/// The operator name used when `--operator` is not given.
const DEFAULT_OPERATOR: &str = "operator";

/// Calibration aims here (and accepts up to twice this to use 1 GiB); the floor may make it
/// slower on a slow machine.
const KDF_TARGET: Duration = Duration::from_millis(1000);

/// Long on purpose: the guided and the scripted init share one sequence (where, which
/// passphrase, calibrate, create, recovery code, next steps), each step a few lines.
pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    // A first-time user on a terminal is asked where the vault goes, unless a flag, the
    // environment or the config file said.
    let guided = ctx.sources.is_terminal() && !ctx.json && std::io::stdin().is_terminal();
    let path = if guided && !ctx.vault_chosen {
        ask_location(&mut ctx.sources.terminal()?, &ctx.vault_path)?
    } else {
        ctx.vault_path.clone()
    };
    if path.exists() {
        return Err(Error::VaultExists { path }.into());
    }
    let operator = ctx.operator.as_deref().unwrap_or(DEFAULT_OPERATOR);
    check_operator_name(operator)?;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let kdf = args.kdf.explicit()?;

    let passphrase = new_passphrase(ctx, &args)?;
    if !args.allow_weak_passphrase {
        check_strength(&passphrase)?;
    }

    // The recovery code: to a new file, or shown once on the terminal and typed back.
    let mut recovery_file = None;
    let recovery = if args.no_recovery_code {
        None
    } else if let Some(path) = &args.recovery_code_out {
        let file = tvault::fs::create_new_file(path).map_err(|e| {
            CliError::new(Exit::Io, format!("cannot create {}", path.display()))
                .with_source(&e)
                .hint("tvault never replaces a file; choose a new name")
        })?;
        recovery_file = Some((path.clone(), file));
        Some(RecoveryCode::generate())
    } else if let Some(mut tty) = ctx
        .sources
        .is_terminal()
        .then(|| ctx.sources.terminal().ok())
        .flatten()
    {
        // Only in an interactive init (the passphrase was typed here too).
        let code = RecoveryCode::generate();
        let grouped = code.expose_secret_grouped();
        tty.say(&format!(
            "\nYour recovery code opens this vault if every passphrase is lost. It is shown only this once.\nWrite it on paper and keep it somewhere safe, away from this computer:\n\n    {}\n\n",
            grouped.as_str()
        ))?;
        let typed = tty.prompt("Type its last group to confirm you wrote it down: ")?;
        let last = grouped.rsplit('-').next().unwrap_or_default();
        if typed.as_slice() != last.as_bytes() {
            return Err(CliError::new(
                Exit::Failure,
                "that is not the last group; no vault was created",
            )
            .hint("run `tvault init` again, and write the code down as it is shown"));
        }
        Some(code)
    } else {
        ctx.say("warning: no recovery code was made (init is not interactive); pass --recovery-code-out FILE to make one");
        None
    };

    let kdf = match kdf {
        Some(kdf) => kdf,
        None => {
            ctx.say("Measuring this machine to choose the key derivation cost…");
            KdfParams::calibrate(available_memory_mib(), cores, KDF_TARGET)?
        }
    };
    let started = Instant::now();
    let created = Vault::create(
        &path,
        &passphrase,
        &CreateOptions {
            kdf,
            weak_kdf: kdf.is_weak(),
            operator,
            anchor_dir: Some(&ctx.anchor_dir),
            recovery: recovery.as_ref(),
        },
    );
    let vault = match created {
        Ok(v) => v,
        Err(e) => {
            if let Some((path, file)) = recovery_file {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    if let (Some((path, mut file)), Some(code)) = (recovery_file, &recovery) {
        let grouped = code.expose_secret_grouped();
        file.write_all(format!("{}\n", grouped.as_str()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                CliError::new(
                    Exit::Io,
                    format!(
                        "the vault was created, but the recovery code could not be written to {}",
                        path.display()
                    ),
                )
                .with_source(&e)
                .hint("the vault opens with its passphrase; make sure you have it")
            })?;
        ctx.say(&format!("Wrote the recovery code to {}. Print it, keep it away from this computer, then delete the file.", path.display()));
    }
    // What an unlock will take: what creating took, the KDF having run once per keyslot (the
    // recovery code has one too) with the parameters an unlock uses. Calibration's own
    // prediction comes from a short probe and carries its noise; this is a full run.
    let unlock_time = started.elapsed() / (1 + u32::from(recovery.is_some()));
    let (public_key, fingerprint) = vault.signing_key();

    if ctx.json {
        print_json(&serde_json::json!({
            "vault_id": vault.id(),
            "path": path,
            "operator": operator,
            "recovery_code": recovery.is_some(),
            "signing_key": public_key,
            "signing_key_fingerprint": fingerprint,
            "kdf": {
                "algorithm": "argon2id",
                "memory_mib": kdf.memory_mib(),
                "iterations": kdf.t,
                "parallelism": kdf.p,
                "weak": kdf.is_weak(),
                "unlock_seconds": (unlock_time.as_secs_f64() * 100.0).round() / 100.0,
            },
        }))?;
    } else {
        print(&format!("{}\n", vault.id()))?;
        ctx.say(&format!(
            "Created vault at {} for operator {}.\nUnlocking costs Argon2id with {} MiB × {} passes × {} lanes, about {:.1} s here.",
            path.display(),
            super::terminal::escape(operator, false),
            kdf.memory_mib(),
            kdf.t,
            kdf.p,
            unlock_time.as_secs_f64()
        ));
        ctx.say(&format!(
            "The vault signs its custody log with this key. Publish it, or give it to your legal team, \
             through another channel:\n  {public_key}\n  fingerprint {fingerprint}"
        ));
        if kdf.is_weak() {
            ctx.say("warning: these KDF parameters are below the floor; a stolen copy of this vault is easier to crack.");
        }
        let vault_flag = if path == ctx.vault_path {
            String::new()
        } else {
            format!(" --vault {}", path.display())
        };
        ctx.say(&format!(
            "Next:\n  \
             tvault{vault_flag} add                  record a testimony (asks for each field; or --witness … --text-file FILE)\n  \
             tvault{vault_flag} backup -o FILE       keep an encrypted copy on another drive\n  \
             tvault{vault_flag} doctor               check this machine (core dumps, swap, filesystem)"
        ));
    }
    Ok(())
}

pub fn check_operator_name(name: &str) -> Result<(), CliError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CliError::usage(
            "an operator name is 1 to 64 characters, without control characters",
        ));
    }
    Ok(())
}

/// The new vault's passphrase: generated, typed twice, or read once from a source.
fn new_passphrase(ctx: &Context, args: &Args) -> Result<Passphrase, CliError> {
    if args.generate_passphrase {
        if !ctx.sources.is_terminal() {
            return Err(CliError::usage(
                "--generate-passphrase shows the passphrase on the terminal; it cannot be combined with a passphrase source",
            ));
        }
        return generated_passphrase(&mut ctx.sources.terminal()?);
    }
    if !ctx.sources.is_terminal() {
        return ctx.sources.read("");
    }
    let mut tty = ctx.sources.terminal()?;
    tty.say("Choose the vault passphrase: type one of your own (several words are best), or press Enter to have one made for you.\n")?;
    // Three tries at a passphrase that is strong and typed the same twice.
    for _ in 0..3 {
        let typed = tty.prompt("New vault passphrase: ")?;
        if typed.is_empty() {
            return generated_passphrase(&mut tty);
        }
        let first = Passphrase::from_bytes(typed)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        if !args.allow_weak_passphrase
            && let Err(weak) = check_strength(&first)
        {
            let mut text = format!("{}\n", weak.message);
            for h in &weak.hints {
                text += &format!("  {h}\n");
            }
            tty.say(&text)?;
            continue;
        }
        let again = Passphrase::from_bytes(tty.prompt("Repeat it: ")?)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        if first.expose_secret() == again.expose_secret() {
            return Ok(first);
        }
        tty.say("The two differ. Once more.\n")?;
    }
    Err(CliError::new(
        Exit::Failure,
        "no passphrase was settled on; no vault was created",
    )
    .hint("run `tvault init` again; press Enter at the prompt for a generated one"))
}

/// Shows a generated passphrase once and has it typed back.
fn generated_passphrase(tty: &mut Terminal) -> Result<Passphrase, CliError> {
    let words = passphrase::generate();
    tty.say(&format!(
        "\nYour vault passphrase, shown only this once. Write it down and keep it apart from this computer:\n\n    {}\n\n",
        words.as_str()
    ))?;
    let typed = tty.prompt("Type it to confirm: ")?;
    let typed =
        Passphrase::from_bytes(typed).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    let generated = Passphrase::from_bytes(Zeroizing::new(words.as_bytes().to_vec()))
        .expect("a generated passphrase is valid");
    if typed.expose_secret() != generated.expose_secret() {
        return Err(CliError::new(
            Exit::Failure,
            "the passphrase typed does not match; no vault was created",
        )
        .hint("run `tvault init` again, and copy the words exactly"));
    }
    Ok(generated)
}

/// Asks where the vault goes; Enter keeps `default`.
fn ask_location(tty: &mut Terminal, default: &Path) -> Result<PathBuf, CliError> {
    tty.say("Welcome to tvault. It keeps testimony encrypted in one file, which is made now.\n")?;
    loop {
        let answer = tty.ask_line(&format!(
            "Where should the vault file be? [{}]: ",
            default.display()
        ))?;
        let answer = answer.trim();
        let path = if answer.is_empty() {
            default.to_owned()
        } else if let Some(rest) = answer.strip_prefix("~/") {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from(answer), |h| PathBuf::from(h).join(rest))
        } else {
            PathBuf::from(answer)
        };
        if path.exists() {
            tty.say(
                "Something is already there; tvault never replaces a file. Another name, please.\n",
            )?;
            continue;
        }
        return Ok(path);
    }
}

/// Memory the kernel says is available, in MiB; 1 GiB when it cannot say.
fn available_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(1024, |kib| kib / 1024)
}
