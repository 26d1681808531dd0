//! `tvault policy`: the vault's rules, and the approvers that a two-person rule asks for
//! (`--approver`, shared with `export` and `operator add|remove`).

use std::path::PathBuf;

use tvault::Vault;
use tvault::crypto::Passphrase;
use tvault::vault::Approver;

use super::error::{CliError, Exit};
use super::{Context, print, print_json};

/// The vault's rules
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Set a rule: `export-approvals N` makes every export (and any change of the rules, the
    /// operators or the custodians) need N operators, the one who unlocks and N-1 approvers
    ///
    /// Changing a rule needs the approvals of the rule in force. Each approver proves it
    /// with their own passphrase; their personal key signs the export's manifest.
    Set {
        /// The rule
        rule: Rule,
        /// Its value: for export-approvals, how many operators (1 to 9)
        value: u8,
        #[command(flatten)]
        approvers: ApproverArgs,
    },
    /// Show the rules (needs no passphrase; checked at every unlock)
    Show,
}

/// A rule `policy set` can change.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Rule {
    /// How many operators must sign an export
    ExportApprovals,
}

/// The other operators who approve, and where their passphrases come from.
#[derive(Debug, Default, clap::Args)]
pub struct ApproverArgs {
    /// Another operator who approves, when the vault's rule asks for more than one
    /// (`tvault policy show`); repeatable. They give their own passphrase
    #[arg(long = "approver", value_name = "NAME")]
    names: Vec<String>,

    /// The approver's passphrase, on the first line of FILE (one per --approver, in order;
    /// otherwise each approver types theirs on the terminal)
    #[arg(long = "approver-passphrase-file", value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl ApproverArgs {
    /// Each approver with their passphrase: from their file, or typed on the terminal.
    pub fn read(&self, ctx: &Context) -> Result<Vec<Approver>, CliError> {
        if self.files.len() > self.names.len() {
            return Err(CliError::usage(
                "more --approver-passphrase-file than --approver: give one file per approver, in order",
            ));
        }
        let mut approvers = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let passphrase = match self.files.get(i) {
                Some(file) => super::passphrase::Sources {
                    file: Some(file.clone()),
                    no_input: true,
                    ..Default::default()
                }
                .read("")?,
                None => {
                    let mut tty = ctx.sources.terminal().map_err(|e| {
                        e.hint(
                            "give the approver's passphrase with --approver-passphrase-file FILE",
                        )
                    })?;
                    let typed = tty.prompt(&format!(
                        "Approver {}, your passphrase: ",
                        super::terminal::escape(name, false)
                    ))?;
                    Passphrase::from_bytes(typed)
                        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?
                }
            };
            approvers.push(Approver {
                name: name.clone(),
                passphrase,
            });
        }
        Ok(approvers)
    }
}

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Set {
            rule: Rule::ExportApprovals,
            value,
            approvers,
        } => {
            let mut vault = ctx.unlock()?;
            let approvers = approvers.read(ctx)?;
            let change = vault.set_export_approvals(value, &approvers)?;
            if ctx.json {
                return print_json(&change);
            }
            if change.from == change.to {
                ctx.say(&format!(
                    "Unchanged: exports already need {} operator(s).",
                    change.to
                ));
            } else {
                ctx.say(&format!(
                    "Exports now need {} operator(s): the one who unlocks and {} approver(s) with --approver NAME (was {}). Logged.",
                    change.to,
                    change.to - 1,
                    change.from
                ));
            }
            Ok(())
        }
        Command::Show => {
            let status = Vault::status(&ctx.vault_path, Some(&ctx.anchor_dir))?;
            if ctx.json {
                return print_json(&serde_json::json!({
                    "export_approvals": status.export_approvals,
                }));
            }
            print(&format!(
                "export-approvals {}{}\n",
                status.export_approvals,
                if status.export_approvals > 1 {
                    "  (an export needs the operator who unlocks and approvers with --approver)"
                } else {
                    "  (one operator exports alone)"
                }
            ))
        }
    }
}
