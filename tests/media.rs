//! Media is known by its content, not its name: recordings and photos under any name, and
//! anything not recognised as a plain document, leave only when asked for and consented to.

mod common;

use common::{TestVault, content, export_and_open, typed};

/// MPEG transport stream packets (what `.mts` and `.ts` camera files hold).
fn transport_stream() -> Vec<u8> {
    (0..20u8)
        .flat_map(|i| {
            let mut packet = vec![0x47, 0x40, 0x00, 0x10 | (i & 0x0f)];
            packet.extend(content(184, i));
            packet
        })
        .collect()
}

fn with_magic(magic: &[u8], len: usize, seed: u8) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend(content(len, seed));
    out
}

/// Attachments that are media whatever their names say, and whether each may show a voice
/// only (true) or needs face consent too (false).
fn media() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        ("clip.mts", transport_stream(), false),
        ("clip.ts", transport_stream(), false),
        (
            "voice.3gpp",
            with_magic(b"\0\0\0\x14ftyp3gp4\0\0\0\0isom3gp4", 3000, 1),
            false,
        ),
        (
            "sound.aiff",
            with_magic(b"FORM\0\0\x10\0AIFFCOMM", 3000, 2),
            true,
        ),
        (
            "sound.caf",
            with_magic(b"caff\0\x01\0\0desc", 3000, 3),
            false,
        ),
        (
            "book.m4b",
            with_magic(b"\0\0\0\x18ftypM4B \0\0\0\0M4B isom", 3000, 4),
            false,
        ),
        (
            "photo.avif",
            with_magic(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", 3000, 5),
            false,
        ),
        ("photo.jfif", typed("jpeg", 3000, 6), false),
        ("raw.dng", with_magic(b"II*\0\x08\0\0\0", 3000, 7), false),
        (
            "raw.cr2",
            with_magic(b"II*\0\x10\0\0\0CR\x02\0", 3000, 8),
            false,
        ),
        ("raw.nef", with_magic(b"MM\0*\0\0\0\x08", 3000, 9), false),
        ("clip.mp4.part", typed("mp4", 3000, 10), false),
        // A video renamed to look like notes.
        ("notes.txt", typed("mp4", 3000, 11), false),
    ]
}

/// The documents beside them, which leave (no identity is stored, so nothing to redact).
fn documents() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "real-notes.txt",
            "Plain notes, Ünïcode too.\n".as_bytes().to_vec(),
        ),
        ("letter.pdf", typed("pdf", 3000, 12)),
    ]
}

fn add_with_media(tv: &TestVault, witness: &str, media_consent: &str) -> String {
    let mut args: Vec<String> = [
        "--witness",
        witness,
        "--consent",
        "court",
        "--media-consent",
        media_consent,
    ]
    .map(String::from)
    .to_vec();
    for (name, data) in media()
        .into_iter()
        .map(|(n, d, _)| (n, d))
        .chain(documents())
    {
        let path = tv.path(&format!("{witness}-files")).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        args.push("--attach".into());
        args.push(path.to_str().unwrap().into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tv.add(&args)
}

/// The attachments of `id` the bundle carries, and each withheld one with why.
fn outcome(o: &common::Opened, id: &str) -> (Vec<String>, Vec<(String, String)>) {
    let manifest = o.manifest();
    let record = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap();
    let left = record["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let withheld = manifest["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["record"] == id && w["what"] == "attachment")
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_owned(),
                w["why"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (left, withheld)
}

#[test]
fn media_by_any_name_stays_behind_unless_asked_for_and_consented() {
    let tv = TestVault::new();
    let none = add_with_media(&tv, "None", "none");
    let voice = add_with_media(&tv, "Voice", "voice");
    let both = add_with_media(&tv, "Both", "voice,face");
    let docs: Vec<String> = documents().iter().map(|d| d.0.to_owned()).collect();
    let names: Vec<&str> = media().iter().map(|m| m.0).collect();

    // Not asked for: every one of them stays behind, whatever the consent; documents leave.
    let opened = export_and_open(&tv, "plain", &["--all"]);
    for id in [&none, &voice, &both] {
        let (left, withheld) = outcome(&opened, id);
        assert_eq!(left, docs);
        let withheld_names: Vec<&str> = withheld.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(withheld_names, names);
        for (name, why) in &withheld {
            assert!(
                why.ends_with("not requested (--include-media)"),
                "{name}: {why}"
            );
            assert!(
                !opened
                    .into
                    .join(format!("records/{id}/attachments/{name}"))
                    .exists()
            );
        }
    }
    // Named by their content: the renamed video is a video, the transport stream unknown.
    let (_, withheld) = outcome(&opened, &none);
    let why = |name: &str| withheld.iter().find(|w| w.0 == name).unwrap().1.clone();
    assert_eq!(why("notes.txt"), "video not requested (--include-media)");
    assert_eq!(why("photo.avif"), "photo not requested (--include-media)");
    assert_eq!(why("sound.aiff"), "audio not requested (--include-media)");
    assert_eq!(
        why("clip.mts"),
        "file of unrecognised type not requested (--include-media)"
    );

    // Asked for: what consent covers leaves, byte for byte; an unrecognised file needs
    // voice and face consent both.
    let opened = export_and_open(&tv, "media", &["--all", "--include-media"]);
    let (left, _) = outcome(&opened, &none);
    assert_eq!(left, docs);
    let (left, _) = outcome(&opened, &voice);
    let voice_only: Vec<String> = media()
        .iter()
        .filter(|m| m.2)
        .map(|m| m.0.to_owned())
        .chain(docs.iter().cloned())
        .collect();
    assert_eq!(left, voice_only);
    let (left, withheld) = outcome(&opened, &both);
    assert!(withheld.is_empty(), "{withheld:?}");
    assert_eq!(left.len(), names.len() + docs.len());
    for (name, data, _) in media() {
        assert_eq!(
            opened.read(&format!("records/{both}/attachments/{name}")),
            data
        );
    }
}
