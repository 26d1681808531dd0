//! The export policy: what leaves in an export, what is withheld, and why.
//!
//! Pure: plain data in (each record's consent, whether an identity is stored, its attachments,
//! and what the operator asked for), a [`Plan`] out. No SQL, no files, no keys; the vault
//! decrypts what the plan says leaves and nothing else. The rules, in order:
//!
//! 1. A record whose consent does not list the export's purpose is refused, unless the operator
//!    overrides consent (with a reason, checked and logged by the caller); the record is then
//!    listed as overridden.
//! 2. The witness's identity leaves only when asked for (`--include-identity`) and the consent's
//!    identity level is `named`. When it does not leave, the statement has the real name
//!    replaced by the pseudonym ([`redact`]).
//!    At identity level `anonymous`, the pseudonym, the interviewer and the location stay
//!    behind too: the record travels under its id and a label of this export (`witness-1`, …),
//!    which also replaces the real name and the pseudonym in the statement.
//! 3. An attachment the file name shows to be media ([`media_kind`]) leaves only when media is
//!    asked for (`--include-media`) and consent covers what it shows: audio needs voice, a photo
//!    needs face, video needs both. Other attachments leave.
//!
//! Everything withheld is listed, with why, in the manifest.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{IdentityLevel, Metadata, PartInfo, Purpose, RecordId};

/// What the operator asked an export to release.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub purpose: Purpose,
    pub include_identity: bool,
    pub include_media: bool,
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
}

