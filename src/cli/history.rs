//! `tvault history`: every version of a record, with hashes, operators and times.

use serde::Serialize;
use tvault::RecordIdPrefix;
use tvault::record::PartInfo;

use super::error::CliError;
use super::terminal::escape;
use super::{Context, print, print_json};

/// List every version of a record with its parts' hashes, operator and time
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's id, or a unique prefix of it
    id: RecordIdPrefix,
}

#[derive(Serialize)]
struct PartJson<'a> {
    part: u32,
    name: Option<&'a str>,
    size: u64,
    sha256: &'a str,
    stored_sha256: Option<&'a str>,
    /// The version that stores the bytes, when carried over.
    carried_from: Option<u32>,
}

fn part_json(p: &PartInfo) -> PartJson<'_> {
    PartJson {
        part: p.part,
        name: p.name.as_deref(),
        size: p.size,
        sha256: &p.sha256,
        stored_sha256: p.stored_sha256.as_deref(),
        carried_from: p.stored_at,
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let versions = vault.history(&args.id)?;
    if ctx.json {
        let docs: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "id": v.id,
                    "version": v.version,
                    "created_at": v.sealed.created_at,
                    "operator": v.sealed.operator,
                    "statement": v.sealed.statement.as_ref().map(part_json),
                    "attachments": v.sealed.attachments.iter().map(part_json).collect::<Vec<_>>(),
                    "derived": v.sealed.derived.iter().map(|d| {
                        let mut doc = super::show::derived_json(d);
                        doc["carried_from"] = serde_json::json!(d.part.stored_at);
                        doc["stored_sha256"] = serde_json::json!(d.part.stored_sha256);
                        doc
                    }).collect::<Vec<_>>(),
                    "origin": super::show::origin_json(&v.sealed),
                })
            })
            .collect();
        return print_json(&docs);
    }
    let mut text = String::new();
    for v in &versions {
        text += &format!(
            "version {}  {}  by {}\n",
            v.version,
            v.sealed.created_at,
            escape(&v.sealed.operator, false)
        );
        if let Some(line) = super::show::origin_line(&v.sealed) {
            text += &format!("  {line}\n");
        }
        for p in v.sealed.parts() {
            let carried = p.stored_at.map_or_else(String::new, |from| {
                format!("  (unchanged since version {from})")
            });
            // A derived item says what it is, from what, and whether it went stale.
            let derived = v
                .sealed
                .derived
                .iter()
                .find(|d| std::ptr::eq(&d.part, p))
                .map_or_else(String::new, |d| {
                    format!(
                        "  ({} of {}{})",
                        d.kind.as_str(),
                        escape(d.source.name.as_deref().unwrap_or("the statement"), false),
                        if d.stale { "; STALE" } else { "" }
                    )
                });
            text += &format!(
                "  {:<24} sha256:{}{carried}{derived}\n",
                escape(p.name.as_deref().unwrap_or("statement"), false),
                p.sha256
            );
        }
    }
    print(&text)
}
