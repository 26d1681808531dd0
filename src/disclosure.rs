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
//! Everything withheld is listed, with why, in the manifest.

mod content;
mod redact;

use serde::{Deserialize, Serialize};

pub use content::{Content, SNIFF_LEN, TextCheck, sniff};
pub use redact::{Redactor, merge_spans, replace_spans};

use crate::error::{Error, Result};
use crate::record::{IdentityLevel, Metadata, PartInfo, Purpose, RecordId};

/// The largest text attachment redacted: it is read whole into memory (a zeroizing buffer)
/// for that. A larger one that needs redacting is withheld and listed.
pub const TEXT_REDACTION_LIMIT: u64 = 16 * 1024 * 1024;

/// What the operator asked an export to release.
#[derive(Debug, Clone, Copy)]
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
            let media = content.media().or_else(|| media_kind(&name));
            let why = match media {
                Some((kind, voice, face)) => {
                    let consented =
                        (!voice || consent.media.voice) && (!face || consent.media.face);
                    if !req.include_media {
                        Some(format!("{kind} not requested (--include-media)"))
                    } else if !consented {
                        Some(format!("media consent does not cover this {kind}"))
                    } else {
                        None
                    }
                }
                None if !redact => None,
                None if content == Content::Text => (a.size > TEXT_REDACTION_LIMIT).then(|| {
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
                Some(why) => withheld.push(Withheld {
                    record: c.record.to_string(),
                    what: "attachment".into(),
                    name: Some(name),
                    why,
                }),
                None => attachments.push(Leaving {
                    info: a.clone(),
                    redact: redact && media.is_none() && content == Content::Text,
                }),
            }
        }
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

/// Something an export leaves out, and why (listed in the bundle's manifest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Withheld {
    pub record: String,
    /// "identity", "attachment", "pseudonym", "interviewer", "location" or "record".
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
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::record::{Consent, MediaConsent};

    fn attachment(part: u32, name: &str, size: u64) -> PartInfo {
        PartInfo {
            part,
            name: Some(name.into()),
            size,
            sha256: String::new(),
            padded_size: size,
            stored_len: 1,
            stored_sha256: None,
            stored_at: None,
        }
    }

    /// The attachments of the policy table: (name, content, size).
    const KINDS: [(&str, Content, u64); 9] = [
        ("voice.m4a", Content::Audio, 1),
        ("clip.mp4", Content::Video, 1),
        ("face.jpg", Content::Photo, 1),
        ("letter.pdf", Content::Document, 1),
        ("notes.txt", Content::Text, 1),
        ("big.txt", Content::Text, TEXT_REDACTION_LIMIT + 1),
        ("blob.bin", Content::Unknown, 1),
        // A video under a text's name: its content decides.
        ("recording.txt", Content::Video, 1),
        // Text under a video's name: the name makes it media.
        ("transcript.mp4", Content::Text, 1),
    ];

    /// The whole policy on one screen: every purpose × identity level × media consent ×
    /// kind of content × what the operator asked for, against the rules in the module doc.
    #[test]
    fn the_policy_table() {
        let attachments: Vec<PartInfo> = KINDS
            .iter()
            .enumerate()
            .map(|(i, (n, _, size))| attachment(i as u32 + 1, n, *size))
            .collect();
        let contents: Vec<Content> = KINDS.iter().map(|k| k.1).collect();
        let levels = [
            IdentityLevel::Named,
            IdentityLevel::Pseudonym,
            IdentityLevel::Anonymous,
        ];
        let mut cases = 0;
        for consented in Purpose::ALL {
            for level in levels {
                for (voice, face) in [(false, false), (true, false), (false, true), (true, true)] {
                    let mut meta = Metadata::default();
                    meta.witness = "Nightingale".into();
                    meta.interviewer = Some("I".into());
                    meta.consent = Consent {
                        purposes: BTreeSet::from([consented]),
                        identity_level: level,
                        media: MediaConsent { voice, face },
                    };
                    for purpose in Purpose::ALL {
                        for bits in 0..32u8 {
                            let [
                                include_identity,
                                include_media,
                                override_consent,
                                has_identity,
                                include_documents,
                            ] = [1, 2, 4, 8, 16].map(|bit| bits & bit != 0);
                            cases += 1;
                            let record = RecordId::random();
                            let req = Request {
                                purpose,
                                include_identity,
                                include_media,
                                include_documents,
                                override_consent,
                                only_consented: false,
                            };
                            let candidate = Candidate {
                                record,
                                meta: &meta,
                                has_identity,
                                attachments: &attachments,
                                contents: &contents,
                            };
                            let result = plan(&req, &[candidate]);
                            // Rule 1: consent for the purpose, or an override.
                            if purpose != consented && !override_consent {
                                assert!(matches!(result, Err(Error::ConsentRefused(_))));
                                continue;
                            }
                            let plan = result.unwrap();
                            assert_eq!(
                                plan.overridden,
                                if purpose != consented {
                                    vec![record.to_string()]
                                } else {
                                    vec![]
                                }
                            );
                            let r = &plan.records[0];
                            // Rule 2: identity only when asked for and named; the texts
                            // redacted whenever an identity stays behind, and when anonymous.
                            let identity =
                                has_identity && include_identity && level == IdentityLevel::Named;
                            let anonymous = level == IdentityLevel::Anonymous;
                            let redact = (has_identity && !identity) || anonymous;
                            assert_eq!(r.identity, identity);
                            assert_eq!(r.redact, redact);
                            // Anonymous: a label, and the pseudonym and interviewer withheld.
                            assert_eq!(r.label.as_deref(), anonymous.then_some("witness-1"));
                            for what in ["pseudonym", "interviewer"] {
                                assert_eq!(plan.withheld.iter().any(|w| w.what == what), anonymous);
                            }
                            assert!(!plan.withheld.iter().any(|w| w.what == "location"));
                            // Rules 3 and 4: media by content (or a media name) only when
                            // asked for and consented to; documents by whether they can be
                            // redacted.
                            let leaves: Vec<&str> = r
                                .attachments
                                .iter()
                                .filter_map(|a| a.info.name.as_deref())
                                .collect();
                            let expected: Vec<&str> = KINDS
                                .iter()
                                .map(|k| k.0)
                                .filter(|k| match *k {
                                    "voice.m4a" => include_media && voice,
                                    "face.jpg" => include_media && face,
                                    "clip.mp4" | "blob.bin" | "recording.txt"
                                    | "transcript.mp4" => include_media && voice && face,
                                    "letter.pdf" => !redact || include_documents,
                                    "notes.txt" => true,
                                    "big.txt" => !redact,
                                    other => unreachable!("{other}"),
                                })
                                .collect();
                            assert_eq!(leaves, expected);
                            // Only text documents are redacted, whenever the record is.
                            for a in &r.attachments {
                                let text =
                                    matches!(a.info.name.as_deref(), Some("notes.txt" | "big.txt"));
                                assert_eq!(a.redact, redact && text);
                            }
                            // Everything that does not leave is listed, with why.
                            let withheld_names: Vec<&str> = plan
                                .withheld
                                .iter()
                                .filter_map(|w| w.name.as_deref())
                                .collect();
                            let missing: Vec<&str> = KINDS
                                .iter()
                                .map(|k| k.0)
                                .filter(|k| !expected.contains(k))
                                .collect();
                            assert_eq!(withheld_names, missing);
                            let identity_withheld =
                                plan.withheld.iter().any(|w| w.what == "identity");
                            assert_eq!(identity_withheld, has_identity && !identity);
                            assert!(plan.withheld.iter().all(|w| !w.why.is_empty()));
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 5 * 3 * 4 * 5 * 32);
    }

    #[test]
    fn a_refusal_names_every_record_without_consent() {
        let with = |purpose| {
            let mut meta = Metadata::default();
            meta.consent.purposes = BTreeSet::from([purpose]);
            meta
        };
        let (court, public) = (with(Purpose::Court), with(Purpose::Public));
        let (a, b) = (RecordId::random(), RecordId::random());
        let req = Request {
            purpose: Purpose::Public,
            include_identity: false,
            include_media: false,
            include_documents: false,
            override_consent: false,
            only_consented: false,
        };
        let candidates = [
            Candidate {
                record: a,
                meta: &court,
                has_identity: true,
                attachments: &[],
                contents: &[],
            },
            Candidate {
                record: b,
                meta: &public,
                has_identity: true,
                attachments: &[],
                contents: &[],
            },
        ];
        match plan(&req, &candidates) {
            Err(Error::ConsentRefused(lines)) => {
                assert_eq!(lines.len(), 1);
                assert!(lines[0].contains(&a.to_string()));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_attachment_of_unknown_content_is_treated_as_unknown() {
        let mut meta = Metadata::default();
        meta.consent.purposes = BTreeSet::from([Purpose::Court]);
        meta.consent.media = MediaConsent {
            voice: true,
            face: false,
        };
        let attachments = [attachment(1, "notes.txt", 1)];
        let req = Request {
            purpose: Purpose::Court,
            include_identity: false,
            include_media: true,
            include_documents: false,
            override_consent: false,
            only_consented: false,
        };
        let candidate = Candidate {
            record: RecordId::random(),
            meta: &meta,
            has_identity: false,
            attachments: &attachments,
            contents: &[],
        };
        let plan = plan(&req, &[candidate]).unwrap();
        assert!(plan.records[0].attachments.is_empty());
        assert_eq!(
            plan.withheld[0].why,
            "media consent does not cover this file of unrecognised type"
        );
    }

    #[test]
    fn media_names_the_content_does_not_know() {
        for name in [
            "a.M4A", "b.m4b", "c.aiff", "d.caf", "e.mts", "f.ts", "g.3gpp", "h.avif", "i.jfif",
            "j.dng", "k.cr2", "l.nef",
        ] {
            assert!(media_kind(name).is_some(), "{name}");
        }
        assert_eq!(media_kind("clip.mp4"), Some(("video", true, true)));
        assert_eq!(media_kind("letter.pdf"), None);
        assert_eq!(media_kind("noextension"), None);
    }
}
