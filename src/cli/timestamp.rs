//! `tvault audit timestamp request|add` and `tvault audit timestamps`: RFC 3161 trusted
//! timestamps of the custody log. The request is a file to carry to any authority (by any
//! channel: tvault itself never goes online); the answer is a file brought back.

use std::path::{Path, PathBuf};

use tvault::Timestamp;
use tvault::audit::timestamp::parse_certificates;

use super::error::{CliError, Exit};
use super::terminal::escape;
use super::{Context, print, print_json};

/// Trusted timestamps (RFC 3161) of the custody log
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a timestamp request (.tsq) for the current signed checkpoint: only its SHA-256,
    /// a random nonce and a request for the authority's certificate; nothing else about the
    /// vault. Send it to any RFC 3161 authority, then `add` the response
    Request {
        /// The new request file (conventionally FILE.tsq)
        #[arg(short, long, value_name = "FILE.tsq")]
        output: PathBuf,
    },
    /// Check an authority's response (.tsr) against a pending request, its signature and
    /// the authority's certificate chain as at the time in the token, and store it
    Add {
        /// The response, as the authority sent it
        #[arg(value_name = "FILE.tsr")]
        response: PathBuf,
        /// The authority's certificate (PEM or DER), when the response does not carry it;
        /// PEM may hold intermediates too
        #[arg(long, value_name = "FILE")]
        tsa_cert: Option<PathBuf>,
        /// The authority's trusted root certificate(s), PEM. Without it, those the newest
        /// stored timestamp was checked against
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| {
        CliError::new(Exit::Io, format!("cannot read {}", path.display())).with_source(&e)
    })
}

fn certificates(path: &Path) -> Result<Vec<x509_cert::Certificate>, CliError> {
    parse_certificates(&read(path)?).map_err(|e| {
        CliError::usage(format!(
            "{} holds no certificate tvault can read: {}",
            path.display(),
            escape(&e, false)
        ))
    })
}

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Request { output } => {
            // Claim the name first, so that a taken name logs nothing.
            let mut file = tvault::fs::create_new_file(&output).map_err(|e| {
                CliError::new(Exit::Io, format!("cannot write {}", output.display()))
                    .with_source(&e)
                    .hint("tvault never replaces a file; choose a new name")
            })?;
            let made = (|| {
                let mut vault = ctx.unlock()?;
                let request = vault.timestamp_request()?;
                use std::io::Write;
                file.write_all(&request.der)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| {
                        CliError::new(Exit::Io, format!("cannot write {}", output.display()))
                            .with_source(&e)
                    })?;
                Ok::<_, CliError>(request)
            })();
            let request = match made {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_file(&output);
                    return Err(e);
                }
            };
            if ctx.json {
                return print_json(&serde_json::json!({
                    "request": request.id,
                    "tree_size": request.tree_size,
                    "path": output,
                }));
            }
            ctx.say(&format!(
                "Wrote {} for the checkpoint of {} events. Send it to an RFC 3161 authority \
                 (for example: curl -H 'Content-Type: application/timestamp-query' \
                 --data-binary @{} https://freetsa.org/tsr -o FILE.tsr), then run \
                 `tvault audit timestamp add FILE.tsr --ca-file ROOT.pem`.",
                output.display(),
                request.tree_size,
                output.display()
            ));
            Ok(())
        }
        Command::Add {
            response,
            tsa_cert,
            ca_file,
        } => {
            let bytes = read(&response)?;
            let tsa = tsa_cert.as_deref().map(certificates).transpose()?;
            let ca = ca_file.as_deref().map(certificates).transpose()?;
            let mut vault = ctx.unlock()?;
            let t = vault.timestamp_add(&bytes, tsa.as_deref().unwrap_or(&[]), ca.as_deref())?;
            if ctx.json {
                return print_json(&t);
            }
            print(&format!(
                "ok: the log of {} events existed by {} (authority: {})\n",
                t.tree_size,
                t.time,
                escape(&t.authority, false)
            ))?;
            if t.certificate_expired {
                ctx.say(&format!(
                    "note: the authority's certificate has since expired ({}); it was valid at \
                     the token's time, which is when it is checked.",
                    t.certificate_not_after
                ));
            }
            Ok(())
        }
    }
}

/// `tvault audit timestamps`.
pub fn list(ctx: &Context) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let all: Vec<Timestamp> = vault.timestamps()?;
    if ctx.json {
        return print_json(&all);
    }
    if all.is_empty() {
        ctx.say("No trusted timestamps yet: `tvault audit timestamp request -o FILE.tsq` makes a request.");
        return Ok(());
    }
    let mut text = String::new();
    for t in &all {
        text += &format!(
            "{}  log size {:<6}  {}{}\n",
            t.time,
            t.tree_size,
            escape(&t.authority, false),
            if t.certificate_expired {
                format!("  (certificate expired since, {})", t.certificate_not_after)
            } else {
                String::new()
            }
        );
    }
    print(&text)
}
