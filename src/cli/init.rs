//! `tvault init`: create a vault with a first operator and passphrase.

use std::time::{Duration, Instant};

use tvault::crypto::{KdfParams, Passphrase};
use tvault::vault::CreateOptions;
use tvault::{Error, Vault};
use zeroize::Zeroizing;

use super::error::{CliError, Exit};
use super::passphrase::{self, check_strength};
use super::{Context, print, print_json};

/// Create a new vault
///
/// Without KDF flags, Argon2id is calibrated to 1 to 2 s on this machine, with 1 GiB of memory
/// where the machine has it, and never below 256 MiB and 768 MiB × passes.
#[derive(Debug, clap::Args)]
pub struct Args {
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

    /// Accept a passphrase that the strength estimate rates as guessable
    #[arg(long)]
    allow_weak_passphrase: bool,

    /// Make a random seven-word passphrase and show it once on the terminal
    #[arg(long)]
    generate_passphrase: bool,
}

/// The operator name used when `--operator` is not given.
const DEFAULT_OPERATOR: &str = "operator";

/// Calibration aims here (and accepts up to twice this to use 1 GiB); the floor may make it
/// slower on a slow machine.
const KDF_TARGET: Duration = Duration::from_millis(1000);

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if ctx.vault_path.exists() {
        return Err(Error::VaultExists {
            path: ctx.vault_path.clone(),
        }
        .into());
    }
    let operator = ctx.operator.as_deref().unwrap_or(DEFAULT_OPERATOR);
    check_operator_name(operator)?;

    let explicit = args.kdf_memory_mib.is_some()
        || args.kdf_iterations.is_some()
        || args.kdf_parallelism.is_some();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let kdf = if explicit {
        let kdf = KdfParams::from_flags(
            args.kdf_memory_mib,
            args.kdf_iterations,
            args.kdf_parallelism,
            cores,
        )?;
        if kdf.is_weak() && !args.allow_weak_kdf {
            return Err(CliError::usage(format!(
                "{} MiB × {} passes is below the floor of 256 MiB and 768 MiB × passes",
                kdf.memory_mib(),
                kdf.t
            ))
            .hint("raise --kdf-memory-mib or --kdf-iterations, or pass --allow-weak-kdf to accept weaker protection of a stolen vault file"));
        }
        Some(kdf)
    } else {
        None
    };

    let passphrase = new_passphrase(ctx, &args)?;
    if !args.allow_weak_passphrase {
        check_strength(&passphrase)?;
    }

    let kdf = match kdf {
        Some(kdf) => kdf,
        None => {
            ctx.say("Measuring this machine to choose the key derivation cost…");
            KdfParams::calibrate(available_memory_mib(), cores, KDF_TARGET)?
        }
    };
    let started = Instant::now();
    let vault = Vault::create(
        &ctx.vault_path,
        &passphrase,
        &CreateOptions {
            kdf,
            weak_kdf: kdf.is_weak(),
            operator,
            anchor_dir: Some(&ctx.anchor_dir),
        },
    )?;
    let unlock_time = started.elapsed();
    let (public_key, fingerprint) = vault.signing_key();

    if ctx.json {
        print_json(&serde_json::json!({
            "vault_id": vault.id(),
            "path": ctx.vault_path,
            "operator": operator,
            "signing_key": public_key,
            "signing_key_fingerprint": fingerprint,
            "kdf": {
                "algorithm": "argon2id",
                "memory_mib": kdf.memory_mib(),
                "iterations": kdf.t,
                "parallelism": kdf.p,
                "weak": kdf.is_weak(),
            },
        }))?;
    } else {
        print(&format!("{}\n", vault.id()))?;
        ctx.say(&format!(
            "Created vault at {} for operator {}.\nUnlocking costs Argon2id with {} MiB × {} passes × {} lanes, about {:.1} s here.",
            ctx.vault_path.display(),
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
        ctx.say("Next: record a testimony with `tvault add --witness PSEUDONYM --text-file FILE`.");
    }
    Ok(())
}

fn check_operator_name(name: &str) -> Result<(), CliError> {
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
        let mut tty = ctx.sources.terminal()?;
        let words = passphrase::generate();
        tty.say(&format!(
            "\nYour vault passphrase, shown only this once. Write it down and keep it apart from this computer:\n\n    {}\n\n",
            words.as_str()
        ))?;
        let typed = tty.prompt("Type it to confirm: ")?;
        let typed = Passphrase::from_bytes(typed)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        let generated = Passphrase::from_bytes(Zeroizing::new(words.as_bytes().to_vec()))
            .expect("a generated passphrase is valid");
        if typed.expose_secret() != generated.expose_secret() {
            return Err(CliError::new(
                Exit::Failure,
                "the passphrase typed does not match; no vault was created",
            )
            .hint("run `tvault init --generate-passphrase` again"));
        }
        return Ok(generated);
    }
    if !ctx.sources.is_terminal() {
        return ctx.sources.read("");
    }
    let mut tty = ctx.sources.terminal()?;
    let first = Passphrase::from_bytes(tty.prompt("New vault passphrase: ")?)
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    let again = Passphrase::from_bytes(tty.prompt("Repeat it: ")?)
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    if first.expose_secret() != again.expose_secret() {
        return Err(CliError::new(
            Exit::Failure,
            "the two passphrases differ; no vault was created",
        )
        .hint("run `tvault init` again"));
    }
    Ok(first)
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
