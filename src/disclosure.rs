//! The export policy: what leaves in an export, what is withheld, and why.
//!
//! Pure: plain data in (each record's consent, whether an identity is stored, its attachments
//! and what their content is, and what the operator asked for), a [`Plan`] out. No SQL, no
//! files, no keys; the vault decrypts what the plan says leaves and nothing else. The rules, in
//! order:
//!
//! 1. A record whose consent does not list the export's purpose is refused, unless the operator
//!    overrides consent (with a reason, checked and logged by the caller); the record is then
//!    listed as overridden.
//! 2. The witness's identity leaves only when asked for (`--include-identity`) and the consent's
//!    identity level is `named`. When it does not leave, the record's texts are redacted
//!    ([`RecordPlan::redact`]): the statement, every free-text field of its metadata and every
//!    text attachment have the real name, its parts and the aliases replaced by the pseudonym
//!    ([`Redactor`]). At identity level `anonymous`, the pseudonym, the interviewer and the
//!    location stay behind too: the record travels under its id and a label of this export
//!    (`witness-1`, …), which also replaces the pseudonym in its texts.
//! 3. An attachment is media when its content says so ([`Content`], sniffed by the vault):
//!    audio, video, images, and anything not recognised as a plain document (treated as
//!    showing a voice and a face). A name that says media ([`media_kind`]) makes a document
//!    media too; a name never makes media a document. Media leaves only when asked for
//!    (`--include-media`) and consent covers what it shows: audio needs voice, a photo needs
//!    face, video and anything unrecognised need both.
//! 4. Documents: a text attachment leaves redacted like the statement, or is withheld when it is
//!    larger than [`TEXT_REDACTION_LIMIT`] and needs redacting. A PDF or office document,
//!    which cannot be redacted automatically, is withheld when the record's texts need
//!    redacting, unless asked for (`--include-documents`).
//!
//! 5. Derived items (transcripts, translations, redactions, summaries) are working copies: one
//!    leaves only when its kind is asked for (`--prefer KIND`), when it is not stale, and
//!    when rules 3 and 4 let it go as they would an attachment of its content. A reviewed
//!    redaction that leaves takes the place of its source when that source is a text whose
//!    names consent withholds (the record's texts are redacted): the source is then withheld,
//!    and only the redaction leaves (rule 2's automatic redaction still runs over it).
//!
//! Everything withheld is listed, with why, in the manifest.

mod content;
mod redact;

use serde::{Deserialize, Serialize};

pub use content::{Content, SNIFF_LEN, TextCheck, sniff};
pub use redact::{Redactor, merge_spans, replace_spans};

use crate::error::{Error, Result};
use crate::record::{
    DerivedKind, IdentityLevel, Metadata, PartInfo, Purpose, RecordId, SourceKind,
};

/// The largest text attachment redacted: it is read whole into memory (a zeroizing buffer)
/// for that. A larger one that needs redacting is withheld and listed.
pub const TEXT_REDACTION_LIMIT: u64 = 16 * 1024 * 1024;

/// What the operator asked an export to release.
#[derive(Debug, Clone)]
pub struct Request {
    pub purpose: Purpose,
    pub include_identity: bool,
    pub include_media: bool,
    /// Release PDF and office documents of records whose texts are redacted, unredacted.
    pub include_documents: bool,
    /// Release records whose consent does not list the purpose.
    pub override_consent: bool,
    /// Leave out (and list) records whose consent does not list the purpose, instead of
    /// refusing the export.
    pub only_consented: bool,
    /// The kinds of derived items to release (rule 5).
    pub prefer: Vec<DerivedKind>,
}

/// One selected record, as the policy sees it.
pub struct Candidate<'a> {
    pub record: RecordId,
    /// The record's metadata (its consent, and whether it names an interviewer or place).
    pub meta: &'a Metadata,
    /// Whether a witness identity is stored with this version.
    pub has_identity: bool,
    pub attachments: &'a [PartInfo],
    /// What each attachment is, by its content, in the same order.
    pub contents: &'a [Content],
    /// The record's derived items, in their stored order.
    pub derived: &'a [DerivedCandidate<'a>],
}

/// A derived item, as the policy sees it.
pub struct DerivedCandidate<'a> {
    pub info: &'a PartInfo,
    pub kind: DerivedKind,
    /// What it was made from, and the source's name (none for the statement).
    pub source: SourceKind,
    pub source_name: Option<&'a str>,
    pub stale: bool,
    /// What it is, by its content (unknown when not looked at).
    pub content: Content,
}

/// An attachment that leaves.
#[derive(Debug, Clone)]
pub struct Leaving {
    pub info: PartInfo,
    /// It is text, to be redacted like the statement.
    pub redact: bool,
}

