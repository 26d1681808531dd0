//! `tvault list`: one line per record.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;
use tvault::RecordId;
use tvault::digest::SummaryRef;
use tvault::record::{InterviewDate, Metadata};
use tvault::vault::{Filter, RecordSummary};
use zeroize::{Zeroize, Zeroizing};

use super::error::CliError;
use super::terminal::escape;
use super::{Context, human_size, print, print_json};

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
    let (m, s) = (&r.summary.meta, &r.summary);
    let date = m.date.as_ref().map(InterviewDate::as_str);
    line(
        out,
        &r.id,
        date,
        &m.witness,
        m.title.as_deref(),
        s.attachments,
        s.size,
    );
}

/// [`summary_line`] of a record read in place from the listing digest.
fn summary_ref_line(out: &mut String, r: &SummaryRef<'_>) {
    line(
        out,
        &r.id,
        r.date,
        r.witness,
        r.title,
        r.attachments,
        r.size,
    );
}

fn line(
    out: &mut String,
    id: &RecordId,
    date: Option<&str>,
    witness: &str,
    title: Option<&str>,
    attachments: u32,
    size: u64,
) {
    // By hand rather than through `write!`, which costs more than reading the record: the
    // same text as `"{id}  {date:<10}  {witness:<16}  {title:<32}  …"`.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in &id.as_bytes()[..6] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    let padded = |out: &mut String, text: &str, width: usize| {
        out.push_str("  ");
        out.push_str(text);
        // `{:<width}` pads to a number of characters.
        let len = if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        };
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
    };
    padded(out, date.unwrap_or("-"), 10);
    padded(out, &escape(witness, false), 16);
    padded(out, &escape(title.unwrap_or("-"), false), 32);
    let _ = writeln!(
        out,
        "  {:>3} {}  {:>9}",
        attachments,
        if attachments == 1 { "file " } else { "files" },
        human_size(size),
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
    let filter = Filter {
        tag: args.tag,
        witness: args.witness,
        since: args.since,
        until: args.until,
    };
    // Each record is reduced to its line (or JSON document) on every core while the digest
    // is read, and written as soon as the listing is in order: memory holds one short line
    // per record, never every record's metadata. The first lines come from the buckets'
    // fronts and are written at once; reading the rest stops when the reader has gone
    // (`list | head`).
    let mut out = Output::new();
    let mut first = true;
    let shown = if ctx.json {
        out.push(b"[");
        vault.list_each(
            &filter,
            |r| {
                let r = RecordSummary::of(r);
                let doc = serde_json::to_value(RecordJson::new(&r)).expect("records serialise");
                let text = Zeroizing::new(serde_json::to_string_pretty(&doc).expect("serialises"));
                compact(&text.replace('\n', "\n  "))
            },
            |doc| {
                let Some(doc) = doc else { return out.write() };
                out.push(if first { b"\n  " } else { b",\n  " });
                first = false;
                out.push(doc.as_bytes());
                out.spill()
            },
            stdout_gone,
        )?
    } else {
        vault.list_each(
            &filter,
            |r| {
                let mut line = Zeroizing::new(String::with_capacity(160));
                summary_ref_line(&mut line, r);
                compact(&line)
            },
            |line| {
                let Some(line) = line else { return out.write() };
                out.push(line.as_bytes());
                out.spill()
            },
            stdout_gone,
        )?
    };
    // Shredded records have no metadata left to filter on: shown in the full listing only.
    let tombstones = if unfiltered {
        vault.tombstones()?
    } else {
        Vec::new()
    };
    if ctx.json {
        for t in &tombstones {
            let doc = serde_json::json!({ "id": t.record, "shredded": t });
            let text = serde_json::to_string_pretty(&doc).expect("serialises");
            out.push(if first { b"\n  " } else { b",\n  " });
            first = false;
            out.push(text.replace('\n', "\n  ").as_bytes());
        }
        out.push(if first { b"]\n" } else { b"\n]\n" });
        return out.finish();
    }
    for t in &tombstones {
        out.push(
            format!(
                "{}  shredded {} by {}: {}\n",
                &t.record[..12],
                t.shredded_at,
                escape(&t.operator, false),
                escape(&t.reason, false)
            )
            .as_bytes(),
        );
    }
    out.finish()?;
    ctx.say(&format!("{shown} record(s), {} shredded", tombstones.len()));
    Ok(())
}

/// Whether standard output is a pipe whose reader has closed it: the listing has no one left
/// to show the rest to.
fn stdout_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = rustix::stdio::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok_and(|_| fds[0].revents().contains(PollFlags::ERR))
}

/// `text` in a heap block of its own size (a listing holds one per record).
fn compact(text: &str) -> Zeroizing<Box<str>> {
    Zeroizing::new(Box::from(text))
}

/// Standard output through a buffer that is zeroized, written out every 64 KiB.
struct Output(Zeroizing<Vec<u8>>);

impl Output {
    const SPILL: usize = 64 * 1024;

    fn new() -> Self {
        Output(Zeroizing::new(Vec::with_capacity(Self::SPILL + 4096)))
    }

    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Writes the buffer once it is full.
    fn spill(&mut self) -> std::io::Result<()> {
        if self.0.len() >= Self::SPILL {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&self.0)?;
        stdout.flush()?;
        self.0.zeroize();
        Ok(())
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.write().map_err(CliError::stdout)
    }
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
