//! The export policy's table of cases.

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
                            prefer: Vec::new(),
                        };
                        let candidate = Candidate {
                            record,
                            meta: &meta,
                            has_identity,
                            attachments: &attachments,
                            contents: &contents,
                            derived: &[],
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
                                "clip.mp4" | "blob.bin" | "recording.txt" | "transcript.mp4" => {
                                    include_media && voice && face
                                }
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
                        let identity_withheld = plan.withheld.iter().any(|w| w.what == "identity");
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
        prefer: Vec::new(),
    };
    let candidates = [
        Candidate {
            record: a,
            meta: &court,
            has_identity: true,
            attachments: &[],
            contents: &[],
            derived: &[],
        },
        Candidate {
            record: b,
            meta: &public,
            has_identity: true,
            attachments: &[],
            contents: &[],
            derived: &[],
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
        prefer: Vec::new(),
    };
    let candidate = Candidate {
        record: RecordId::random(),
        meta: &meta,
        has_identity: false,
        attachments: &attachments,
        contents: &[],
        derived: &[],
    };
    let plan = plan(&req, &[candidate]).unwrap();
    assert!(plan.records[0].attachments.is_empty());
    assert_eq!(
        plan.withheld[0].why,
        "media consent does not cover this file of unrecognised type"
    );
}

#[test]
fn derived_items_leave_when_preferred_and_a_redaction_takes_its_sources_place() {
    let mut meta = Metadata::default();
    meta.consent.purposes = BTreeSet::from([Purpose::Advocacy]);
    meta.consent.identity_level = IdentityLevel::Named;
    let audio = [attachment(1, "a.m4a", 1)];
    let parts: Vec<PartInfo> = ["t.txt", "tr.txt", "r.txt", "rs.txt", "s.txt"]
        .iter()
        .enumerate()
        .map(|(i, n)| attachment(i as u32 + 2, n, 1))
        .collect();
    let d = |i: usize, kind, source, of: Option<&'static str>, stale| DerivedCandidate {
        info: &parts[i],
        kind,
        source,
        source_name: of,
        stale,
        content: Content::Text,
    };
    use DerivedKind::*;
    let derived = [
        d(0, Transcript, SourceKind::Attachment, Some("a.m4a"), false),
        d(1, Translation, SourceKind::Derived, Some("t.txt"), false),
        d(2, Redaction, SourceKind::Derived, Some("tr.txt"), false),
        d(3, Redaction, SourceKind::Statement, None, false),
        d(4, Summary, SourceKind::Statement, None, true),
    ];
    let run = |prefer: Vec<DerivedKind>, include_identity| {
        let req = Request {
            purpose: Purpose::Advocacy,
            include_identity,
            include_media: false,
            include_documents: false,
            override_consent: false,
            only_consented: false,
            prefer,
        };
        let c = Candidate {
            record: RecordId::random(),
            meta: &meta,
            has_identity: true,
            attachments: &audio,
            contents: &[Content::Audio],
            derived: &derived,
        };
        plan(&req, &[c]).unwrap()
    };
    let names =
        |l: &[Leaving]| -> Vec<String> { l.iter().map(|l| l.info.name.clone().unwrap()).collect() };
    let withheld = |p: &Plan| -> Vec<(String, Option<String>)> {
        p.withheld
            .iter()
            .map(|w| (w.what.clone(), w.name.clone()))
            .collect()
    };
    // Identity withheld: the redactions leave, in place of the statement; nothing else
    // derived is asked for; the stale summary never leaves.
    let p = run(vec![Redaction, Summary], false);
    let r = &p.records[0];
    assert_eq!(names(&r.derived), ["r.txt", "rs.txt"]);
    assert!(r.derived.iter().all(|l| l.redact));
    assert!(!r.statement);
    let w = withheld(&p);
    for (what, name) in [
        ("attachment", Some("a.m4a")),
        ("derived", Some("t.txt")),
        ("derived", Some("tr.txt")),
        ("derived", Some("s.txt")),
        ("statement", None),
    ] {
        assert!(
            w.contains(&(what.into(), name.map(String::from))),
            "{what} {name:?}"
        );
    }
    // The translation asked for too: its redaction still takes its place.
    let p = run(vec![Translation, Redaction], false);
    assert_eq!(names(&p.records[0].derived), ["r.txt", "rs.txt"]);
    let why = &p
        .withheld
        .iter()
        .find(|w| w.name.as_deref() == Some("tr.txt"))
        .unwrap()
        .why;
    assert!(why.contains("reviewed redaction"), "{why}");
    // Identity released: nothing to stand in for; the redactions leave beside.
    let p = run(vec![Translation, Redaction], true);
    let r = &p.records[0];
    assert!(r.statement);
    assert_eq!(names(&r.derived), ["tr.txt", "r.txt", "rs.txt"]);
    assert!(r.derived.iter().all(|l| !l.redact));
    // Nothing preferred: nothing derived leaves.
    assert!(run(Vec::new(), false).records[0].derived.is_empty());
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