/// What leaves of one record.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// The witness identity leaves.
    pub identity: bool,
    /// The record's texts (statement, metadata, text attachments) have the witness's names
    /// replaced: the identity stays behind, or the identity level is `anonymous`.
    pub redact: bool,
    /// At identity level `anonymous`: the label the record travels under in this export, in
    /// place of the pseudonym, which stays behind with the interviewer and the location.
    pub label: Option<String>,
    /// The attachments that leave, in their stored order.
    pub attachments: Vec<Leaving>,
    /// The statement leaves (false when a reviewed redaction leaves in its place).
    pub statement: bool,
    /// The derived items that leave, in their stored order.
    pub derived: Vec<Leaving>,
    /// The record leaves at all (false: skipped for lack of consent, `only_consented`).
    pub leaves: bool,
}

/// What an export releases: one [`RecordPlan`] per candidate, in order, what is withheld and
/// which records leave only because consent was overridden.
#[derive(Debug)]
pub struct Plan {
    pub records: Vec<RecordPlan>,
    pub withheld: Vec<Withheld>,
    pub overridden: Vec<String>,
    /// Records left out whole, with why (`only_consented`).
    pub skipped: Vec<Withheld>,
}

/// Applies the rules (see the module documentation) to every candidate. Refuses the whole
/// export, naming each record, when a record lacks consent for the purpose and consent is not
/// overridden. The refusal and which records leave do not depend on the attachments' contents.
pub fn plan(req: &Request, candidates: &[Candidate<'_>]) -> Result<Plan> {
    let refused: Vec<&RecordId> = candidates
        .iter()
        .filter(|c| !c.meta.consent.purposes.contains(&req.purpose))
        .map(|c| &c.record)
        .collect();
    if !refused.is_empty() && !req.override_consent && !req.only_consented {
        return Err(Error::ConsentRefused(
            refused
                .iter()
                .map(|id| {
                    format!(
                        "  record {id}: consent does not include {}",
                        req.purpose.as_str()
                    )
                })
                .collect(),
        ));
    }
    let (overridden, skipped): (Vec<String>, Vec<Withheld>) = if req.override_consent {
        (
            refused.iter().map(|id| id.to_string()).collect(),
            Vec::new(),
        )
    } else {
        let why = format!("consent does not include {}", req.purpose.as_str());
        let skipped = refused
            .iter()
            .map(|id| Withheld {
                record: id.to_string(),
                what: "record".into(),
                name: None,
                why: why.clone(),
            })
            .collect();
        (Vec::new(), skipped)
    };

    let mut withheld = Vec::new();
    let mut records = Vec::new();
    let mut labels = 0;
    for c in candidates {
        let consent = &c.meta.consent;
        if skipped.iter().any(|s| s.record == c.record.to_string()) {
            records.push(RecordPlan {
                identity: false,
                redact: true,
                label: None,
                attachments: Vec::new(),
                statement: false,
                derived: Vec::new(),
                leaves: false,
            });
            continue;
        }
        let identity_included = c.has_identity
            && req.include_identity
            && consent.identity_level == IdentityLevel::Named;
        if c.has_identity && !identity_included {
            withheld.push(Withheld {
                record: c.record.to_string(),
                what: "identity".into(),
                name: None,
                why: if !req.include_identity {
                    "identity not requested (--include-identity)".into()
                } else {
                    format!(
                        "consent identity level is {}",
                        consent.identity_level.as_str()
                    )
                },
            });
        }
        let anonymous = consent.identity_level == IdentityLevel::Anonymous;
        let redact = (c.has_identity && !identity_included) || anonymous;
        let mut attachments = Vec::new();
        for (i, a) in c.attachments.iter().enumerate() {
            let name = a.name.clone().unwrap_or_default();
            // An attachment whose content is unknown to the caller is treated as unknown.
            let content = c.contents.get(i).copied().unwrap_or(Content::Unknown);
            match judge(req, consent, redact, content, a) {
                Err(why) => withheld.push(Withheld {
                    record: c.record.to_string(),
                    what: "attachment".into(),
                    name: Some(name),
                    why,
                }),
                Ok(leaving) => attachments.push(leaving),
            }
        }
        let (statement, derived) = plan_derived(req, c, redact, &mut attachments, &mut withheld);
        let label = anonymous.then(|| {
            labels += 1;
            for (what, present) in [
                ("pseudonym", true),
                ("interviewer", c.meta.interviewer.is_some()),
                ("location", c.meta.location.is_some()),
            ] {
                if present {
                    withheld.push(Withheld {
                        record: c.record.to_string(),
                        what: what.into(),
                        name: None,
                        why: "consent identity level is anonymous".into(),
                    });
                }
            }
            format!("witness-{labels}")
        });
        records.push(RecordPlan {
            identity: identity_included,
            redact,
            label,
            attachments,
            statement,
            derived,
            leaves: true,
        });
    }
    Ok(Plan {
        records,
        withheld,
        overridden,
        skipped,
    })
}

/// Rules 3 and 4 for one part of content: whether it leaves (and is redacted), or why not.
fn judge(
    req: &Request,
    consent: &crate::record::Consent,
    redact: bool,
    content: Content,
    info: &PartInfo,
) -> std::result::Result<Leaving, String> {
    let name = info.name.as_deref().unwrap_or_default();
    let media = content.media().or_else(|| media_kind(name));
    let why = match media {
        Some((kind, voice, face)) => {
            let consented = (!voice || consent.media.voice) && (!face || consent.media.face);
            if !req.include_media {
                Some(format!("{kind} not requested (--include-media)"))
            } else if !consented {
                Some(format!("media consent does not cover this {kind}"))
            } else {
                None
            }
        }
        None if !redact => None,
        None if content == Content::Text => (info.size > TEXT_REDACTION_LIMIT).then(|| {
            format!(
                "text document too large to redact automatically (over {} MiB)",
                TEXT_REDACTION_LIMIT >> 20
            )
        }),
        None => (!req.include_documents).then(|| {
            "document may name the witness and cannot be redacted automatically \
             (--include-documents)"
                .to_owned()
        }),
    };
    match why {
        Some(why) => Err(why),
        None => Ok(Leaving {
            info: info.clone(),
            redact: redact && media.is_none() && content == Content::Text,
        }),
    }
}

/// Rule 5 for one record: which derived items leave, and whether the statement still does
/// (a reviewed redaction takes the place of a source whose names consent withholds). Sources
/// so replaced leave `attachments`; everything that does not leave goes to `withheld`.
fn plan_derived(
    req: &Request,
    c: &Candidate<'_>,
    redact: bool,
    attachments: &mut Vec<Leaving>,
    withheld: &mut Vec<Withheld>,
) -> (bool, Vec<Leaving>) {
    let record = c.record.to_string();
    let mut derived = Vec::new();
    for d in c.derived {
        let kind = d.kind.as_str();
        let judged = if !req.prefer.contains(&d.kind) {
            Err(format!("{kind} not requested (--prefer {kind})"))
        } else if d.stale {
            Err("stale: its source changed after it was made".to_owned())
        } else {
            judge(req, &c.meta.consent, redact, d.content, d.info)
        };
        match judged {
            Ok(leaving) => derived.push(leaving),
            Err(why) => withheld.push(Withheld {
                record: record.clone(),
                what: "derived".into(),
                name: d.info.name.clone(),
                why,
            }),
        }
    }
    let mut statement = true;
    if !redact {
        return (statement, derived);
    }
    // The sources the leaving redactions stand in for: texts that would leave redacted.
    let leaving = |name: &Option<String>| {
        derived
            .iter()
            .any(|l: &Leaving| &l.info.name == name && l.redact)
    };
    let replaced: Vec<(SourceKind, Option<String>)> = c
        .derived
        .iter()
        .filter(|d| d.kind == DerivedKind::Redaction && leaving(&d.info.name))
        .map(|d| (d.source, d.source_name.map(str::to_owned)))
        .collect();
    let why =
        "consent withholds the witness's identity: its reviewed redaction leaves in its place";
    for (what, name) in replaced {
        let gone = |list: &mut Vec<Leaving>| {
            let before = list.len();
            list.retain(|l| !(l.info.name == name && l.redact));
            before != list.len()
        };
        let removed = match what {
            SourceKind::Statement => std::mem::replace(&mut statement, false),
            SourceKind::Attachment => gone(attachments),
            SourceKind::Derived => gone(&mut derived),
        };
        if removed {
            withheld.push(Withheld {
                record: record.clone(),
                what: what.as_str().into(),
                name: name.clone(),
                why: why.into(),
            });
        }
    }
    (statement, derived)
}

/// Something an export leaves out, and why (listed in the bundle's manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Withheld {
    pub record: String,
    /// "identity", "attachment", "derived", "statement", "pseudonym", "interviewer",
    /// "location" or "record".
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub why: String,
}

/// The kind of media an attachment's file name says it is. Only ever makes a document media
/// (rule 3); the content decides otherwise.
pub fn media_kind(name: &str) -> Option<(&'static str, bool, bool)> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    // (kind, shows a voice, shows a face)
    match ext.as_str() {
        "mp3" | "m4a" | "m4b" | "wav" | "ogg" | "oga" | "opus" | "flac" | "aac" | "amr" | "wma"
        | "aif" | "aiff" | "caf" => Some(("audio", true, false)),
        "mp4" | "mov" | "mkv" | "avi" | "webm" | "m4v" | "3gp" | "3gpp" | "3g2" | "wmv" | "mpg"
        | "mpeg" | "mts" | "m2ts" | "ts" => Some(("video", true, true)),
        "jpg" | "jpeg" | "jfif" | "png" | "heic" | "heif" | "avif" | "gif" | "webp" | "tif"
        | "tiff" | "bmp" | "dng" | "cr2" | "cr3" | "nef" | "arw" | "raf" | "orf" | "rw2" => {
            Some(("photo", false, true))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
