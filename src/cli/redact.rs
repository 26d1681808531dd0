//! `tvault redact`: mask names and patterns in a text of a record, reviewed before it is
//! stored as a derived item of kind `redaction`.

use tvault::RecordIdPrefix;
use tvault::vault::RedactRequest;

use super::error::CliError;
use super::terminal::escape;
use super::{Context, print, print_json};

/// Mask names and patterns in a record's text, and store the result as a redaction
///
/// The source (`statement`, a text attachment or a derived text) is never changed: the
/// redaction is stored as a derived item in a new version, with its lineage. Each --mask is
/// matched like a witness's name in an export: whatever its Unicode form, case or
/// diacritics, whole and by its parts (parts of four letters or more also as the start of a
/// word, which catches inflected forms). Each --mask-regex is matched case-insensitively on
/// the text as written. Every match becomes `[REDACTED]`. Check with --preview first: it
/// prints what would be masked and stores nothing (the read is logged).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// The text to redact: `statement`, or a text attachment's or derived item's name
    #[arg(long, value_name = "SOURCE")]
    of: String,

    /// A name or word to mask; repeatable (several may follow one --mask)
    #[arg(long, value_name = "TEXT", num_args = 1.., required_unless_present = "mask_regex")]
    mask: Vec<String>,

    /// A regular expression to mask; repeatable
    #[arg(long, value_name = "RE", num_args = 1..)]
    mask_regex: Vec<String>,

    /// The redaction's name [default: redaction[-LANG].txt]
    #[arg(short, long = "output", value_name = "NAME")]
    output: Option<String>,

    /// Print what would be masked, and store nothing
    #[arg(long)]
    preview: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args
        .mask
        .iter()
        .chain(&args.mask_regex)
        .any(|m| m.trim().is_empty())
    {
        return Err(CliError::usage("a mask is empty"));
    }
    let request = RedactRequest {
        of: args.of,
        masks: args.mask,
        regexes: args.mask_regex,
        name: args.output,
    };
    let mut vault = ctx.unlock()?;
    if !args.preview {
        let summary = vault.redact(&args.id, &request)?;
        return super::derive::report(ctx, &summary);
    }
    let hits = vault.redact_preview(&args.id, &request)?;
    if ctx.json {
        let hits: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| serde_json::json!({ "line": h.line, "text": h.text.as_str() }))
            .collect();
        return print_json(&serde_json::json!({ "masked": hits.len(), "hits": hits }));
    }
    let mut text = String::new();
    for h in &hits {
        text += &format!("line {}: {}\n", h.line, escape(&h.text, false));
    }
    print(&text)?;
    ctx.say(&format!(
        "{} span(s) would be masked; nothing was stored.",
        hits.len()
    ));
    Ok(())
}
