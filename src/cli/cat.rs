//! `tvault cat`: stream one attachment's plaintext, for a player or a transcriber's tool.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use tvault::RecordIdPrefix;

use super::Context;
use super::error::{CliError, Exit};

/// Write one attachment's content to stdout (never to a terminal) or to a new file
///
/// Each chunk is written only after it authenticates; a part that is truncated, altered or
/// does not match its intake hash stops with exit code 13.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,

    /// The attachment's name, as `show` lists it
    attachment: String,

    /// Read it from this earlier version (as `history` lists them)
    #[arg(long, value_name = "N")]
    version: Option<u32>,

    /// Write to this new file (0600) instead of stdout; an existing file is never replaced
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let Some(path) = &args.output else {
        if io::stdout().is_terminal() {
            return Err(CliError::usage("refusing to write an attachment to the terminal")
                .hint("pipe it to a program (`tvault cat ID NAME | mpv -`) or write a file with -o FILE"));
        }
        let mut vault = ctx.unlock()?;
        let mut out = io::stdout().lock();
        vault.cat(&args.id, args.version, &args.attachment, &mut out)?;
        return out.flush().map_err(CliError::stdout);
    };

    let mut vault = ctx.unlock()?;
    let file = tvault::fs::create_new_file(path).map_err(|e| {
        let err =
            CliError::new(Exit::Io, format!("cannot create {}", path.display())).with_source(&e);
        if e.kind() == io::ErrorKind::AlreadyExists {
            err.hint("tvault never replaces a file; choose a new name")
        } else {
            err
        }
    })?;
    // Written out while it is decrypted; the last of it is synced before success is said.
    let mut file = tvault::fs::SyncingWriter::new(file);
    let written = match vault.cat(&args.id, args.version, &args.attachment, &mut file) {
        Ok(_) => file.finish().map_err(|e| {
            CliError::new(Exit::Io, format!("cannot write {}", path.display())).with_source(&e)
        }),
        Err(e) => {
            drop(file);
            Err(e.into())
        }
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    if ctx.json {
        return super::print_json(&serde_json::json!({
            "path": path,
            "bytes": std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }));
    }
    ctx.say(&format!("Wrote {}.", path.display()));
    Ok(())
}
