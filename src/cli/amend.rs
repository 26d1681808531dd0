//! `tvault amend`: a new version of a record; earlier versions stay readable.

use tvault::RecordIdPrefix;
use tvault::vault::{Amendment, MetaEdit};

use super::add::ContentArgs;
use super::error::CliError;
use super::progress::Bar;
use super::{Context, print, print_json};

/// Make a new version of a record: given fields and parts replace, the rest carries over
///
/// Records are never edited in place. An identity file replaces the keys it sets. `--tag` replaces all tags; `--attach` adds a file, or
/// replaces the attachment of the same name.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// A new pseudonym for the witness
    #[arg(long, value_name = "PSEUDONYM")]
    witness: Option<String>,

    /// Leave this attachment out of the new version (earlier versions keep it); repeatable
    #[arg(long = "remove-attachment", value_name = "NAME")]
    remove: Vec<String>,

    #[command(flatten)]
    content: ContentArgs,
}

pub fn run(ctx: &Context, mut args: Args) -> Result<(), CliError> {
    args.content.settle(&mut args.witness)?;
    if args.witness.as_deref().is_some_and(|w| w.trim().is_empty()) {
        return Err(CliError::usage("--witness needs a pseudonym"));
    }
    let mut identity = args.content.identity()?.unwrap_or_default();
    let (statement, mut attachments, bytes) = args.content.open_inputs()?;
    let c = args.content;
    let mut vault = ctx.unlock()?;
    let bar = Bar::for_attachments(ctx, &mut attachments, bytes);
    let change = Amendment {
        meta: MetaEdit {
            witness: args.witness.map(|w| w.trim().to_owned()),
            title: c.title,
            interviewer: c.interviewer,
            date: c.date,
            location: c.location,
            language: c.language,
            tags: (!c.tags.is_empty()).then_some(c.tags),
            purposes: c.consent,
            identity_level: c.identity_level,
            media: c.media_consent,
        },
        witness_name: identity.name.take(),
        witness_contact: identity.contact.take(),
        witness_aliases: identity.aliases.take(),
        statement,
        attachments,
        remove: args.remove,
    };
    let (id, version) = vault.amend(&args.id, change)?;
    drop(bar);
    if ctx.json {
        print_json(&serde_json::json!({ "id": id, "version": version }))
    } else {
        print(&format!("{id} {version}\n"))?;
        ctx.say(&format!("Stored version {version} of record {id}."));
        Ok(())
    }
}
