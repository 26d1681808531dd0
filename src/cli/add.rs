//! `tvault add`: record one testimony. Its content flags are shared with `amend`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tvault::record::{InterviewDate, Metadata, WitnessIdentity, parse_purposes};
use tvault::vault::{Attachment, Intake};
use tvault::{Consent, IdentityLevel, MediaConsent, Purpose};
use zeroize::Zeroizing;

use super::error::{CliError, Exit};
use super::fields;
use super::passphrase::Terminal;
use super::progress::Bar;
use super::terminal::escape;
use super::{Context, print, print_json};

/// Record one testimony: statement, metadata, the witness's identity and attachments
///
/// Everything is encrypted before it reaches the vault file. Attachments of any size are
/// streamed, never held whole in memory. On a field kit, a statement typed on the terminal is
/// shown back for review before it is sealed to headquarters; the kit cannot show it after.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The witness's pseudonym: how the record is listed and searched (asked for on a
    /// terminal when not given)
    #[arg(long, value_name = "PSEUDONYM")]
    witness: Option<String>,

    /// Write the statement in $VISUAL or $EDITOR, on a RAM-backed folder only (refused
    /// elsewhere); the file is overwritten and removed when the editor exits
    #[arg(long, conflicts_with = "text_file")]
    editor: bool,

    #[command(flatten)]
    content: ContentArgs,
}

/// The statement (when given) and the attachments, opened, and the attachments' total size.
pub type Inputs = (Option<Box<dyn Read>>, Vec<Attachment<'static>>, u64);

/// The flags `add` and `amend` share.
#[derive(Debug, clap::Args)]
pub struct ContentArgs {
    #[arg(long, value_name = "T")]
    pub title: Option<String>,

    #[arg(long, value_name = "NAME")]
    pub interviewer: Option<String>,

    /// The interview date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = InterviewDate::from_str)]
    pub date: Option<InterviewDate>,

    #[arg(long, value_name = "TEXT")]
    pub location: Option<String>,

    /// The interview's language, e.g. ug, en, zh
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,

    /// A tag; repeat for several
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,

    /// Purposes the witness consented to: archive,advocacy,public,un,court [default: none]
    #[arg(long, value_name = "PURPOSES", value_parser = parse_purposes)]
    pub consent: Option<BTreeSet<Purpose>>,

    /// How the witness may be identified in what is released [default: pseudonym]
    #[arg(long, value_name = "named|pseudonym|anonymous", value_parser = IdentityLevel::from_str)]
    pub identity_level: Option<IdentityLevel>,

    /// Identifying media the witness agreed to release [default: none]
    #[arg(long, value_name = "voice,face|none", value_parser = MediaConsent::from_str)]
    pub media_consent: Option<MediaConsent>,

    /// The witness's real name, contact and aliases, from a TOML file: `name = "…"`,
    /// `contact = "…"`, `aliases = ["…", …]`; sealed apart, shown only with `show --identity`.
    /// Put it on a RAM-backed folder (e.g. /dev/shm) and remove it afterwards
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,

    /// The fields above from a TOML file (`title = "…"`, `tags = ["…"]`, `consent = "court"`,
    /// `identity_level`, `media_consent`, …), so that none is typed on the command line; a
    /// flag given as well wins
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// Refused: a name on the command line stays in the shell's history (use --identity-file)
    #[arg(long, hide = true, num_args = 1.., action = clap::ArgAction::Append,
          value_parser = clap::value_parser!(OsString))]
    pub witness_name: Vec<OsString>,

    /// Refused, like --witness-name (use --identity-file)
    #[arg(long, hide = true, num_args = 1.., action = clap::ArgAction::Append,
          value_parser = clap::value_parser!(OsString))]
    pub witness_contact: Vec<OsString>,

    /// The statement, as UTF-8 text; `-` reads standard input
    #[arg(long, value_name = "FILE|-")]
    pub text_file: Option<PathBuf>,

    /// A file to attach (audio, video, photo, document); repeat for several
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<PathBuf>,
}

impl ContentArgs {
    /// Refuses the witness's identity given as a flag, and fills the fields not given as flags
    /// from `--metadata-file`; `witness` is the command's own pseudonym flag. Runs first, so a
    /// refusal stores nothing and asks for nothing.
    pub fn settle(&mut self, witness: &mut Option<String>) -> Result<(), CliError> {
        if !self.witness_name.is_empty() {
            return Err(fields::refuse_identity_flag("--witness-name"));
        }
        if !self.witness_contact.is_empty() {
            return Err(fields::refuse_identity_flag("--witness-contact"));
        }
        // Dropped at once: a refusal must not keep the value around either.
        self.witness_name.clear();
        self.witness_contact.clear();
        let Some(path) = &self.metadata_file else {
            return Ok(());
        };
        let file = fields::read_metadata(path)?;
        // A flag on the command line wins over the file.
        fn fill<T>(flag: &mut Option<T>, from_file: Option<T>) {
            if flag.is_none() {
                *flag = from_file;
            }
        }
        fill(witness, file.witness);
        fill(&mut self.title, file.title);
        fill(&mut self.interviewer, file.interviewer);
        fill(&mut self.date, file.date);
        fill(&mut self.location, file.location);
        fill(&mut self.language, file.language);
        fill(&mut self.consent, file.consent);
        fill(&mut self.identity_level, file.identity_level);
        fill(&mut self.media_consent, file.media_consent);
        if self.tags.is_empty() {
            self.tags = file.tags.unwrap_or_default();
        }
        Ok(())
    }