/// What leaves of one record.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// The witness identity leaves.
    pub identity: bool,
    /// Replace the witness's real name in the statement by the pseudonym (or the label).
    pub redact_statement: bool,
    /// At identity level `anonymous`: the label the record travels under in this export, in
    /// place of the pseudonym, which stays behind with the interviewer and the location.
    pub label: Option<String>,
    /// The attachments that leave, in their stored order.
    pub attachments: Vec<PartInfo>,
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
/// overridden.
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
                redact_statement: true,
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
        let mut attachments = Vec::new();
        for a in c.attachments {
            let name = a.name.clone().unwrap_or_default();
            match media_kind(&name) {
                Some((kind, voice, face)) => {
                    let consented =
                        (!voice || consent.media.voice) && (!face || consent.media.face);
                    if req.include_media && consented {
                        attachments.push(a.clone());
                    } else {
                        withheld.push(Withheld {
                            record: c.record.to_string(),
                            what: "attachment".into(),
                            name: Some(name),
                            why: if !req.include_media {
                                format!("{kind} not requested (--include-media)")
                            } else {
                                format!("media consent does not cover this {kind}")
                            },
                        });
                    }
                }
                None => attachments.push(a.clone()),
            }
        }
        let label = (consent.identity_level == IdentityLevel::Anonymous).then(|| {
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
            redact_statement: !identity_included,
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
    /// "identity" or "attachment".
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub why: String,
}

/// The kind of media an attachment's file name says it is, for consent.
pub fn media_kind(name: &str) -> Option<(&'static str, bool, bool)> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    // (kind, shows a voice, shows a face)
    match ext.as_str() {
        "mp3" | "m4a" | "wav" | "ogg" | "oga" | "opus" | "flac" | "aac" | "amr" | "wma" => {
            Some(("audio", true, false))
        }
        "mp4" | "mov" | "mkv" | "avi" | "webm" | "m4v" | "3gp" | "wmv" | "mpg" | "mpeg" => {
            Some(("video", true, true))
        }
        "jpg" | "jpeg" | "png" | "heic" | "heif" | "gif" | "webp" | "tif" | "tiff" | "bmp" => {
            Some(("photo", false, true))
        }
        _ => None,
    }
}

/// Replaces the witness's real name in `text` with their pseudonym, case-insensitively: the
/// whole name wherever it occurs, then each part of it of three or more letters (a given name,
/// a family name) as a whole word. Returns whether anything changed.
pub fn redact(text: &str, name: &str, pseudonym: &str) -> (String, bool) {
    let mut patterns = vec![regex::escape(name.trim())];
    patterns.extend(
        name.split_whitespace()
            .filter(|part| part.chars().count() >= 3)
            .map(|part| format!(r"\b{}\b", regex::escape(part))),
    );
    let mut out = text.to_owned();
    for pattern in patterns.iter().filter(|p| !p.is_empty()) {
        let re = regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .expect("an escaped literal is a valid pattern");
        out = re
            .replace_all(&out, regex::NoExpand(pseudonym))
            .into_owned();
    }
    let changed = out != text;
    (out, changed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::record::{Consent, MediaConsent};

    fn attachment(part: u32, name: &str) -> PartInfo {
        PartInfo {
            part,
            name: Some(name.into()),
            size: 1,
            sha256: String::new(),
            padded_size: 1,
            stored_len: 1,
            stored_sha256: None,
            stored_at: None,
        }
    }

    /// The whole policy on one screen: every purpose × identity level × media consent ×
    /// media kind × what the operator asked for, against the rules in the module doc.
    #[test]
    fn the_policy_table() {
        let kinds = ["voice.m4a", "clip.mp4", "face.jpg", "letter.pdf"];
        let attachments: Vec<PartInfo> = kinds
            .iter()
            .enumerate()
            .map(|(i, n)| attachment(i as u32 + 1, n))
            .collect();
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
                        for bits in 0..16u8 {
                            let [
                                include_identity,
                                include_media,
                                override_consent,
                                has_identity,
                            ] = [1, 2, 4, 8].map(|bit| bits & bit != 0);
                            cases += 1;
                            let record = RecordId::random();
                            let req = Request {
                                purpose,
                                include_identity,
                                include_media,
                                override_consent,
                                only_consented: false,
                            };
                            let candidate = Candidate {
                                record,
                                meta: &meta,
                                has_identity,
                                attachments: &attachments,
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
                            // Rule 2: identity only when asked for and named.
                            let identity =
                                has_identity && include_identity && level == IdentityLevel::Named;
                            assert_eq!(r.identity, identity);
                            assert_eq!(r.redact_statement, !identity);
                            // Anonymous: a label, and the pseudonym and interviewer withheld.
                            let anonymous = level == IdentityLevel::Anonymous;
                            assert_eq!(r.label.as_deref(), anonymous.then_some("witness-1"));
                            for what in ["pseudonym", "interviewer"] {
                                assert_eq!(plan.withheld.iter().any(|w| w.what == what), anonymous);
                            }
                            assert!(!plan.withheld.iter().any(|w| w.what == "location"));
                            // Rule 3: media only when asked for and consented to.
                            let leaves: Vec<&str> = r
                                .attachments
                                .iter()
                                .filter_map(|a| a.name.as_deref())
                                .collect();
                            let expected: Vec<&str> = kinds
                                .iter()
                                .copied()
                                .filter(|k| match *k {
                                    "voice.m4a" => include_media && voice,
                                    "clip.mp4" => include_media && voice && face,
                                    "face.jpg" => include_media && face,
                                    _ => true,
                                })
                                .collect();
                            assert_eq!(leaves, expected);
                            // Everything that does not leave is listed, with why.
                            let withheld_names: Vec<&str> = plan
                                .withheld
                                .iter()
                                .filter_map(|w| w.name.as_deref())
                                .collect();
                            let missing: Vec<&str> = kinds
                                .iter()
                                .copied()
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
        assert_eq!(cases, 5 * 3 * 4 * 5 * 16);
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
            override_consent: false,
            only_consented: false,
        };
        let candidates = [
            Candidate {
                record: a,
                meta: &court,
                has_identity: true,
                attachments: &[],
            },
            Candidate {
                record: b,
                meta: &public,
                has_identity: true,
                attachments: &[],
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
    fn the_real_name_and_its_parts_are_replaced() {
        let (out, changed) = redact(
            "I am Aygul Tursunova. AYGUL is my name; Tursunova my family. Aygulnur is my cousin. Al",
            "Aygul Tursunova",
            "Nightingale",
        );
        assert!(changed);
        assert_eq!(
            out,
            "I am Nightingale. Nightingale is my name; Nightingale my family. Aygulnur is my cousin. Al"
        );
        let (same, changed) = redact("nothing here", "Aygul Tursunova", "N");
        assert!(!changed);
        assert_eq!(same, "nothing here");
    }

    #[test]
    fn media_is_recognised_by_extension() {
        assert_eq!(media_kind("a.M4A"), Some(("audio", true, false)));
        assert_eq!(media_kind("clip.mp4"), Some(("video", true, true)));
        assert_eq!(media_kind("face.jpeg"), Some(("photo", false, true)));
        assert_eq!(media_kind("letter.pdf"), None);
        assert_eq!(media_kind("noextension"), None);
    }
}
