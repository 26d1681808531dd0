//! `tvault operator` and `tvault passphrase`: who can open the vault, and with what.

use std::path::PathBuf;

use tvault::crypto::Passphrase;

use super::error::{CliError, Exit};
use super::passphrase::check_strength;
use super::terminal::escape;
use super::{Context, print, print_json};

/// Operators: the people who can unlock this vault, each with their own passphrase
#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Add an operator with their own passphrase (needs an existing operator's unlock)
    Add {
        /// The new operator's name, recorded (encrypted) with every event they cause
        name: String,
        #[command(flatten)]
        new: NewPassphrase,
        #[command(flatten)]
        approvers: super::policy::ApproverArgs,
    },
    /// List the operators, with each one's personal signing key
    List,
    /// Print an operator's personal signing key (an OpenSSH public key line), to publish
    ///
    /// Every event the operator causes carries their signature with this key; `tvault verify`
    /// checks them. Only the operator's own passphrase opens the secret half.
    Key { name: String },
    /// Remove an operator's keyslot (never the last way in, nor below the export rule)
    Remove {
        name: String,
        #[command(flatten)]
        approvers: super::policy::ApproverArgs,
    },
}

/// Passphrases
#[derive(Debug, clap::Subcommand)]
pub enum PassphraseCommand {
    /// Give the operator who unlocks now a new passphrase
    Change {
        #[command(flatten)]
        new: NewPassphrase,
    },
}

/// Where a new passphrase comes from.
#[derive(Debug, clap::Args)]
pub struct NewPassphrase {
    /// Read the new passphrase from the first line of FILE (otherwise asked twice on the terminal)
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,

    /// Accept a passphrase that the strength estimate rates as guessable
    #[arg(long)]
    allow_weak_passphrase: bool,
}

impl NewPassphrase {
    pub fn read(&self, ctx: &Context) -> Result<Passphrase, CliError> {
        self.read_for(ctx, "New passphrase: ")
    }

    /// [`NewPassphrase::read`], asking with `prompt` on the terminal.
    pub fn read_for(&self, ctx: &Context, prompt: &str) -> Result<Passphrase, CliError> {
        let invalid =
            |e: tvault::crypto::PassphraseError| CliError::new(Exit::Failure, e.to_string());
        let passphrase = match &self.new_passphrase_file {
            Some(path) => {
                let sources = super::passphrase::Sources {
                    file: Some(path.clone()),
                    no_input: true,
                    ..Default::default()
                };
                sources.read("")?
            }
            None => {
                let mut tty = ctx.sources.terminal()?;
                let first = Passphrase::from_bytes(tty.prompt(prompt)?).map_err(invalid)?;
                let again = Passphrase::from_bytes(tty.prompt("Repeat it: ")?).map_err(invalid)?;
                if first.expose_secret() != again.expose_secret() {
                    return Err(CliError::new(
                        Exit::Failure,
                        "the two passphrases differ; nothing was changed",
                    ));
                }
                first
            }
        };
        if !self.allow_weak_passphrase {
            check_strength(&passphrase)?;
        }
        Ok(passphrase)
    }
}

fn check_name(name: &str) -> Result<(), CliError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CliError::usage(
            "an operator name is 1 to 64 characters, without control characters",
        ));
    }
    Ok(())
}

pub fn run_operator(ctx: &Context, command: OperatorCommand) -> Result<(), CliError> {
    match command {
        OperatorCommand::Add {
            name,
            new,
            approvers,
        } => {
            check_name(&name)?;
            let mut vault = ctx.unlock()?;
            let approvers = approvers.read(ctx)?;
            let passphrase = new.read(ctx)?;
            vault.add_operator(&name, &passphrase, &approvers)?;
            if ctx.json {
                return print_json(&serde_json::json!({ "operator": name, "added": true }));
            }
            ctx.say("Added the operator. They unlock with their own passphrase; events name them.");
            Ok(())
        }
        OperatorCommand::List => {
            let mut vault = ctx.unlock()?;
            let operators = vault.operators()?;
            if ctx.json {
                return print_json(&operators);
            }
            let mut text = String::new();
            for o in &operators {
                text += &format!(
                    "{} {:<24} {:<10} argon2id {} MiB × {}{}\n",
                    if o.current { "*" } else { " " },
                    escape(&o.name, false),
                    o.kind,
                    o.kdf_memory_mib,
                    o.kdf_iterations,
                    if o.weak { "  (WEAK)" } else { "" }
                );
                match (&o.key, &o.key_fingerprint) {
                    (Some(key), Some(fp)) => text += &format!("    key: {key}\n    {fp}\n"),
                    _ if o.kind == "passphrase" => {
                        text += "    key: none yet (made at their next unlock)\n"
                    }
                    _ => {}
                }
            }
            print(&text)
        }
        OperatorCommand::Key { name } => {
            let mut vault = ctx.unlock()?;
            let operators = vault.operators()?;
            let o = operators
                .iter()
                .find(|o| o.name == name)
                .ok_or_else(|| tvault::Error::OperatorNotFound(name.clone()))?;
            let (Some(key), Some(fp)) = (&o.key, &o.key_fingerprint) else {
                return Err(CliError::new(
                    Exit::Failure,
                    "this operator has no personal key yet: it is made at their next unlock",
                ));
            };
            if ctx.json {
                return print_json(&serde_json::json!({
                    "operator": o.name,
                    "key": key,
                    "fingerprint": fp,
                }));
            }
            print(&format!("{key}\n"))
        }
        OperatorCommand::Remove { name, approvers } => {
            let mut vault = ctx.unlock()?;
            let approvers = approvers.read(ctx)?;
            vault.remove_operator(&name, &approvers)?;
            if ctx.json {
                return print_json(&serde_json::json!({ "operator": name, "removed": true }));
            }
            ctx.say(
                "Removed the operator's keyslot. Copies of the vault made earlier still open with \
                 their passphrase, and hold the master key of this file too: `tvault rekey \
                 --reencrypt` makes sure nothing from them opens it.",
            );
            Ok(())
        }
    }
}

pub fn run_passphrase(ctx: &Context, command: PassphraseCommand) -> Result<(), CliError> {
    match command {
        PassphraseCommand::Change { new } => {
            let mut vault = ctx.unlock()?;
            let passphrase = new.read(ctx)?;
            vault.change_passphrase(&passphrase)?;
            if ctx.json {
                return print_json(&serde_json::json!({
                    "operator": vault.operator(),
                    "passphrase_changed": true,
                }));
            }
            ctx.say(
                "Changed. Copies and backups of the vault made before now still open with the old passphrase, \
                 and hold the master key of this file too: destroy them, or run `tvault rekey --reencrypt` \
                 so that nothing from them opens this file.",
            );
            Ok(())
        }
    }
}
