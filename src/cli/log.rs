//! `tvault log`: the custody log, decrypted, oldest first.

use tvault::RecordIdPrefix;

use super::error::CliError;
use super::terminal::escape;
use super::{Context, print, print_json};

/// Show the custody log: who read, wrote or exported what, and when
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the events about this record
    id: Option<RecordIdPrefix>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let events = vault.log(args.id.as_ref())?;
    if ctx.json {
        return print_json(&events);
    }
    let mut text = String::new();
    for e in &events {
        text += &format!(
            "{:>6}  {}  {:<20}  {:<14}",
            e.seq,
            e.time,
            e.action.as_str(),
            escape(&e.operator, false)
        );
        if let Some(r) = &e.record {
            text += &format!("  {}", &r[..12.min(r.len())]);
            if let Some(v) = e.version {
                text += &format!(" v{v}");
            }
        }
        if let Some(d) = &e.detail {
            text += &format!("  {}", escape(&d.to_string(), false));
        }
        text.push('\n');
    }
    print(&text)
}
