//! `tvault search`: full-text search over statements and metadata.

use std::fmt::Write as _;

use serde::Serialize;
use zeroize::Zeroizing;

use super::error::CliError;
use super::list::{RecordJson, summary_line};
use super::terminal::escape;
use super::{Context, print, print_json};

/// Search statements and metadata, case-insensitively (never the witness's identity)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text to find
    query: String,
}

#[derive(Serialize)]
struct HitJson<'a> {
    #[serde(flatten)]
    record: RecordJson<'a>,
    field: &'a str,
    snippet: &'a str,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.query.trim().is_empty() {
        return Err(CliError::usage("the search text is empty"));
    }
    let mut vault = ctx.unlock()?;
    let hits = vault.search(&args.query)?;
    if ctx.json {
        let docs: Vec<HitJson<'_>> = hits
            .iter()
            .map(|h| HitJson {
                record: RecordJson::new(&h.record),
                field: h.field,
                snippet: &h.snippet,
            })
            .collect();
        return print_json(&docs);
    }
    let mut text = Zeroizing::new(String::new());
    for h in &hits {
        summary_line(&mut text, &h.record);
        let _ = writeln!(text, "    {}: {}", h.field, escape(&h.snippet, false));
    }
    print(&text)?;
    ctx.say(&format!("{} matching record(s)", hits.len()));
    Ok(())
}
