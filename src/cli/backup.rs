//! `tvault backup`: a consistent, checked copy of the still-encrypted vault.

use std::path::PathBuf;

use super::error::CliError;
use super::{Context, human_size, print_json};

/// Write a consistent copy of the encrypted vault, checked after writing
///
/// The copy opens with the same passphrases, now and after they change here; keep it as safe
/// as the vault. `tvault verify --vault FILE` checks it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The copy to write (never replaces a file)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    super::refuse_existing(&args.output)?;
    let mut vault = ctx.unlock()?;
    let summary = vault.backup(&args.output)?;
    if ctx.json {
        return print_json(&summary);
    }
    ctx.say(&format!(
        "Wrote {} ({}, {} events), checked. It opens with the passphrases this vault has now.",
        summary.path.display(),
        human_size(summary.size),
        summary.events
    ));
    Ok(())
}
