//! Derived items in an import: each one a bundle carries is checked against the manifest and
//! its intake hash, and stored with the lineage the bundle gave it. A source the bundle
//! carried too is referenced by its place here; one it withheld is named, with the steps
//! above it, and never more (the bundle holds nothing more of it).

use crate::bundle::{DERIVED_DIR, LineageNode, ManifestRecord};
use crate::record::{Derived, DerivedKind, DerivedSource, LineageStep, PartInfo, SourceKind};

type Checked<T> = std::result::Result<T, &'static str>;

/// The derived files are exactly the ones the manifest names, the lineage file says what the
/// manifest says, and each file matches one of the record's intake hashes (but one the
/// export's automatic redaction changed).
pub(super) fn check_derived_hashes(
    rec: &ManifestRecord,
    derived: &[PartInfo],
    lineage_file: Option<&[LineageNode]>,
) -> Checked<()> {
    let names: Vec<&str> = derived.iter().filter_map(|d| d.name.as_deref()).collect();
    if names != rec.derived.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err("the derived items differ from the manifest's list");
    }
    if lineage_file.unwrap_or_default() != rec.lineage.as_slice() {
        return Err("lineage.json disagrees with the manifest");
    }
    let released: Vec<&str> = rec
        .lineage
        .iter()
        .filter(|n| n.released)
        .map(|n| n.name.as_str())
        .collect();
    if released.len() != names.len() || names.iter().any(|n| !released.contains(n)) {
        return Err("the lineage does not describe the derived items carried");
    }
    for d in derived {
        let name = d.name.as_deref().unwrap_or_default();
        let changed = rec.redaction.as_ref().is_some_and(|r| {
            r.changed.iter().any(|c| {
                c.strip_prefix(DERIVED_DIR)
                    .and_then(|c| c.strip_prefix('/'))
                    == Some(name)
            })
        });
        if !changed
            && !rec
                .intake_sha256
                .iter()
                .any(|(part, sha)| *part != 0 && *sha == d.sha256)
        {
            return Err("a derived item does not match any intake hash");
        }
    }
    Ok(())
}

/// Gives each derived item (and each derived source that travelled with it) back the name it
/// was stored under, where the bundle carried it under a safer one
/// (`recorded_derived_names`): a plain name, unique among the record's attachments and
/// derived items, for a derived item the bundle delivered.
pub(super) fn restore_derived_names(
    rec: &ManifestRecord,
    attachments: &[PartInfo],
    derived: &mut [Derived],
) -> Checked<()> {
    for (delivered, recorded) in &rec.recorded_derived_names {
        if !super::import::plain_recorded_name(recorded) {
            return Err("a recorded derived item's name is not a plain file name");
        }
        if !derived.iter().any(|d| d.name() == delivered) {
            return Err("a recorded derived item's name is for an item the bundle lacks");
        }
    }
    let restore = |name: &mut Option<String>| {
        if let Some(recorded) = name
            .as_deref()
            .and_then(|n| rec.recorded_derived_names.get(n))
        {
            *name = Some(recorded.clone());
        }
    };
    for d in derived.iter_mut() {
        restore(&mut d.part.name);
        if d.source.what == SourceKind::Derived && d.source.part.is_some() {
            restore(&mut d.source.name);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in attachments
        .iter()
        .map(|a| a.name.as_deref())
        .chain(derived.iter().map(|d| Some(d.name())))
    {
        if !seen.insert(name) {
            return Err("two items of a record have the same recorded name");
        }
    }
    Ok(())
}

/// The derived items of an imported version, from the stored parts (`derived`, in the
/// bundle's order) and the manifest's lineage. `attachments` carry their recorded names.
pub(super) fn derived_items(
    rec: &ManifestRecord,
    statement: Option<&PartInfo>,
    attachments: &[PartInfo],
    derived: Vec<PartInfo>,
    version: u32,
) -> Checked<Vec<Derived>> {
    let kind = |k: &str| {
        k.parse::<DerivedKind>()
            .map_err(|_| "a lineage kind is unknown")
    };
    let what = |s: &str| match s {
        "statement" => Ok(SourceKind::Statement),
        "attachment" => Ok(SourceKind::Attachment),
        "derived" => Ok(SourceKind::Derived),
        _ => Err("a lineage source is unknown"),
    };
    let mut out: Vec<Derived> = Vec::new();
    for node in rec.lineage.iter().filter(|n| n.released) {
        let part = derived
            .iter()
            .find(|d| d.name.as_deref() == Some(node.name.as_str()))
            .ok_or("the lineage names a derived item the bundle lacks")?
            .clone();
        let source_what = what(&node.source)?;
        let held = |p: &PartInfo| DerivedSource {
            what: source_what,
            name: p.name.clone(),
            part: Some(p.part),
            stored_at: Some(version),
            sha256: Some(p.sha256.clone()),
        };
        let name = node.source_name.as_deref();
        let (source, upstream) = if node.source_released {
            let p = match source_what {
                SourceKind::Statement => statement,
                SourceKind::Attachment => {
                    // Attachments carry their recorded names again.
                    let recorded =
                        name.map(|n| rec.recorded_names.get(n).map_or(n, String::as_str));
                    attachments.iter().find(|a| a.name.as_deref() == recorded)
                }
                SourceKind::Derived => out.iter().find(|d| Some(d.name()) == name).map(|d| &d.part),
            };
            (
                held(p.ok_or("a lineage source the bundle carries is missing")?),
                Vec::new(),
            )
        } else {
            let source = DerivedSource {
                what: source_what,
                name: name.map(str::to_owned),
                part: None,
                stored_at: None,
                sha256: None,
            };
            (source, upstream(rec, node)?)
        };
        out.push(Derived {
            part,
            kind: kind(&node.kind)?,
            source,
            language: node.language.clone(),
            method: node.method.clone(),
            note: None,
            operator: node.operator.clone(),
            created_at: node.created_at.clone(),
            stale: false,
            masks: node.masks,
            upstream,
        });
    }
    Ok(out)
}

/// The withheld derived items above `node`, nearest first, up to the first source the
/// bundle carries or an original.
fn upstream(rec: &ManifestRecord, node: &LineageNode) -> Checked<Vec<LineageStep>> {
    let mut steps = Vec::new();
    let mut at = node;
    while at.source == "derived" && !at.source_released {
        let up = rec
            .lineage
            .iter()
            .find(|n| Some(&n.name) == at.source_name.as_ref() && !n.released)
            .ok_or("the lineage names a source it does not describe")?;
        if steps.len() > rec.lineage.len() {
            return Err("the lineage goes round in a circle");
        }
        steps.push(LineageStep {
            name: up.name.clone(),
            kind: up.kind.parse().map_err(|_| "a lineage kind is unknown")?,
            language: up.language.clone(),
            method: up.method.clone(),
            operator: up.operator.clone(),
            created_at: up.created_at.clone(),
            source: match up.source.as_str() {
                "statement" => SourceKind::Statement,
                "attachment" => SourceKind::Attachment,
                _ => SourceKind::Derived,
            },
            source_name: up.source_name.clone(),
        });
        at = up;
    }
    Ok(steps)
}
