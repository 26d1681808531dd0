//! `tvault add`: record one testimony.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tvault::record::{InterviewDate, Metadata, WitnessIdentity, parse_purposes};
use tvault::vault::{Attachment, Intake};
use tvault::{Consent, IdentityLevel, MediaConsent, Purpose};

use super::error::{CliError, Exit};
use super::{Context, print, print_json};

/// Record one testimony: statement, metadata, the witness's identity and attachments
///
/// Everything is encrypted before it reaches the vault file. Attachments of any size are
/// streamed, never held whole in memory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The witness's pseudonym: how the record is listed and searched
    #[arg(long, value_name = "PSEUDONYM")]
    witness: String,

    #[arg(long, value_name = "T")]
    title: Option<String>,

    #[arg(long, value_name = "NAME")]
    interviewer: Option<String>,

    /// The interview date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = InterviewDate::from_str)]
    date: Option<InterviewDate>,

    #[arg(long, value_name = "TEXT")]
    location: Option<String>,

    /// The interview's language, e.g. ug, en, zh
    #[arg(long, value_name = "CODE")]
    language: Option<String>,

    /// A tag; repeat for several
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,

    /// Purposes the witness consented to: archive,advocacy,public,un,court [default: none]
    #[arg(long, value_name = "PURPOSES", value_parser = parse_purposes)]
    consent: Option<BTreeSet<Purpose>>,

    /// How the witness may be identified in what is released
    #[arg(long, value_name = "named|pseudonym|anonymous", value_parser = IdentityLevel::from_str, default_value = "pseudonym")]
    identity_level: IdentityLevel,

    /// Identifying media the witness agreed to release
    #[arg(long, value_name = "voice,face|none", value_parser = MediaConsent::from_str, default_value = "none")]
    media_consent: MediaConsent,

    /// The witness's real name: sealed apart, shown only with `show --identity`
    #[arg(long, value_name = "NAME")]
    witness_name: Option<String>,

    /// How to reach the witness: sealed with the real name
    #[arg(long, value_name = "TEXT")]
    witness_contact: Option<String>,

    /// The statement, as UTF-8 text; `-` reads standard input
    #[arg(long, value_name = "FILE|-")]
    text_file: Option<PathBuf>,

    /// A file to attach (audio, video, photo, document); repeat for several
    #[arg(long = "attach", value_name = "FILE")]
    attach: Vec<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.witness.trim().is_empty() {
        return Err(CliError::usage("--witness needs a pseudonym"));
    }
    // Open every input before asking for the passphrase, so a typo fails fast.
    let statement: Option<Box<dyn Read>> = match &args.text_file {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdin().lock())),
        Some(p) => Some(Box::new(open_input(p, "the statement file")?)),
    };
    let mut attachments = Vec::with_capacity(args.attach.len());
    for (i, path) in args.attach.iter().enumerate() {
        let what = format!("attachment {}", i + 1);
        let name = path
            .file_name()
            .ok_or_else(|| CliError::usage(format!("{what} has no file name")))?
            .to_str()
            .ok_or_else(|| {
                CliError::usage(format!("{what}'s file name is not valid UTF-8"))
                    .hint("rename the file (for example with `convmv`) and try again")
            })?
            .to_owned();
        attachments.push(Attachment {
            name,
            reader: Box::new(open_input(path, &what)?),
        });
    }

    let mut vault = ctx.unlock()?;
    let intake = Intake {
        meta: Metadata {
            witness: args.witness.trim().to_owned(),
            title: args.title,
            interviewer: args.interviewer,
            date: args.date,
            location: args.location,
            language: args.language,
            tags: args.tags,
            consent: Consent {
                purposes: args.consent.unwrap_or_default(),
                identity_level: args.identity_level,
                media: args.media_consent,
            },
        },
        identity: WitnessIdentity {
            name: args.witness_name,
            contact: args.witness_contact,
        },
        statement,
        attachments,
    };
    let count = intake.attachments.len();
    let id = vault.add(intake)?;
    if ctx.json {
        print_json(&serde_json::json!({ "id": id, "version": 1 }))
    } else {
        print(&format!("{id}\n"))?;
        ctx.say(&format!("Stored record {id} with {count} attachment(s)."));
        Ok(())
    }
}

/// Opens an input file, refusing folders. The message names the argument, not the path: a
/// file name can itself say who a witness is.
fn open_input(path: &Path, what: &str) -> Result<File, CliError> {
    let fail = |e: std::io::Error| {
        CliError::new(Exit::Io, format!("cannot open {what}"))
            .with_source(&e)
            .hint("check that the file exists and is readable")
    };
    let file = File::open(path).map_err(fail)?;
    if file.metadata().map_err(fail)?.is_dir() {
        return Err(CliError::usage(format!("{what} is a folder, not a file")));
    }
    Ok(file)
}
