//! Derived items in an export: what the policy is told of them, what their content is, and
//! the lineage a bundle carries for each one that leaves.
//!
//! The lineage names every step from a released item up to the original it was made from
//! (kinds, languages, methods, operators, times) and says which steps left; it carries no
//! hash and no size of anything, so nothing withheld can be confirmed from it.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

use crate::bundle::LineageNode;
use crate::disclosure::{Content, DerivedCandidate, Plan, RecordPlan, Request};
use crate::error::Result;
use crate::record::{SealedMeta, SourceKind};
use crate::store::VersionRow;

use super::Session;

/// The derived items of each chosen record as the policy sees them, with what each is by
/// its content (`contents`, by record and item; unknown where not given).
pub(super) fn derived_candidates<'a>(
    chosen: &'a [(VersionRow, SealedMeta)],
    contents: &[Vec<Content>],
) -> Vec<Vec<DerivedCandidate<'a>>> {
    chosen
        .iter()
        .enumerate()
        .map(|(i, (_, sealed))| {
            sealed
                .derived
                .iter()
                .enumerate()
                .map(|(j, d)| DerivedCandidate {
                    info: &d.part,
                    kind: d.kind,
                    source: d.source.what,
                    source_name: d.source.name.as_deref(),
                    stale: d.stale,
                    content: contents
                        .get(i)
                        .and_then(|c| c.get(j))
                        .copied()
                        .unwrap_or(Content::Unknown),
                })
                .collect()
        })
        .collect()
}

/// What each derived item is, by its content: only those of records that leave, of a kind
/// asked for and not stale (nothing else is decrypted).
pub(super) fn sniff_derived(
    s: &Session,
    conn: &Connection,
    chosen: &[(VersionRow, SealedMeta)],
    first: &Plan,
    policy: &Request,
) -> Result<Vec<Vec<Content>>> {
    chosen
        .iter()
        .zip(&first.records)
        .map(|((row, sealed), plan)| {
            sealed
                .derived
                .iter()
                .map(|d| {
                    if plan.leaves && !d.stale && policy.prefer.contains(&d.kind) {
                        s.sniff_attachment(conn, row, &d.part)
                    } else {
                        Ok(Content::Unknown)
                    }
                })
                .collect()
        })
        .collect()
}

/// The lineage of one record's released derived items: each of them, and every derived item
/// up the chain to the original, in stored order. `names` and `derived_names` are the
/// attachments' and derived items' names in the bundle, by part number.
pub(super) fn lineage(
    sealed: &SealedMeta,
    plan: &RecordPlan,
    names: &BTreeMap<u32, String>,
    derived_names: &BTreeMap<u32, String>,
) -> Vec<LineageNode> {
    let released: BTreeSet<u32> = plan.derived.iter().map(|d| d.info.part).collect();
    // The released items and their derived ancestors.
    let mut wanted: BTreeSet<u32> = released.clone();
    for d in sealed.derived.iter().rev() {
        if !wanted.contains(&d.part.part) || d.source.what != SourceKind::Derived {
            continue;
        }
        if let Some(source) = d
            .source
            .name
            .as_deref()
            .and_then(|n| sealed.derived_item(n))
        {
            wanted.insert(source.part.part);
        }
    }
    sealed
        .derived
        .iter()
        .filter(|d| wanted.contains(&d.part.part))
        .map(|d| {
            let source_part = match d.source.what {
                SourceKind::Statement => None,
                SourceKind::Attachment => sealed
                    .attachments
                    .iter()
                    .find(|a| a.name == d.source.name)
                    .map(|a| a.part),
                SourceKind::Derived => d
                    .source
                    .name
                    .as_deref()
                    .and_then(|n| sealed.derived_item(n))
                    .map(|s| s.part.part),
            };
            let (source_name, source_released) = match (d.source.what, source_part) {
                (SourceKind::Statement, _) => (None, plan.statement),
                (SourceKind::Attachment, Some(p)) => (
                    names.get(&p).cloned(),
                    plan.attachments.iter().any(|a| a.info.part == p),
                ),
                (SourceKind::Derived, Some(p)) => {
                    (derived_names.get(&p).cloned(), released.contains(&p))
                }
                (_, None) => (None, false),
            };
            LineageNode {
                name: derived_names.get(&d.part.part).cloned().unwrap_or_default(),
                kind: d.kind.as_str().into(),
                released: released.contains(&d.part.part),
                source: d.source.what.as_str().into(),
                source_name,
                source_released,
                language: d.language.clone(),
                method: d.method.clone(),
                masks: d.masks,
                operator: d.operator.clone(),
                created_at: d.created_at.clone(),
            }
        })
        .collect()
}
