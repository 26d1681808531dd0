//! `tvault destroy`: make the vault undecryptable and remove it.

use super::Context;
use super::error::{CliError, Exit};

/// Destroy the vault: overwrite every keyslot and the header, then remove the file
///
/// What this cannot do: erase copies or backups made earlier, bundles already exported, or
/// blocks an SSD or a filesystem keeps after they are overwritten.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask for typed confirmation
    #[arg(long)]
    yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let vault = ctx.unlock()?;
    if !args.yes {
        let mut tty = ctx
            .sources
            .terminal()
            .map_err(|e| e.hint("or pass --yes to confirm"))?;
        tty.say(&format!(
            "This destroys the vault at {}: every record in it becomes unreadable, for good.\n\
             Copies, backups and exports made earlier are not touched; destroy them separately.\n",
            ctx.vault_path.display()
        ))?;
        let typed = tty.ask_line("Type `destroy` to go on: ")?;
        if typed.trim() != "destroy" {
            return Err(CliError::new(
                Exit::Failure,
                "not confirmed; nothing was destroyed",
            ));
        }
    }
    vault.destroy()?;
    if ctx.json {
        return super::print_json(&serde_json::json!({
            "path": ctx.vault_path,
            "destroyed": true,
        }));
    }
    ctx.say(
        "Destroyed: the keyslots and header were overwritten and the file removed. On SSDs and \
         some filesystems old blocks may survive; only copies you destroy yourself are gone.",
    );
    Ok(())
}
