//! `tvault custodians`: split a way into the vault among custodians, K of N.

use std::path::PathBuf;

use super::error::CliError;
use super::{Context, print_json};

/// Custodians: a recovery secret split among N people, any K of whom recover the vault
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a new custodians keyslot and write its N share files (replaces an earlier split:
    /// its shares stop working)
    ///
    /// Each share is a small text file; with --to, each is sealed to its custodian's age key
    /// (one --to per share, in order) and opens with `age -d`. Any K shares, given to
    /// `tvault recover --share FILE ...`, set a new passphrase for an operator.
    Split(SplitArgs),
}

#[derive(Debug, clap::Args)]
pub struct SplitArgs {
    /// How many shares recover the vault (K, at least 2)
    #[arg(long, value_name = "K")]
    threshold: usize,

    /// How many shares to make (N, at most 255)
    #[arg(long, value_name = "N")]
    shares: usize,

    /// The folder to write the share files into (made if missing; existing files are never
    /// replaced)
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,

    /// Seal share i to the i-th recipient (age1… or ssh-ed25519 key); give one per share
    #[arg(long = "to", value_name = "RECIPIENT")]
    to: Vec<String>,

    #[command(flatten)]
    approvers: super::policy::ApproverArgs,
}

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Split(args) => split(ctx, args),
    }
}

fn split(ctx: &Context, args: SplitArgs) -> Result<(), CliError> {
    if args.threshold < 2 || args.shares < args.threshold || args.shares > 255 {
        return Err(tvault::Error::BadSplit {
            threshold: args.threshold,
            shares: args.shares,
        }
        .into());
    }
    if !args.to.is_empty() && args.to.len() != args.shares {
        return Err(CliError::usage(format!(
            "{} --to for {} shares: give one recipient per share, in order, or none",
            args.to.len(),
            args.shares
        )));
    }
    let mut vault = ctx.unlock()?;
    let approvers = args.approvers.read(ctx)?;
    let summary = vault.split_custodians(
        args.threshold,
        args.shares,
        &args.output,
        &args.to,
        &approvers,
    )?;
    if ctx.json {
        return print_json(&summary);
    }
    let mut text = format!(
        "Split among {} custodians: any {} of the shares below recover the vault.\n",
        summary.shares, summary.threshold
    );
    if summary.replaced {
        text.push_str("The earlier split was replaced: its shares no longer open anything.\n");
    }
    for (i, f) in summary.files.iter().enumerate() {
        text += &format!("  {}", f.display());
        if let Some(to) = summary.sealed_to.get(i) {
            text += &format!("  (sealed to {to})");
        }
        text.push('\n');
    }
    text.push_str(if summary.sealed_to.is_empty() {
        "Give each custodian one file, and delete the files here once they have them.\n"
    } else {
        "Send each custodian their file; delete the files here once they have them.\n"
    });
    ctx.say(text.trim_end());
    Ok(())
}
