//! `tvault verify`: check the whole vault and its custody log.

use super::error::{CliError, Exit};
use super::progress::Bar;
use super::{Context, human_size, print, print_json};

/// Check everything: the file, every keyslot, the custody log, and every part's content
///
/// Exit code 13 names each failure; 0 prints a summary.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check lengths, metadata and the log, but do not decrypt and hash the content
    #[arg(long)]
    quick: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let bar = Bar::items(ctx, "verifying", "parts");
    let report = vault.verify(args.quick, &mut |done, total| bar.set(done, total))?;
    drop(bar);
    if ctx.json {
        print_json(&report)?;
    } else if report.failures.is_empty() {
        print(&format!(
            "ok: {} records, {} versions, {} parts{}, {} events in the custody log\n",
            report.records,
            report.versions,
            report.parts,
            if args.quick {
                " (lengths only)".to_owned()
            } else if vault.is_kit() {
                format!(
                    " ({} of sealed files hashed; a kit cannot decrypt them)",
                    human_size(report.bytes)
                )
            } else {
                format!(" ({} decrypted and hashed)", human_size(report.bytes))
            },
            report.events
        ))?;
    }
    for note in &report.notes {
        ctx.say(&format!("note: {note}"));
    }
    if report.failures.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = report.failures.iter().map(|f| format!("  - {f}")).collect();
    Err(CliError::new(
        Exit::Integrity,
        format!(
            "verification found {} problem(s):\n{}",
            report.failures.len(),
            list.join("\n")
        ),
    )
    .hint("keep a copy of the vault file exactly as it is, and compare with a backup you trust"))
}
