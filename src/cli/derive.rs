//! `tvault derive`: store a transcript, translation, redaction or summary of a record's part,
//! with its lineage, as a new version of the record.

use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use tvault::RecordIdPrefix;
use tvault::record::DerivedKind;
use tvault::vault::{Derivation, DerivedSummary};

use super::add::open_input;
use super::error::CliError;
use super::terminal::escape;
use super::{Context, print, print_json};

/// Store a transcript, translation, redaction or summary of a record's statement, attachment
/// or derived item
///
/// The derived item is encrypted like any part, in a new version of the record that carries
/// everything else over unchanged; the source is never changed. Its lineage (kind, source,
/// language, method, operator, time) is sealed with it and shown by `show`; the custody log
/// records the derivation. `cat ID NAME` reads it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// What the item is
    #[arg(long, value_name = "transcript|translation|redaction|summary", value_parser = DerivedKind::from_str)]
    kind: DerivedKind,

    /// What it was made from: `statement`, an attachment's name, or a derived item's name
    #[arg(long, value_name = "SOURCE")]
    of: String,

    /// The item as UTF-8 text, from FILE (or - for standard input)
    #[arg(
        long,
        value_name = "FILE|-",
        conflicts_with = "attach",
        required_unless_present = "attach"
    )]
    text_file: Option<PathBuf>,

    /// The item as a file of any kind (an edited recording, a scanned translation)
    #[arg(long, value_name = "FILE")]
    attach: Option<PathBuf>,

    /// Its name, unique among the record's attachments and derived items [default: the
    /// attached file's name, or KIND[-LANG].txt]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Its language (a code such as `ug`, `kk`, `en`)
    #[arg(long, value_name = "LANG")]
    language: Option<String>,

    /// How it was made: a tool and its version (`whisper 20240930`) [default: manual]
    #[arg(long, value_name = "TEXT")]
    method: Option<String>,

    /// A note kept with it (it stays in the vault: exports do not carry it)
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    // The input first: a typo fails before the passphrase is asked for.
    let (content, text, file_name): (Box<dyn Read>, bool, Option<String>) =
        match (&args.text_file, &args.attach) {
            (Some(p), _) if p.as_os_str() == "-" => (Box::new(std::io::stdin().lock()), true, None),
            (Some(p), _) => (Box::new(open_input(p, "the text file")?), true, None),
            (None, Some(p)) => {
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        CliError::usage("the attached file's name is not valid UTF-8")
                            .hint("name the item with --name")
                    })?;
                (
                    Box::new(open_input(p, "the attached file")?),
                    false,
                    Some(name),
                )
            }
            (None, None) => {
                return Err(CliError::usage(
                    "give the item with --text-file or --attach",
                ));
            }
        };
    let name = args.name.or(file_name);
    if let Some(n) = &name
        && !tvault::vault::plain_name(n)
    {
        return Err(tvault::Error::InvalidPartName.into());
    }
    let mut vault = ctx.unlock()?;
    let summary = vault.derive(
        &args.id,
        Derivation {
            kind: args.kind,
            of: args.of,
            name,
            content,
            text,
            language: args.language.map(|l| l.trim().to_owned()),
            method: args.method,
            note: args.note,
        },
    )?;
    report(ctx, &summary)
}

/// What `derive` and `redact` print: the record, its new version and the item's name.
pub fn report(ctx: &Context, summary: &DerivedSummary) -> Result<(), CliError> {
    if ctx.json {
        return print_json(summary);
    }
    print(&format!("{} {}\n", summary.id, summary.version))?;
    ctx.say(&format!(
        "Stored {} {} of {} as version {} of record {}.",
        summary.kind.as_str(),
        escape(&summary.name, false),
        escape(
            summary.source_name.as_deref().unwrap_or("the statement"),
            false
        ),
        summary.version,
        summary.id
    ));
    Ok(())
}
