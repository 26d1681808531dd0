//! The witness's identity never travels in argv: `--witness-name` and `--witness-contact` are
//! refused, the identity comes from `--identity-file` (or the guided prompt, tested in
//! tests/cli.rs), and every other field can come from `--metadata-file`.

mod common;

use common::TestVault;
use predicates::prelude::*;

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn records(tv: &TestVault) -> usize {
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    json(&out).as_array().unwrap().len()
}

#[test]
fn add_refuses_a_witness_name_or_contact_on_the_command_line_and_stores_nothing() {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"A statement.\n");
    for args in [
        &["--witness-name", "Refusedname Q"][..],
        &["--witness-contact", "RefusedContact7"],
        // Unquoted, the name's second word must not be echoed as a stray argument either.
        &["--witness-name", "Refusedname", "Qasimova"],
    ] {
        tv.cmd()
            .args(["add", "--witness", "W", "--text-file", st.to_str().unwrap()])
            .args(args)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("--identity-file")
                    .and(predicate::str::contains("history"))
                    .and(predicate::str::contains("Refused").not())
                    .and(predicate::str::contains("Qasimova").not()),
            );
    }
    assert_eq!(records(&tv), 0, "nothing was stored");
}

#[test]
fn amend_refuses_them_too_and_makes_no_version() {
    let tv = TestVault::new();
    let id = tv.add(&["--witness", "W"]);
    for flag in ["--witness-name", "--witness-contact"] {
        tv.cmd()
            .args(["amend", &id, flag, "RefusedValue"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--identity-file"));
    }
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    assert_eq!(json(&out)["version"], 1);
}

#[test]
fn an_identity_file_gives_name_contact_and_aliases_and_amend_replaces_what_it_sets() {
    let tv = TestVault::new();
    let identity = tv.identity_file("Zahra Qadir", Some("+7 701"), &["Zaza", "Z. Q."]);
    let id = tv.add(&["--witness", "Heron", "--identity-file", &identity]);
    let out = tv
        .cmd()
        .args(["show", &id, "--identity", "--json"])
        .assert()
        .success();
    let shown = json(&out);
    assert_eq!(shown["identity"]["name"], "Zahra Qadir");
    assert_eq!(shown["identity"]["contact"], "+7 701");
    assert_eq!(
        shown["identity"]["aliases"],
        serde_json::json!(["Zaza", "Z. Q."])
    );
    tv.cmd()
        .args(["show", &id, "--identity"])
        .assert()
        .success()
        .stdout(predicate::str::contains("aliases      Zaza, Z. Q."));
    // Without --identity, nothing of it shows.
    tv.cmd()
        .args(["show", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("Zaza").not());

    let aliases_only = tv.write("aliases.toml", b"aliases = [\"Zara\"]\n");
    tv.cmd()
        .args([
            "amend",
            &id,
            "--identity-file",
            aliases_only.to_str().unwrap(),
        ])
        .assert()
        .success();
    let out = tv
        .cmd()
        .args(["show", &id, "--identity", "--json"])
        .assert()
        .success();
    let shown = json(&out);
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["identity"]["name"], "Zahra Qadir", "kept");
    assert_eq!(shown["identity"]["aliases"], serde_json::json!(["Zara"]));
}

#[test]
fn bad_identity_and_metadata_files_name_the_file_and_key_never_a_value() {
    let tv = TestVault::new();
    let cases: [(&str, &str, &str); 6] = [
        (
            "--identity-file",
            "name = \"Secretvalue A\"\nnickname = \"Secretvalue B\"\n",
            "`nickname`",
        ),
        (
            "--identity-file",
            "aliases = \"Secretvalue A\"\n",
            "`aliases`",
        ),
        ("--identity-file", "name = Secretvalue A\n", "line 1"),
        (
            "--metadata-file",
            "title = \"Secretvalue A\"\nwitness_name = \"Secretvalue B\"\n",
            "`witness_name`",
        ),
        ("--metadata-file", "date = \"Secretvalue\"\n", "`date`"),
        (
            "--metadata-file",
            "consent = \"court,Secretvalue\"\n",
            "`consent`",
        ),
    ];
    for (i, (flag, text, key)) in cases.into_iter().enumerate() {
        let file = tv.write(&format!("bad-{i}.toml"), text.as_bytes());
        tv.cmd()
            .args(["add", "--witness", "W", flag, file.to_str().unwrap()])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(format!("bad-{i}.toml"))
                    .and(predicate::str::contains(key))
                    .and(predicate::str::contains("Secretvalue").not()),
            );
    }
    assert_eq!(records(&tv), 0, "nothing was stored");
}

#[test]
fn a_metadata_file_sets_the_fields_and_a_flag_wins_over_it() {
    let tv = TestVault::new();
    let meta = tv.write(
        "meta.toml",
        b"witness = \"Plover\"\ntitle = \"From the file\"\ninterviewer = \"R.\"\n\
          date = \"2024-03-05\"\nlocation = \"Almaty\"\nlanguage = \"ug\"\n\
          tags = [\"detention\", \"family\"]\nconsent = \"court,un\"\n\
          identity_level = \"named\"\nmedia_consent = \"voice\"\n",
    );
    let meta = meta.to_str().unwrap();
    let id = tv.add(&["--metadata-file", meta]);
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    let m = &json(&out)["metadata"];
    assert_eq!(m["witness"], "Plover");
    assert_eq!(m["title"], "From the file");
    assert_eq!(m["interviewer"], "R.");
    assert_eq!(m["date"], "2024-03-05");
    assert_eq!(m["location"], "Almaty");
    assert_eq!(m["language"], "ug");
    assert_eq!(m["tags"], serde_json::json!(["detention", "family"]));
    assert_eq!(m["consent"]["purposes"], serde_json::json!(["un", "court"]));
    assert_eq!(m["consent"]["identity_level"], "named");
    assert_eq!(m["consent"]["media"]["voice"], true);

    let id = tv.add(&[
        "--metadata-file",
        meta,
        "--title",
        "From the flag",
        "--tag",
        "flagged",
        "--consent",
        "archive",
    ]);
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    let m = &json(&out)["metadata"];
    assert_eq!(m["title"], "From the flag");
    assert_eq!(m["tags"], serde_json::json!(["flagged"]));
    assert_eq!(m["consent"]["purposes"], serde_json::json!(["archive"]));
    assert_eq!(m["location"], "Almaty", "the rest still from the file");

    // amend takes one too.
    let change = tv.write("change.toml", b"title = \"Amended from a file\"\n");
    tv.cmd()
        .args(["amend", &id, "--metadata-file", change.to_str().unwrap()])
        .assert()
        .success();
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    let shown = json(&out);
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["metadata"]["title"], "Amended from a file");
    assert_eq!(shown["metadata"]["witness"], "Plover");
}