    /// Reads `--identity-file`, when given.
    pub fn identity(&self) -> Result<Option<fields::IdentityFile>, CliError> {
        self.identity_file
            .as_deref()
            .map(fields::read_identity)
            .transpose()
    }

    /// Opens the statement and every attachment, before any passphrase is asked for, so a
    /// typo fails fast.
    pub fn open_inputs(&self) -> Result<Inputs, CliError> {
        let statement: Option<Box<dyn Read>> = match &self.text_file {
            None => None,
            Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdin().lock())),
            Some(p) => Some(Box::new(open_input(p, "the statement file")?)),
        };
        let mut attachments = Vec::with_capacity(self.attach.len());
        let mut bytes = 0;
        for (i, path) in self.attach.iter().enumerate() {
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
            let file = open_input(path, &what)?;
            bytes += file.metadata().map_or(0, |m| m.len());
            attachments.push(Attachment {
                name,
                reader: Box::new(file),
            });
        }
        Ok((statement, attachments, bytes))
    }
}

pub fn run(ctx: &Context, mut args: Args) -> Result<(), CliError> {
    // On a terminal, with no statement file, tvault asks for what is missing and takes the
    // statement as typed; it never goes through a file.
    let guided =
        args.content.text_file.is_none() && !ctx.sources.no_input && std::io::stdin().is_terminal();
    args.content.settle(&mut args.witness)?;
    if args.editor && !guided {
        return Err(CliError::usage("--editor needs a terminal")
            .hint("give the statement with --text-file FILE or --text-file - instead"));
    }
    match &args.witness {
        Some(w) if w.trim().is_empty() => {
            return Err(CliError::usage("--witness needs a pseudonym"));
        }
        None if !guided => {
            return Err(CliError::usage("--witness PSEUDONYM is needed")
                .hint("give it, or run `tvault add` on a terminal to be asked for each field"));
        }
        _ => {}
    }
    let mut identity = args.content.identity()?.map(|mut file| WitnessIdentity {
        name: file.name.take(),
        contact: file.contact.take(),
        aliases: file.aliases.take().unwrap_or_default(),
    });
    let (mut statement, mut attachments, bytes) = args.content.open_inputs()?;
    let mut vault = ctx.unlock()?;
    if guided {
        let mut tty = ctx.sources.terminal()?;
        if args.witness.is_none() {
            ask_fields(&mut tty, &mut args)?;
        }
        if identity.is_none() {
            identity = Some(ask_identity(&mut tty)?);
        }
        let text = if args.editor {
            let text = super::editor::edit(tvault::vault::STATEMENT_LIMIT)?;
            // An editor that returned at once (one that forks to the background) saved nothing.
            if text.is_empty()
                && !tty
                    .ask_line(
                        "The editor saved nothing. Store the record without a statement? [y/N] ",
                    )?
                    .trim()
                    .eq_ignore_ascii_case("y")
            {
                return Err(CliError::new(Exit::Failure, "nothing was stored").hint(
                    "an editor that opens a window must wait for it to close: e.g. EDITOR=\"code --wait\"",
                ));
            }
            text
        } else {
            tty.say(
                "\nType the statement. End it with a line holding only a dot (.), or Ctrl-D.\n\
                 End at once for none. Nothing is written anywhere until it is encrypted.\n",
            )?;
            tty.read_text(tvault::vault::STATEMENT_LIMIT)?
        };
        // An editor that saved nothing was asked about just above.
        if vault.is_kit() && !(args.editor && text.is_empty()) {
            review_on_kit(&mut tty, &text)?;
        }
        if !text.is_empty() {
            statement = Some(Box::new(std::io::Cursor::new(text)));
        }
    }
    let c = args.content;
    let bar = Bar::for_attachments(ctx, &mut attachments, bytes);
    let intake = Intake {
        meta: Metadata {
            witness: args
                .witness
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            title: c.title,
            interviewer: c.interviewer,
            date: c.date,
            location: c.location,
            language: c.language,
            tags: c.tags,
            consent: Consent {
                purposes: c.consent.unwrap_or_default(),
                identity_level: c.identity_level.unwrap_or_default(),
                media: c.media_consent.unwrap_or_default(),
            },
        },
        identity: identity.unwrap_or_default(),
        statement,
        attachments,
    };
    let count = intake.attachments.len();
    let id = vault.add(intake)?;
    drop(bar);
    if ctx.json {
        print_json(&serde_json::json!({ "id": id, "version": 1 }))
    } else {
        print(&format!("{id}\n"))?;
        ctx.say(&format!("Stored record {id} with {count} attachment(s)."));
        Ok(())
    }
}

