//! `tvault audit`: checkpoints and consistency proofs, for counsel and third parties. None of
//! these decrypt anything, so they need no passphrase and record no event. And
//! `restart-log`, the one way to start a custody log on a vault that holds records without one,
//! and the trusted timestamps (`timestamp.rs`), which unlock and are logged.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use tvault::Vault;
use tvault::audit::ConsistencyProof;

use super::error::{CliError, Exit};
use super::{Context, print, print_json};

/// Checkpoints of the custody log, and proofs that it only grew
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the current signed checkpoint (a C2SP signed note) to keep outside the vault
    Checkpoint {
        /// Write it to this new file instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Prove that the log today extends an older checkpoint
    Prove {
        /// The older checkpoint, as `audit checkpoint` wrote it
        #[arg(long, value_name = "OLD_CHECKPOINT_FILE")]
        from: PathBuf,
        /// Write the proof to this new file instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a consistency proof and both checkpoints' signatures, without any vault
    CheckProof {
        /// The proof, as `audit prove` wrote it
        proof: PathBuf,
        /// The vault's signing key: an OpenSSH public key line, or a file holding one
        #[arg(long, value_name = "PUBKEY_OR_FILE")]
        signer: String,
    },
    /// Trusted timestamps (RFC 3161) of the custody log: request, add
    #[command(subcommand)]
    Timestamp(super::timestamp::Command),
    /// List the stored trusted timestamps: each one's time, authority and the checkpoint
    /// (log size) it covers, each checked again
    Timestamps,
    /// Start a new custody log on a vault that holds records but has none (made before the
    /// log existed, or its log was removed). Everything before it stays unrecorded; logged
    /// with the reason
    RestartLog {
        /// Why (recorded in the new log's first event)
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Timestamp(command) => super::timestamp::run(ctx, command),
        Command::Timestamps => super::timestamp::list(ctx),
        Command::RestartLog { reason } => {
            if reason.trim().is_empty() {
                return Err(CliError::new(Exit::Usage, "--reason must say why"));
            }
            let vault = ctx.unlock_with(Some(reason.trim()))?;
            let (_, fingerprint) = vault.signing_key();
            if ctx.json {
                return print_json(&serde_json::json!({
                    "log_restarted": true,
                    "signing_key_fingerprint": fingerprint,
                }));
            }
            ctx.say(
                "WARNING: a new custody log was started. Nothing that happened to these records \
                 before now (reads, exports, consent overrides, shreds) is in any log, and no \
                 checkpoint held by others can be proven against it.",
            );
            ctx.say(&format!(
                "The vault has a new signing key; publish its fingerprint to those who check \
                 your exports:\n  {fingerprint}"
            ));
            Ok(())
        }
        Command::Checkpoint { output } => {
            let cp = Vault::checkpoint(&ctx.vault_path, Some(&ctx.anchor_dir))?;
            emit(
                ctx,
                output.as_deref(),
                &cp.note,
                || serde_json::json!({ "origin": cp.origin, "tree_size": cp.size, "note": cp.note }),
            )
        }
        Command::Prove { from, output } => {
            let old = std::fs::read_to_string(&from).map_err(|e| {
                CliError::new(Exit::Io, format!("cannot read {}", from.display())).with_source(&e)
            })?;
            let proof = Vault::prove(&ctx.vault_path, Some(&ctx.anchor_dir), &old)?;
            let text = serde_json::to_string_pretty(&proof).expect("proofs serialise") + "\n";
            emit(ctx, output.as_deref(), &text, || {
                serde_json::to_value(&proof).expect("proofs serialise")
            })
        }
        Command::CheckProof { proof, signer } => {
            let key = signer_key(&signer)?;
            let text = std::fs::read_to_string(&proof).map_err(|e| {
                CliError::new(Exit::Io, format!("cannot read {}", proof.display())).with_source(&e)
            })?;
            let parsed: ConsistencyProof = serde_json::from_str(&text).map_err(|e| {
                CliError::new(
                    Exit::Integrity,
                    "the proof file is not a tvault consistency proof",
                )
                .with_source(&e)
            })?;
            let (old, new) = parsed.check(&key).map_err(|e| {
                CliError::new(Exit::Integrity, format!("the proof does not hold: {e}"))
            })?;
            if ctx.json {
                print_json(&serde_json::json!({
                    "ok": true, "origin": new.origin, "old_size": old.size, "new_size": new.size,
                }))
            } else {
                print(&format!(
                    "ok: {} grew from {} to {} events without rewriting any, signed by that key\n",
                    new.origin, old.size, new.size
                ))
            }
        }
    }
}

/// Writes `text` to a new file, or prints it (as JSON with `--json`).
fn emit(
    ctx: &Context,
    output: Option<&Path>,
    text: &str,
    json: impl FnOnce() -> serde_json::Value,
) -> Result<(), CliError> {
    match output {
        Some(path) => {
            use std::io::Write;
            let mut f = tvault::fs::create_new_file(path)
                .and_then(|mut f| {
                    f.write_all(text.as_bytes())
                        .and_then(|()| f.sync_all())
                        .map(|()| f)
                })
                .map_err(|e| {
                    CliError::new(Exit::Io, format!("cannot write {}", path.display()))
                        .with_source(&e)
                        .hint("tvault never replaces a file; choose a new name")
                })?;
            let _ = f.flush();
            if ctx.json {
                let mut value = json();
                value["path"] = serde_json::json!(path);
                return print_json(&value);
            }
            ctx.say(&format!("Wrote {}.", path.display()));
            Ok(())
        }
        None if ctx.json => print_json(&json()),
        None => print(text),
    }
}

/// An Ed25519 key from an OpenSSH public key line, or from a file holding one.
fn signer_key(signer: &str) -> Result<VerifyingKey, CliError> {
    let line = if signer.trim_start().starts_with("ssh-") {
        signer.to_owned()
    } else {
        std::fs::read_to_string(signer).map_err(|e| {
            CliError::usage(format!(
                "--signer is neither an OpenSSH public key nor a readable file: {signer}"
            ))
            .with_source(&e)
        })?
    };
    let bad = || {
        CliError::usage("--signer must be an ssh-ed25519 public key (as `tvault status` prints it)")
    };
    let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(|_| bad())?;
    let ed = key.key_data().ed25519().ok_or_else(bad)?;
    VerifyingKey::from_bytes(&ed.0).map_err(|_| bad())
}
