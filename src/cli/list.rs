//! `tvault list`: one line per record.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;
use tvault::RecordId;
use tvault::record::{InterviewDate, Metadata};
use tvault::vault::{Filter, RecordSummary};
use zeroize::Zeroizing;

use super::error::CliError;
use super::terminal::escape;
use super::{Context, human_size, on_all_cores, print, print_json};

/// List records: id, interview date, witness pseudonym, title, attachments, size
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only records with this tag
    #[arg(long, value_name = "T")]
    tag: Option<String>,

    /// Only records of this witness pseudonym
    #[arg(long, value_name = "W")]
    witness: Option<String>,

    /// Only interviews on or after this date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = InterviewDate::from_str)]
    since: Option<InterviewDate>,

    /// Only interviews on or before this date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = InterviewDate::from_str)]
    until: Option<InterviewDate>,
}

/// A record as `list --json` and `search --json` show it: all metadata but the identity.
#[derive(Serialize)]
pub struct RecordJson<'a> {
    id: RecordId,
    version: u32,
    #[serde(flatten)]
    meta: &'a Metadata,
    created_at: &'a str,
    operator: &'a str,
    has_statement: bool,
    attachments: u32,
    size: u64,
}

impl<'a> RecordJson<'a> {
    pub fn new(r: &'a RecordSummary) -> Self {
        RecordJson {
            id: r.id,
            version: r.version,
            meta: &r.summary.meta,
            created_at: &r.summary.created_at,
            operator: &r.summary.operator,
            has_statement: r.summary.has_statement,
            attachments: r.summary.attachments,
            size: r.summary.size,
        }
    }
}

/// Appends the short form of a record, one line of a listing, to `out`.
pub fn summary_line(out: &mut String, r: &RecordSummary) {
    let m = &r.summary.meta;
    for b in &r.id.as_bytes()[..6] {
        let _ = write!(out, "{b:02x}");
    }
    let _ = writeln!(
        out,
        "  {:<10}  {:<16}  {:<32}  {:>3} {}  {:>9}",
        m.date.as_ref().map_or("-", InterviewDate::as_str),
        escape(&m.witness, false),
        escape(m.title.as_deref().unwrap_or("-"), false),
        r.summary.attachments,
        if r.summary.attachments == 1 {
            "file "
        } else {
            "files"
        },
        human_size(r.summary.size),
    );
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let unfiltered = args.tag.is_none()
        && args.witness.is_none()
        && args.since.is_none()
        && args.until.is_none();
    let mut vault = ctx.unlock()?;
    if vault.is_kit() {
        if !unfiltered {
            return Err(tvault::Error::FieldKit.into());
        }
        return kit_list(ctx, &mut vault);
    }
    let records = vault.list(&Filter {
        tag: args.tag,
        witness: args.witness,
        since: args.since,
        until: args.until,
    })?;
    // Shredded records have no metadata left to filter on: shown in the full listing only.
    let tombstones = if unfiltered {
        vault.tombstones()?
    } else {
        Vec::new()
    };
    if ctx.json {
        let mut docs: Vec<serde_json::Value> = records
            .iter()
            .map(|r| serde_json::to_value(RecordJson::new(r)).expect("records serialise"))
            .collect();
        docs.extend(
            tombstones
                .iter()
                .map(|t| serde_json::json!({ "id": t.record, "shredded": t })),
        );
        return print_json(&docs);
    }
    let mut pieces = on_all_cores(&records, |rs| {
        let mut text = Zeroizing::new(String::with_capacity(rs.len() * 110));
        for r in rs {
            summary_line(&mut text, r);
        }
        text
    });
    let mut text = Zeroizing::new(String::new());
    for t in &tombstones {
        text.push_str(&format!(
            "{}  shredded {} by {}: {}\n",
            &t.record[..12],
            t.shredded_at,
            escape(&t.operator, false),
            escape(&t.reason, false)
        ));
    }
    pieces.push(text);
    for p in &pieces {
        print(p)?;
    }
    ctx.say(&format!(
        "{} record(s), {} shredded",
        records.len(),
        tombstones.len()
    ));
    release(records);
    Ok(())
}

/// Zeroizes every record in place, on every core, and leaves their memory to go with the
/// process, which ends now: a hundred thousand frees would take about as long as the listing.
fn release(mut records: Vec<RecordSummary>) {
    use zeroize::Zeroize;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let piece = records.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        for chunk in records.chunks_mut(piece) {
            scope.spawn(move || chunk.iter_mut().for_each(|r| r.summary.zeroize()));
        }
    });
    std::mem::forget(records);
}

/// `list` on a field kit: only what the kit can know of each record.
fn kit_list(ctx: &Context, vault: &mut tvault::Vault) -> Result<(), CliError> {
    let records = vault.kit_records()?;
    if ctx.json {
        return print_json(&records);
    }
    let mut text = String::new();
    for r in &records {
        let _ = writeln!(
            text,
            "{}  {}  {:>9}  {}",
            r.id,
            r.recorded_at,
            human_size(r.stored_size),
            if r.sent {
                "sent, awaiting receipt"
            } else {
                "not sent"
            }
        );
    }
    if records.is_empty() {
        ctx.say(
            "This field kit holds no records: everything recorded was confirmed by headquarters.",
        );
    } else {
        ctx.say("This is a field kit: what it recorded is sealed to headquarters and cannot be read here.");
    }
    print(&text)
}