/// Asks, on the terminal, for the witness and the interview's details not given as flags.
fn ask_fields(tty: &mut Terminal, args: &mut Args) -> Result<(), CliError> {
    tty.say("A new testimony. Press Enter to leave an optional field empty.\n")?;
    let optional = |tty: &mut Terminal, question: &str| -> Result<Option<String>, CliError> {
        let answer = tty.ask_line(question)?;
        Ok(Some(answer.trim().to_owned()).filter(|a| !a.is_empty()))
    };
    let witness = loop {
        if let Some(w) = optional(tty, "Witness pseudonym (how the record is listed): ")? {
            break w;
        }
        tty.say("A pseudonym is needed; it is how you will find the record again.\n")?;
    };
    args.witness = Some(witness);
    let c = &mut args.content;
    if c.title.is_none() {
        c.title = optional(tty, "Title: ")?;
    }
    if c.date.is_none() {
        c.date = loop {
            match optional(tty, "Interview date (YYYY-MM-DD): ")? {
                None => break None,
                Some(d) => match InterviewDate::from_str(&d) {
                    Ok(date) => break Some(date),
                    Err(e) => tty.say(&format!("{e}\n"))?,
                },
            }
        };
    }
    if c.location.is_none() {
        c.location = optional(tty, "Location: ")?;
    }
    if c.language.is_none() {
        c.language = optional(tty, "Language (e.g. ug, en): ")?;
    }
    if c.consent.is_none() {
        c.consent = loop {
            let answer = optional(
                tty,
                "Consent, the purposes the witness agreed to (archive,advocacy,public,un,court): ",
            )?;
            match answer.as_deref().map(parse_purposes) {
                None => {
                    tty.say("No consent recorded: the record cannot be exported until `tvault amend --consent`.\n")?;
                    break None;
                }
                Some(Ok(p)) => break Some(p),
                Some(Err(e)) => tty.say(&format!("{e}\n"))?,
            }
        };
    }
    Ok(())
}

/// On a field kit, shows the statement as typed and asks before sealing it: once sealed to
/// headquarters the kit can neither show nor amend it. Shown on the terminal only, escaped;
/// anything but `y` stores nothing.
fn review_on_kit(tty: &mut Terminal, text: &[u8]) -> Result<(), CliError> {
    let text = std::str::from_utf8(text).map_err(|_| tvault::Error::StatementNotUtf8)?;
    if text.is_empty() {
        tty.say("\nNo statement was typed: the record will have none.\n")?;
    } else {
        tty.say("\nThe statement as typed, to review before it is sealed:\n\n")?;
        match escape(text, true) {
            Cow::Borrowed(text) => tty.say(text)?,
            Cow::Owned(escaped) => tty.say(&Zeroizing::new(escaped))?,
        }
        tty.say(if text.ends_with('\n') { "\n" } else { "\n\n" })?;
    }
    tty.say(
        "Once sealed, this kit cannot show it again: only headquarters can read it, and it \
         cannot be amended here.\n",
    )?;
    if tty
        .ask_line("Seal and store it? [y/N] ")?
        .trim()
        .eq_ignore_ascii_case("y")
    {
        return Ok(());
    }
    Err(CliError::new(Exit::Failure, "nothing was stored")
        .hint("run `tvault add` again to record the testimony"))
}

/// Asks, on the terminal, for the witness's real identity; each answer may be left empty.
fn ask_identity(tty: &mut Terminal) -> Result<WitnessIdentity, CliError> {
    tty.say(
        "The witness's real identity is sealed apart from the record and shown only with \
         `tvault show --identity`. Press Enter to leave a field empty.\n",
    )?;
    let optional = |tty: &mut Terminal, question: &str| -> Result<Option<String>, CliError> {
        let answer = tty.ask_private_line(question)?;
        Ok((!answer.is_empty()).then(|| answer.as_str().to_owned()))
    };
    let name = optional(tty, "Real name: ")?;
    let contact = optional(tty, "Contact: ")?;
    let aliases = tty.ask_private_line("Other names the statement may use, comma-separated: ")?;
    Ok(WitnessIdentity {
        name,
        contact,
        aliases: aliases
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Opens an input file, refusing folders. The message names the argument, not the path: a
/// file name can itself say who a witness is.
pub(super) fn open_input(path: &Path, what: &str) -> Result<File, CliError> {
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
