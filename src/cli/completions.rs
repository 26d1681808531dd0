//! `tvault completions` and `tvault man`: shell completions and the manual page, generated
//! from the same definitions as `--help`.

use clap::CommandFactory;

use super::error::{CliError, Exit};
use super::{Cli, print};

/// Print shell completions (install: see README.md, "Shell completions and manual")
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell
    shell: clap_complete::Shell,
}

/// Print the manual page (roff); `tvault man | man -l -` shows it
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn completions(args: CompletionsArgs) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "tvault", &mut out);
    print(&String::from_utf8_lossy(&out))
}

pub fn man(_: ManArgs) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| CliError::new(Exit::Failure, "cannot render the manual").with_source(&e))?;
    print(&String::from_utf8_lossy(&out))
}
