//! The command-line contract, through the real binary: commands, flags, output and exit codes.

mod common;

use common::{TestVault, content};
use predicates::prelude::*;

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("stdout is one JSON document")
}

#[test]
fn init_prints_the_vault_id_and_creates_a_private_file() {
    let tv = TestVault::empty();
    let out = tv.init().assert().success();
    let id = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(id.trim().len(), 32);
    assert!(id.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&tv.vault).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(tv.vault.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[test]
fn init_refuses_an_existing_vault_with_exit_1_and_leaves_it_alone() {
    let tv = TestVault::new();
    let before = tv.vault_bytes();
    tv.init()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists").and(predicate::str::contains("hint:")));
    assert_eq!(before, tv.vault_bytes());
}

#[test]
fn init_json_reports_id_and_kdf() {
    let tv = TestVault::empty();
    let out = tv.init().arg("--json").assert().success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["vault_id"].as_str().unwrap().len(), 32);
    assert_eq!(doc["kdf"]["memory_mib"], 1);
    assert_eq!(doc["kdf"]["weak"], true);
}

#[test]
fn init_refuses_weak_kdf_without_the_flag() {
    let tv = TestVault::empty();
    tv.cmd()
        .args(["init", "--kdf-memory-mib", "64", "--kdf-iterations", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--allow-weak-kdf"));
    assert!(!tv.vault.exists());
}

#[test]
fn init_refuses_a_guessable_passphrase_unless_allowed() {
    let tv = TestVault::empty();
    std::fs::write(&tv.pass_file, "password123\n").unwrap();
    tv.init()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("too easy to guess"));
    assert!(!tv.vault.exists());
    tv.init().arg("--allow-weak-passphrase").assert().success();
}

#[test]
fn status_needs_no_passphrase_and_warns_about_weak_kdf() {
    let tv = TestVault::new();
    tv.add(&["--witness", "W1"]);
    let out = tv
        .bare_cmd()
        .args(["--no-input", "--vault"])
        .arg(&tv.vault)
        .args(["status", "--json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning"));
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["records"], 1);
    assert_eq!(doc["format_version"], 13);
    assert!(
        doc["signing_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
    assert!(
        doc["signing_key_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
    assert_eq!(doc["keyslots"][0]["weak"], true);
    assert_eq!(doc["keyslots"][0]["kdf_memory_mib"], 1);
}

#[test]
fn a_missing_vault_is_exit_10_before_any_prompt() {
    let tv = TestVault::empty();
    for args in [
        &["list"][..],
        &["status"],
        &["show", "ab"],
        &["search", "x"],
    ] {
        tv.bare_cmd()
            .arg("--vault")
            .arg(&tv.vault)
            .arg("--no-input")
            .args(args)
            .assert()
            .code(10)
            .stderr(predicate::str::contains("tvault init"));
    }
}

#[test]
fn the_default_vault_lives_under_xdg_data_home() {
    let tv = TestVault::empty();
    let data = tv.path("xdg-data");
    tv.bare_cmd()
        .env("XDG_DATA_HOME", &data)
        .arg("--passphrase-file")
        .arg(&tv.pass_file)
        .args([
            "init",
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
            "--allow-weak-kdf",
        ])
        .assert()
        .success();
    assert!(data.join("tvault/vault.tvault").is_file());
    tv.bare_cmd()
        .env("TVAULT_VAULT", data.join("tvault/vault.tvault"))
        .args(["status"])
        .assert()
        .success();
}

#[test]
fn a_wrong_passphrase_is_exit_12_and_changes_nothing() {
    let tv = TestVault::new();
    tv.add(&["--witness", "W1"]);
    let before = tv.vault_bytes();
    let wrong = tv.write("wrong", b"not the passphrase\n");
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(&wrong)
        .arg("list")
        .assert()
        .code(12)
        .stderr(predicate::str::contains(
            "wrong passphrase, or no keyslot matches",
        ));
    assert_eq!(before, tv.vault_bytes());
}

#[test]
fn no_passphrase_source_and_no_terminal_is_exit_14() {
    let tv = TestVault::new();
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["--no-input", "list"])
        .assert()
        .code(14)
        .stderr(predicate::str::contains("--passphrase-file"));
    // Without a controlling terminal at all: setsid detaches from it.
    if std::path::Path::new("/usr/bin/setsid").exists() {
        let status = std::process::Command::new("/usr/bin/setsid")
            .arg("-w")
            .arg(assert_cmd::cargo::cargo_bin("tvault"))
            .arg("--vault")
            .arg(&tv.vault)
            .arg("list")
            .env_remove("TVAULT_PASSPHRASE_FILE")
            .env_remove("TVAULT_PASSPHRASE_COMMAND")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(14));
    }
}

#[test]
fn passphrase_sources_fd_file_env_and_command_all_work() {
    let tv = TestVault::new();
    let vault = tv.vault.to_str().unwrap().to_owned();
    let pass = tv.pass_file.to_str().unwrap().to_owned();
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let bin = bin.to_str().unwrap();
    // An inherited descriptor.
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "'{bin}' --vault '{vault}' --no-input --passphrase-fd 3 list 3<'{pass}'"
        ))
        .env("HOME", tv.path("home"))
        .env_remove("XDG_STATE_HOME")
        .env_remove("TVAULT_ANCHOR_DIR")
        .env_remove("TVAULT_PASSPHRASE_FILE")
        .env_remove("TVAULT_PASSPHRASE_COMMAND")
        .status()
        .unwrap();
    assert!(status.success());
    // The environment names a file.
    tv.bare_cmd()
        .env("TVAULT_PASSPHRASE_FILE", &tv.pass_file)
        .env("TVAULT_VAULT", &tv.vault)
        .args(["--no-input", "list"])
        .assert()
        .success();
    // A command prints it.
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-command")
        .arg(format!("cat '{pass}'"))
        .args(["--no-input", "list"])
        .assert()
        .success();
    // A failing command is exit 14.
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["--passphrase-command", "exit 3", "--no-input", "list"])
        .assert()
        .code(14);
    // The first source wins: a good descriptor beats a wrong file.
    let wrong = tv.write("wrong", b"nope\n");
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "'{bin}' --vault '{vault}' --passphrase-file '{}' --passphrase-fd 3 list 3<'{pass}'",
            wrong.display()
        ))
        .env("HOME", tv.path("home"))
        .env_remove("XDG_STATE_HOME")
        .env_remove("TVAULT_ANCHOR_DIR")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn add_list_show_cat_and_search_round_trip() {
    let tv = TestVault::new();
    let statement = tv.write(
        "statement.txt",
        "They took my brother in March.\nNo one has heard from him.\n".as_bytes(),
    );
    let audio = content(3 * 1024 * 1024 + 17, 1);
    let audio_path = tv.write("interview.mp3", &audio);
    let identity = tv.identity_file("Real Person", Some("+7 000"), &["Persona", "R. P."]);
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--title",
        "Detention of a brother",
        "--interviewer",
        "R.",
        "--date",
        "2024-03-05",
        "--location",
        "Almaty",
        "--language",
        "ug",
        "--tag",
        "detention",
        "--tag",
        "family",
        "--consent",
        "court,un",
        "--identity-level",
        "named",
        "--media-consent",
        "voice",
        "--identity-file",
        &identity,
        "--text-file",
        statement.to_str().unwrap(),
        "--attach",
        audio_path.to_str().unwrap(),
        "--attach",
        audio_path.to_str().unwrap(),
    ]);

    let out = tv.cmd().args(["list", "--json"]).assert().success();
    let list = json(&out.get_output().stdout);
    let rec = &list[0];
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(rec["witness"], "Nightingale");
    assert_eq!(rec["date"], "2024-03-05");
    assert_eq!(rec["tags"], serde_json::json!(["detention", "family"]));
    assert_eq!(
        rec["consent"]["purposes"],
        serde_json::json!(["un", "court"])
    );
    assert_eq!(rec["consent"]["identity_level"], "named");
    assert_eq!(rec["attachments"], 2);
    let listing = serde_json::to_string(&list).unwrap();
    assert!(
        !listing.contains("Real Person"),
        "list never shows identity"
    );

    tv.cmd()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains(&id[..12]).and(predicate::str::contains("Nightingale")));

    // show: a unique prefix is enough; identity only when asked.
    let out = tv
        .cmd()
        .args(["show", &id[..6], "--json"])
        .assert()
        .success();
    let shown = json(&out.get_output().stdout);
    assert_eq!(
        shown["statement"],
        "They took my brother in March.\nNo one has heard from him.\n"
    );
    assert_eq!(shown["metadata"]["location"], "Almaty");
    assert!(shown.get("identity").is_none());
    let names: Vec<&str> = shown["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["interview.mp3", "interview (2).mp3"]);
    let sha = sha256_hex(&audio);
    assert_eq!(shown["attachments"][0]["sha256"], sha.as_str());
    assert_eq!(shown["attachments"][0]["size"], audio.len());
    tv.cmd().args(["show", &id]).assert().success().stdout(
        predicate::str::contains("withheld").and(predicate::str::contains("Real Person").not()),
    );
    let out = tv
        .cmd()
        .args(["show", &id, "--identity", "--json"])
        .assert()
        .success();
    let shown = json(&out.get_output().stdout);
    assert_eq!(shown["identity"]["name"], "Real Person");
    assert_eq!(shown["identity"]["contact"], "+7 000");
    assert_eq!(
        shown["identity"]["aliases"],
        serde_json::json!(["Persona", "R. P."])
    );

    // cat: byte for byte, each attachment by its name.
    assert_eq!(tv.cat(&id, "interview.mp3"), audio);
    assert_eq!(tv.cat(&id, "interview (2).mp3"), audio);
    tv.cmd()
        .args(["cat", &id, "missing.mp3"])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    let out_file = tv.path("out.mp3");
    tv.cmd()
        .args([
            "cat",
            &id,
            "interview.mp3",
            "-o",
            out_file.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert_eq!(std::fs::read(&out_file).unwrap(), audio);
    tv.cmd()
        .args([
            "cat",
            &id,
            "interview.mp3",
            "-o",
            out_file.to_str().unwrap(),
        ])
        .assert()
        .code(15)
        .stderr(predicate::str::contains("never replaces"));

    // search: statements and metadata, case-insensitively; never the identity.
    let out = tv
        .cmd()
        .args(["search", "HEARD FROM", "--json"])
        .assert()
        .success();
    let hits = json(&out.get_output().stdout);
    assert_eq!(hits[0]["id"], id.as_str());
    assert_eq!(hits[0]["field"], "statement");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("heard from him")
    );
    let out = tv
        .cmd()
        .args(["search", "almaty", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out.get_output().stdout)[0]["field"], "location");
    let out = tv
        .cmd()
        .args(["search", "Real Person", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out.get_output().stdout), serde_json::json!([]));
}

#[test]
fn the_statement_can_come_from_stdin() {
    let tv = TestVault::new();
    let out = tv
        .cmd()
        .args(["add", "--witness", "Piped", "--text-file", "-", "--json"])
        .write_stdin("spoken words\n")
        .assert()
        .success();
    let id = json(&out.get_output().stdout)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    assert_eq!(
        json(&out.get_output().stdout)["statement"],
        "spoken words\n"
    );
}

#[test]
fn list_filters_by_tag_witness_and_date() {
    let tv = TestVault::new();
    let a = tv.add(&[
        "--witness",
        "Alpha",
        "--date",
        "2024-01-10",
        "--tag",
        "camp",
    ]);
    let b = tv.add(&[
        "--witness",
        "Beta",
        "--date",
        "2024-06-01",
        "--tag",
        "border",
    ]);
    let c = tv.add(&["--witness", "alpha", "--tag", "camp"]);
    let ids = |args: &[&str]| -> Vec<String> {
        let out = tv
            .cmd()
            .arg("list")
            .args(args)
            .arg("--json")
            .assert()
            .success();
        let mut ids: Vec<String> = json(&out.get_output().stdout)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids(&[]), sorted(vec![a.clone(), b.clone(), c.clone()]));
    assert_eq!(ids(&["--tag", "camp"]), sorted(vec![a.clone(), c.clone()]));
    assert_eq!(
        ids(&["--witness", "ALPHA"]),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(ids(&["--since", "2024-02-01"]), vec![b.clone()]);
    assert_eq!(ids(&["--until", "2024-02-01"]), vec![a.clone()]);
    tv.cmd()
        .args(["list", "--since", "2024-13-01"])
        .assert()
        .code(2);
}

#[test]
fn ids_accept_a_unique_prefix_and_refuse_an_ambiguous_one() {
    let tv = TestVault::new();
    let ids: Vec<String> = (0..20)
        .map(|i| tv.add(&["--witness", &format!("W{i}")]))
        .collect();
    // With 20 random ids, some pair shares its first hex digit.
    let first = ids
        .iter()
        .find(|id| ids.iter().filter(|o| o[..1] == id[..1]).count() > 1)
        .unwrap();
    tv.cmd()
        .args(["show", &first[..1]])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("more than one record"));
    tv.cmd().args(["show", &first[..10]]).assert().success();
}

#[test]
fn sizes_0_1_and_64k_boundaries_round_trip_byte_for_byte() {
    let tv = TestVault::new();
    let sizes = [
        0usize,
        1,
        65_535,
        65_536,
        65_537,
        1024 * 1024 - 1,
        1024 * 1024 + 1,
    ];
    let mut args = vec!["--witness".to_owned(), "Sizes".to_owned()];
    let mut expected = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data = content(size, i as u8);
        let path = tv.write(&format!("f{i}.bin"), &data);
        args.push("--attach".into());
        args.push(path.to_str().unwrap().into());
        expected.push((format!("f{i}.bin"), data));
    }
    let empty_statement = tv.write("empty.txt", b"");
    args.push("--text-file".into());
    args.push(empty_statement.to_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = tv.add(&args);
    for (name, data) in expected {
        assert_eq!(tv.cat(&id, &name), data, "{name}");
    }
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    assert_eq!(json(&out.get_output().stdout)["statement"], "");
}

#[test]
fn non_utf8_statements_and_file_names_get_a_clear_error_and_store_nothing() {
    let tv = TestVault::new();
    let latin1 = tv.write("latin1.txt", b"caf\xe9 au lait\n");
    tv.cmd()
        .args([
            "add",
            "--witness",
            "W",
            "--text-file",
            latin1.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not valid UTF-8").and(predicate::str::contains("iconv")));

    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"r\xe9cit.txt");
    let path = tv.dir.path().join(name);
    std::fs::write(&path, b"data").unwrap();
    tv.cmd()
        .args(["add", "--witness", "W", "--attach"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not valid UTF-8"));
    tv.cmd()
        .args(["add", "--witness", "W", "--attach"])
        .arg(tv.path("does-not-exist"))
        .assert()
        .code(15)
        .stderr(predicate::str::contains("attachment 1"));
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    assert_eq!(json(&out.get_output().stdout), serde_json::json!([]));
}

#[test]
fn usage_errors_are_exit_2() {
    let tv = TestVault::new();
    tv.cmd().args(["add"]).assert().code(2);
    tv.cmd()
        .args(["add", "--witness", "W", "--consent", "press"])
        .assert()
        .code(2);
    tv.cmd()
        .args(["add", "--witness", "W", "--date", "05/03/2024"])
        .assert()
        .code(2);
    tv.cmd()
        .args(["add", "--witness", "W", "--identity-level", "famous"])
        .assert()
        .code(2);
    tv.cmd().args(["frobnicate"]).assert().code(2);
    tv.cmd().args(["show", "not-hex"]).assert().code(2);
    tv.bare_cmd().arg("--help").assert().success();
}

#[test]
fn errors_render_as_json_with_json() {
    let tv = TestVault::empty();
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["--json", "list"])
        .assert()
        .code(10);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stderr).unwrap();
    assert_eq!(doc["error"]["exit_code"], 10);
    assert!(
        doc["error"]["hints"][0]
            .as_str()
            .unwrap()
            .contains("tvault init")
    );
}

#[test]
fn untrusted_text_is_escaped_for_the_terminal() {
    let tv = TestVault::new();
    let id = tv.add(&["--witness", "W", "--title", "evil\u{1b}[2J\u{202e}title"]);
    tv.cmd().args(["show", &id]).assert().success().stdout(
        predicate::str::contains("\\u{1b}[2J\\u{202e}title")
            .and(predicate::str::contains("\u{1b}").not()),
    );
}

#[test]
fn a_second_operator_name_does_not_unlock() {
    let tv = TestVault::empty();
    tv.init().args(["--operator", "amina"]).assert().success();
    tv.cmd()
        .args(["--operator", "amina", "list"])
        .assert()
        .success();
    tv.cmd()
        .args(["--operator", "someone-else", "list"])
        .assert()
        .code(12);
    let id = tv.add(&["--witness", "W"]);
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    assert_eq!(json(&out.get_output().stdout)["operator"], "amina");
}

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let tv = TestVault::new();
    let id = tv.add(&[
        "--witness",
        "W",
        "--attach",
        tv.write("big.bin", &content(2 << 20, 3)).to_str().unwrap(),
    ]);
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --vault '{}' --passphrase-file '{}' cat {id} big.bin | head -c 10 >/dev/null",
            bin.display(),
            tv.vault.display(),
            tv.pass_file.display()
        ))
        .env("HOME", tv.path("home"))
        .status()
        .unwrap();
    assert!(status.success());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn a_vault_held_by_another_process_is_exit_11() {
    let tv = TestVault::new();
    let conn = tv.conn();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    tv.cmd()
        .args(["add", "--witness", "W"])
        .assert()
        .code(11)
        .stderr(predicate::str::contains("busy"));
    conn.execute_batch("ROLLBACK").unwrap();
    tv.cmd().args(["add", "--witness", "W"]).assert().success();
}

#[test]
fn cat_refuses_to_write_to_a_terminal() {
    // `script` runs the command on a pseudo-terminal.
    if !std::path::Path::new("/usr/bin/script").exists() {
        return;
    }
    let tv = TestVault::new();
    let id = tv.add(&[
        "--witness",
        "W",
        "--attach",
        tv.write("a.bin", b"\x1b[2Jbytes").to_str().unwrap(),
    ]);
    let command = format!(
        "'{}' --vault '{}' --passphrase-file '{}' cat {id} a.bin",
        assert_cmd::cargo::cargo_bin("tvault").display(),
        tv.vault.display(),
        tv.pass_file.display()
    );
    let out = std::process::Command::new("/usr/bin/script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", tv.path("home"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("refusing to write an attachment to the terminal"),
        "{shown}"
    );
    assert!(!shown.contains("bytes"));
}

#[test]
fn a_statement_over_the_limit_is_refused_with_a_hint() {
    let tv = TestVault::new();
    let big = tv.write("huge.txt", &vec![b'a'; 64 * 1024 * 1024 + 1]);
    tv.cmd()
        .args([
            "add",
            "--witness",
            "W",
            "--text-file",
            big.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("larger than").and(predicate::str::contains("--attach")));
}

#[test]
fn tvault_alone_says_what_to_do_next() {
    let tv = TestVault::empty();
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .assert()
        .success()
        .stdout(predicate::str::contains("tvault init"));
    tv.init().assert().success();
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("0 record(s)") && text.contains("tvault add"),
        "{text}"
    );
}

#[test]
fn completions_man_and_paths_need_no_vault() {
    let tv = TestVault::empty();
    for (shell, marker) in [
        ("bash", "_tvault()"),
        ("zsh", "#compdef tvault"),
        ("fish", "complete -c tvault"),
        ("elvish", "tvault"),
        ("powershell", "tvault"),
    ] {
        tv.bare_cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker).and(predicate::str::contains("export")));
    }
    tv.bare_cmd()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH tvault 1"));
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["status", "--paths", "--json"])
        .assert()
        .success();
    let paths = json(&out.get_output().stdout);
    assert_eq!(paths["vault"], tv.vault.to_str().unwrap());
    assert_eq!(paths["vault_exists"], false);
    assert!(
        paths["anchor_dir"]
            .as_str()
            .unwrap()
            .ends_with(".local/state/tvault/anchors")
    );
}

#[test]
fn doctor_checks_without_a_passphrase_and_names_nothing() {
    let tv = TestVault::empty();
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .arg("doctor")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fail  vault"));
    tv.init()
        .args(["--operator", "CanaryDoctorOperator"])
        .assert()
        .success();
    tv.add(&["--witness", "CanaryDoctorWitness"]);
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["doctor", "--json"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!text.contains("CanaryDoctor"), "{text}");
    let report = json(text.as_bytes());
    let checks = report["checks"].as_array().unwrap();
    let integrity = checks
        .iter()
        .find(|c| c["check"] == "SQLite integrity check")
        .unwrap();
    assert_eq!(integrity["status"], "ok");
    let file = checks.iter().find(|c| c["check"] == "vault file").unwrap();
    assert_eq!(file["status"], "ok", "the vault is 0600");
    let history = checks
        .iter()
        .find(|c| c["check"] == "shell history")
        .unwrap();
    assert_eq!(history["status"], "ok", "no history file in this HOME");
}

#[test]
fn doctor_warns_of_a_shell_history_file_on_disk() {
    let tv = TestVault::new();
    let home = tv.path("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".bash_history"), "ls\n").unwrap();
    let doctor = || {
        let mut cmd = tv.bare_cmd();
        cmd.env_remove("HISTFILE").arg("--vault").arg(&tv.vault);
        cmd
    };
    doctor().arg("doctor").assert().success().stdout(
        predicate::str::contains("warn  shell history").and(
            predicate::str::contains("HISTCONTROL=ignorespace")
                .and(predicate::str::contains("unset HISTFILE")),
        ),
    );
    let out = doctor().args(["doctor", "--json"]).assert().success();
    let report = json(&out.get_output().stdout);
    let history = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "shell history")
        .unwrap()
        .clone();
    assert_eq!(history["status"], "warn");
    assert!(
        history["detail"]
            .as_str()
            .unwrap()
            .contains(".bash_history")
    );
}

#[test]
fn commands_that_change_keys_or_write_files_report_in_json_too() {
    let tv = TestVault::new();
    let a = tv.write("a.bin", b"attachment");
    let id = tv.add(&["--witness", "W", "--attach", a.to_str().unwrap()]);
    let second = tv.write("second", b"seventeen purple walruses debate quantum tea\n");
    let run = |args: &[&str]| {
        let out = tv.cmd().arg("--json").args(args).assert().success();
        json(&out.get_output().stdout)
    };
    let out = tv.path("out.bin");
    assert_eq!(
        run(&["cat", &id, "a.bin", "-o", out.to_str().unwrap()])["bytes"],
        10
    );
    let added = run(&[
        "operator",
        "add",
        "bakhyt",
        "--new-passphrase-file",
        second.to_str().unwrap(),
    ]);
    assert_eq!(added["operator"], "bakhyt");
    assert_eq!(run(&["operator", "remove", "bakhyt"])["removed"], true);
    let pass = tv.pass_file.to_str().unwrap().to_owned();
    assert_eq!(
        run(&["passphrase", "change", "--new-passphrase-file", &pass])["passphrase_changed"],
        true
    );
    let cp = tv.path("cp");
    assert!(run(&["audit", "checkpoint", "-o", cp.to_str().unwrap()])["tree_size"].is_u64());
    assert_eq!(run(&["destroy", "--yes"])["destroyed"], true);
}

/// Every exit code a command can end with (README.md, "Exit codes") comes with a message and at
/// least one concrete next step, as text and, with `--json`, as one JSON object on stderr.
/// Code 3 (partial success) is reserved: no command reports it yet. Code 130 is the shell's
/// report of Ctrl-C, which ends tvault by the signal itself.
#[test]
fn every_exit_code_has_a_message_and_a_next_step() {
    let tv = TestVault::new();
    let wrong = tv.write("wrong", b"not the passphrase of this vault\n");
    let garbage = tv.write("garbage.tvault", &common::content(8192, 13));
    let missing = tv.path("missing.tvault");
    let attach_missing = tv.path("no-such-file").display().to_string();
    // (code, vault, passphrase file, arguments)
    let cases: Vec<(i32, &std::path::Path, &std::path::Path, Vec<&str>)> = vec![
        (1, &tv.vault, &tv.pass_file, vec!["show", "abcdef"]),
        (2, &tv.vault, &tv.pass_file, vec!["list", "--no-such-flag"]),
        (10, &missing, &tv.pass_file, vec!["list"]),
        (12, &tv.vault, &wrong, vec!["list"]),
        (13, &garbage, &tv.pass_file, vec!["list"]),
        (
            15,
            &tv.vault,
            &tv.pass_file,
            vec!["add", "--witness", "W", "--attach", &attach_missing],
        ),
    ];
    let check = |code: i32, stderr: &[u8], json: bool, what: &str| {
        let text = String::from_utf8_lossy(stderr);
        if json {
            let doc: serde_json::Value = serde_json::from_str(text.trim())
                .unwrap_or_else(|e| panic!("{what}: stderr is not one JSON object ({e}): {text}"));
            assert_eq!(doc["error"]["exit_code"], code, "{what}");
            assert!(
                !doc["error"]["message"].as_str().unwrap().is_empty(),
                "{what}"
            );
            assert!(
                !doc["error"]["hints"].as_array().unwrap().is_empty(),
                "{what}: {text}"
            );
        } else if code == 2 {
            // clap's own usage message, with its pointer to --help.
            assert!(
                text.starts_with("error: ") && text.contains("--help"),
                "{what}: {text}"
            );
        } else {
            assert!(text.starts_with("error: "), "{what}: {text}");
            assert!(text.contains("\nhint: "), "{what}: {text}");
        }
    };
    for (code, vault, pass, args) in &cases {
        for json in [false, true] {
            let mut cmd = tv.bare_cmd();
            cmd.arg("--vault")
                .arg(vault)
                .arg("--passphrase-file")
                .arg(pass);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(*code), "{args:?}");
            check(*code, &out.stderr, json, &format!("{args:?} json={json}"));
        }
    }

    // 11: another process holds the vault.
    let conn = tv.conn();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for json in [false, true] {
        let mut cmd = tv.cmd();
        if json {
            cmd.arg("--json");
        }
        let out = cmd.args(["add", "--witness", "W"]).output().unwrap();
        assert_eq!(out.status.code(), Some(11));
        check(11, &out.stderr, json, "busy");
    }
    conn.execute_batch("ROLLBACK").unwrap();

    // 14: a passphrase is needed and there is no way to ask for it.
    for json in [false, true] {
        let mut cmd = tv.bare_cmd();
        cmd.arg("--vault").arg(&tv.vault).arg("--no-input");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg("list").output().unwrap();
        assert_eq!(out.status.code(), Some(14));
        check(14, &out.stderr, json, "no secret source");
    }
}

/// Writes `text` as the config file where tvault looks for it in the test's clean environment
/// (`$HOME/.config/tvault/config.toml`), private to the user.
fn write_config(tv: &TestVault, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = tv.path("home/.config/tvault/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn the_config_file_gives_defaults_and_flags_and_environment_win() {
    let tv = TestVault::new();
    tv.add(&["--witness", "W", "--consent", "court"]);
    let identity = age::x25519::Identity::generate();
    let key_file = tv.write(
        "age.key",
        secrecy::ExposeSecret::expose_secret(&identity.to_string()).as_bytes(),
    );
    let config = write_config(
        &tv,
        &format!(
            "# defaults for this laptop\nvault = \"{}\"\nanchor_dir = \"~/anchors\"\n\n[export]\nrecipients = [\"{}\"]\n",
            tv.vault.display(),
            identity.to_public()
        ),
    );
    let with_pass = || {
        let mut cmd = tv.bare_cmd();
        cmd.arg("--passphrase-file").arg(&tv.pass_file);
        cmd
    };

    // The vault and anchor folder come from the config file.
    let out = with_pass()
        .args(["status", "--paths", "--json"])
        .assert()
        .success();
    let paths: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(paths["vault"], tv.vault.to_str().unwrap());
    assert_eq!(
        paths["anchor_dir"],
        tv.path("home/anchors").to_str().unwrap()
    );
    assert_eq!(paths["config"], config.to_str().unwrap());
    assert_eq!(paths["config_exists"], true);
    // The anchor folder changed: the anchor written before is not there, and that stops the
    // vault until the user says it is expected.
    with_pass().arg("list").assert().code(13);
    with_pass()
        .args(["--accept-missing-anchor", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("W"));

    // The environment beats the config file, and a flag beats the environment.
    let elsewhere = tv.path("elsewhere.tvault");
    with_pass()
        .env("TVAULT_VAULT", &elsewhere)
        .arg("list")
        .assert()
        .code(10)
        .stderr(predicate::str::contains("elsewhere.tvault"));
    with_pass()
        .env("TVAULT_VAULT", &elsewhere)
        .arg("--vault")
        .arg(&tv.vault)
        .arg("list")
        .assert()
        .success();

    // `export` seals to the config file's recipients when none is given, and says so.
    let bundle = tv.path("bundle.tar");
    with_pass()
        .args(["export", "--all", "--purpose", "court", "-o"])
        .arg(&bundle)
        .assert()
        .success()
        .stderr(predicate::str::contains("recipient(s) of the config file"));
    with_pass()
        .arg("open-export")
        .arg(&bundle)
        .arg("--into")
        .arg(tv.path("opened"))
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &common::signer(&tv)])
        .assert()
        .success();
}

#[test]
fn a_bad_or_unsafe_config_file_stops_with_a_hint() {
    use std::os::unix::fs::PermissionsExt;
    let tv = TestVault::new();
    let config = write_config(&tv, "vault = \"/tmp/x.tvault\"\npassphrase = \"no\"\n");
    tv.cmd().arg("list").assert().code(2).stderr(
        predicate::str::contains("unknown field `passphrase`")
            .and(predicate::str::contains("hint:")),
    );
    write_config(&tv, "vault = \"/tmp/x.tvault\"\noperator = [1, 2\n");
    tv.cmd()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 2"));
    write_config(&tv, "vault = \"relative/x.tvault\"\n");
    tv.cmd()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("absolute path"));
    write_config(&tv, "operator = \"A\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    tv.cmd()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("chmod go-w"));
    // Completions and the manual need no config.
    tv.cmd().args(["completions", "bash"]).assert().success();
}

/// Runs `tvault ARGS` for `tv` on a pseudo-terminal (util-linux `script`) with nothing typed,
/// returning what the terminal showed (stdout and stderr together).
fn on_terminal(tv: &TestVault, args: &str) -> String {
    on_terminal_typed(tv, args, "", &[])
}

#[test]
fn progress_bars_show_on_a_terminal_only_and_quiet_silences_them() {
    let tv = TestVault::new();
    let big = tv.write("big.bin", &content(8 << 20, 21));
    // Three empty answers skip the identity prompts; the end of input ends the statement.
    let shown = on_terminal_typed(
        &tv,
        &format!("add --witness W --attach '{}'", big.display()),
        "\n\n\n",
        &[],
    );
    assert!(shown.contains("encrypting ["), "{shown}");
    assert!(
        shown.contains("Stored record"),
        "the summary line stays: {shown}"
    );
    let quiet = on_terminal_typed(
        &tv,
        &format!("-q add --witness W --attach '{}'", big.display()),
        "\n\n\n",
        &[],
    );
    assert!(!quiet.contains("encrypting"), "{quiet}");
    assert!(on_terminal(&tv, "verify").contains("verifying ["));
    // Not a terminal: no bar, only the summary.
    let out = tv
        .cmd()
        .args(["add", "--witness", "W", "--attach"])
        .arg(&big)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("encrypting"));
}

/// Runs `tvault ARGS` for `tv` on a pseudo-terminal (util-linux `script`), with `input` typed
/// on it and extra environment; returns what the terminal showed (stdout and stderr together).
fn on_terminal_typed(tv: &TestVault, args: &str, input: &str, env: &[(&str, &str)]) -> String {
    use std::io::Write;
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let line = format!(
        "'{}' --vault '{}' --passphrase-file '{}' {args}",
        bin.display(),
        tv.vault.display(),
        tv.pass_file.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", tv.path("home"))
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{line}: {shown}");
    shown
}

fn shown_record(tv: &TestVault, shown: &str) -> serde_json::Value {
    let id = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("Stored record "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no record stored: {shown}"))
        .to_owned();
    let out = tv.cmd().args(["show", &id, "--json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn add_on_a_terminal_asks_for_each_field_and_takes_the_statement_as_typed() {
    let tv = TestVault::new();
    let typed = "Nightingale\nThe night of the raid\n2026-13-01\n2026-11-02\nKashgar\nug\n\
                 archive,nowhere\narchive,court\nAmina Qasim\n\nAmi, A. Q.\n\
                 They came at night.\nSecond line: ünïcödé.\n.\n";
    let shown = on_terminal_typed(&tv, "add", typed, &[]);
    assert!(
        !shown.contains("Seal and store it?"),
        "a vault can show the statement again: {shown}"
    );
    assert!(
        shown.contains("expected a date"),
        "a bad date is asked again: {shown}"
    );
    let record = shown_record(&tv, &shown);
    assert_eq!(record["metadata"]["witness"], "Nightingale");
    assert_eq!(record["metadata"]["title"], "The night of the raid");
    assert_eq!(record["metadata"]["date"], "2026-11-02");
    assert_eq!(record["metadata"]["location"], "Kashgar");
    assert_eq!(
        record["metadata"]["consent"]["purposes"],
        serde_json::json!(["archive", "court"])
    );
    assert_eq!(
        record["statement"],
        "They came at night.\nSecond line: ünïcödé.\n"
    );
    let id = record["id"].as_str().unwrap();
    let out = tv
        .cmd()
        .args(["show", id, "--identity", "--json"])
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown["identity"]["name"], "Amina Qasim");
    assert!(shown["identity"]["contact"].is_null());
    assert_eq!(
        shown["identity"]["aliases"],
        serde_json::json!(["Ami", "A. Q."])
    );

    // With the witness given, the identity (each part may be skipped) and the statement are
    // asked for; ending at once stores none.
    let shown = on_terminal_typed(&tv, "add --witness Lark", "\n\n\n.\n", &[]);
    let record = shown_record(&tv, &shown);
    assert_eq!(record["metadata"]["witness"], "Lark");
    assert!(record["statement"].is_null(), "{record}");
    let id = record["id"].as_str().unwrap();
    tv.cmd()
        .args(["show", id, "--identity"])
        .assert()
        .success()
        .stdout(predicate::str::contains("none recorded"));

    // Without a terminal, a missing --witness is a usage error with a hint.
    tv.cmd()
        .arg("add")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--witness").and(predicate::str::contains("hint:")));
}

#[test]
fn add_editor_writes_only_to_ram_and_removes_the_file() {
    let tv = TestVault::new();
    let record_path = tv.path("edited-path");
    let editor = tv.write(
        "fake-editor",
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}'\nprintf 'Written in the editor.\\n' > \"$1\"\n",
            record_path.display()
        )
        .as_bytes(),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o700)).unwrap();
    let shown = on_terminal_typed(
        &tv,
        "add --witness Wren --editor",
        "\n\n\n",
        &[("EDITOR", editor.to_str().unwrap()), ("VISUAL", "")],
    );
    let record = shown_record(&tv, &shown);
    assert_eq!(record["statement"], "Written in the editor.\n");
    let used = std::fs::read_to_string(&record_path).unwrap();
    assert!(used.starts_with("/dev/shm/tvault-edit-") || used.contains("/tvault-edit-"));
    let used = std::path::Path::new(&used);
    assert!(!used.exists(), "the editor's file is removed");
    assert!(!used.parent().unwrap().exists(), "and its folder");
    // An editor that saves nothing (or returns at once) stores nothing unless confirmed.
    let (ok, shown) = dialogue(
        &tv,
        &format!(
            "--vault '{}' --passphrase-file '{}' add --witness Wren --editor",
            tv.vault.display(),
            tv.pass_file.display()
        ),
        &[("EDITOR", "true"), ("VISUAL", "")],
        &[
            ("Real name: ", ""),
            ("Contact: ", ""),
            ("comma-separated: ", ""),
            ("Store the record without a statement?", "n"),
        ],
    );
    assert!(!ok && shown.contains("nothing was stored"), "{shown}");
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    let listed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "only the first record");

    // Not on a terminal: refused before anything is made.
    tv.cmd()
        .args(["add", "--witness", "W", "--editor"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs a terminal"));
}

#[test]
fn add_editor_removes_every_side_file_overwritten_and_keeps_vim_from_writing_any() {
    use std::os::unix::fs::PermissionsExt;
    let tv = TestVault::new();
    // The scratch folder goes on /dev/shm; links made from it to a folder beside it (the same
    // filesystem) keep what tvault leaves in each file once it removes the folder.
    let keep = tempfile::tempdir_in("/dev/shm").unwrap();
    let outside = tv.write("outside.txt", b"not the editor's: must survive\n");
    let args_file = tv.path("editor-args");
    let bin = tv.path("bin");
    std::fs::create_dir(&bin).unwrap();
    // Named `vim`, so tvault adds the options that turn vim's side files off; it writes the
    // side files of several editors itself.
    let editor = bin.join("vim");
    std::fs::write(
        &editor,
        format!(
            r#"#!/bin/sh
set -e
for a in "$@"; do printf '%s\n' "$a"; done > '{args}'
printf 'TMPDIR=%s\n' "$TMPDIR" >> '{args}'
file=$(eval "printf '%s' \"\${{$#}}\"")
dir=$(dirname "$file")
printf 'Written in the editor.\n' > "$file"
printf 'SideCanary swap\n' > "$dir/.statement.txt.swp"
printf 'SideCanary backup\n' > "$dir/statement.txt~"
printf 'SideCanary autosave\n' > "$dir/#statement.txt#"
printf 'SideCanary lock\n' > "$dir/.~lock.statement.txt#"
mkdir "$dir/undo"
printf 'SideCanary undo\n' > "$dir/undo/.statement.txt.un~"
tmp=${{TMPDIR:-$dir}}
printf 'SideCanary filter\n' > "$tmp/filter-output"
ln -s '{outside}' "$dir/.#statement.txt"
n=0
for f in "$file" "$dir/.statement.txt.swp" "$dir/statement.txt~" "$dir/#statement.txt#" \
         "$dir/.~lock.statement.txt#" "$dir/undo/.statement.txt.un~" "$tmp/filter-output"; do
    n=$((n + 1)); ln "$f" '{keep}/'$n
done
"#,
            args = args_file.display(),
            outside = outside.display(),
            keep = keep.path().display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o700)).unwrap();
    let shown = on_terminal_typed(
        &tv,
        "add --witness Wren --editor",
        "\n\n\n",
        &[
            ("EDITOR", editor.to_str().unwrap()),
            ("VISUAL", ""),
            ("XDG_RUNTIME_DIR", "/dev/shm"),
        ],
    );
    let record = shown_record(&tv, &shown);
    assert_eq!(record["statement"], "Written in the editor.\n");

    let args = std::fs::read_to_string(&args_file).unwrap();
    let args: Vec<&str> = args.lines().collect();
    let file = std::path::Path::new(args[args.len() - 2]);
    let dir = file.parent().unwrap();
    assert!(dir.starts_with("/dev/shm") && file.ends_with("statement.txt"));
    assert_eq!(
        args[..args.len() - 2],
        [
            "-n",
            "-i",
            "NONE",
            "-c",
            "set nobackup nowritebackup noundofile",
            "-c",
            "setlocal noswapfile"
        ]
    );
    assert_eq!(args[args.len() - 1], format!("TMPDIR={}", dir.display()));
    assert!(
        !dir.exists(),
        "the scratch folder and every side file are removed"
    );
    let kept = common::files_under(keep.path());
    assert_eq!(kept.len(), 7);
    for k in &kept {
        let bytes = std::fs::read(k).unwrap();
        assert!(
            !bytes.is_empty() && bytes.iter().all(|&b| b == 0),
            "{} was removed without being overwritten: {:?}",
            k.display(),
            String::from_utf8_lossy(&bytes)
        );
    }
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"not the editor's: must survive\n",
        "a link is removed, never followed"
    );

    // The real vim, where installed, with a vimrc that asks for a backup, an undo file and a
    // viminfo (registers, that is statement text, in the home folder on disk): none is written.
    let Some(vim) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("vim"))
            .find(|vim| vim.is_file())
    }) else {
        eprintln!("vim is not installed (.ci/run installs it): its part of this test was skipped");
        return;
    };
    let home = tv.path("home");
    std::fs::write(
        home.join(".vimrc"),
        "set backup backupdir=. undofile undodir=. viminfo='100,<50\n",
    )
    .unwrap();
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\" -c 'normal iWritten in vim.' -c 'normal yy' -c 'wq'\n",
            vim.display()
        ),
    )
    .unwrap();
    let shown = on_terminal_typed(
        &tv,
        "add --witness Wren --editor",
        "\n\n\n",
        &[("EDITOR", editor.to_str().unwrap()), ("VISUAL", "")],
    );
    let record = shown_record(&tv, &shown);
    assert_eq!(record["statement"], "Written in vim.\n");
    let vim_files: Vec<_> = common::files_under(&home)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("vim") && !p.ends_with(".vimrc"))
        .collect();
    assert!(vim_files.is_empty(), "vim wrote {vim_files:?}");
}

#[test]
fn add_on_a_kit_shows_the_typed_statement_once_before_sealing_it() {
    let hq = TestVault::new();
    let kit = TestVault::kit(&hq, "east");
    let args = format!(
        "--vault '{}' --passphrase-file '{}' add --witness Wren",
        kit.vault.display(),
        kit.pass_file.display()
    );
    // A line of the statement holds an escape sequence: shown back escaped.
    let typed = "They came at night.\nSecond line \x1b[2J ünïcödé.\n.";
    let turns = |answer| {
        [
            ("Real name: ", ""),
            ("Contact: ", ""),
            ("comma-separated: ", ""),
            ("End at once for none.", typed),
            ("Seal and store it? [y/N] ", answer),
        ]
    };
    let review = "The statement as typed, to review before it is sealed:";
    let (ok, shown) = dialogue(&kit, &args, &[], &turns("y"));
    assert!(ok, "{shown}");
    // The terminal echoes what is typed; then tvault shows it back, once, before asking.
    let (_, after_typing) = shown
        .split_once(review)
        .expect("the statement is shown back");
    let (reviewed, after_sealing) = after_typing
        .split_once("Seal and store it?")
        .expect("and sealing is asked for");
    assert_eq!(
        reviewed.matches("They came at night.").count(),
        1,
        "{shown}"
    );
    assert!(
        reviewed.contains("Second line \\u{1b}[2J ünïcödé."),
        "{reviewed}"
    );
    assert!(
        reviewed.contains("Once sealed, this kit cannot show it again"),
        "{reviewed}"
    );
    assert!(after_sealing.contains("Stored record"), "{shown}");
    assert!(
        !after_sealing.contains("came at night") && !after_sealing.contains("Second line"),
        "nothing of the statement after sealing: {after_sealing}"
    );
    assert_eq!(kit.ids().len(), 1);

    // Anything but y stores nothing.
    let (ok, shown) = dialogue(&kit, &args, &[], &turns("n"));
    assert!(!ok && shown.contains("nothing was stored"), "{shown}");
    assert_eq!(kit.ids().len(), 1, "only the first record");
}

/// Runs `tvault ARGS` on a pseudo-terminal and answers its prompts in turn: each answer is
/// typed only once the text before it has appeared (a passphrase prompt drops anything typed
/// early). Returns everything the terminal showed.
fn dialogue(
    tv: &TestVault,
    args: &str,
    env: &[(&str, &str)],
    turns: &[(&str, &str)],
) -> (bool, String) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let line = format!("'{}' {args}", bin.display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", tv.path("home"))
        .env("TERM", "xterm")
        .env_remove("TVAULT_VAULT")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = 0;
    for (prompt, answer) in turns {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let text = shown.lock().unwrap().clone();
            if let Some(at) = text[seen..].find(prompt) {
                seen += at + prompt.len();
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt {prompt:?} in: {text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let text = shown.lock().unwrap().clone();
    (status.success(), text)
}

#[test]
fn init_on_a_terminal_walks_through_location_and_passphrase() {
    let tv = TestVault::empty();
    let chosen = tv.path("field.tvault");
    let strong = "granite lantern orchard whistle copper meadow";
    let (ok, shown) = dialogue(
        &tv,
        "init --no-recovery-code --kdf-memory-mib 8 --kdf-iterations 1 --kdf-parallelism 1 --allow-weak-kdf",
        &[],
        &[
            ("Where should the vault file be?", chosen.to_str().unwrap()),
            ("New vault passphrase: ", "password1"),
            ("New vault passphrase: ", strong),
            ("Repeat it: ", "not the same"),
            ("New vault passphrase: ", strong),
            ("Repeat it: ", strong),
        ],
    );
    assert!(ok, "{shown}");
    assert!(shown.contains("too easy to guess"), "{shown}");
    assert!(shown.contains("The two differ"), "{shown}");
    assert!(chosen.exists());
    assert!(
        shown.contains("--vault"),
        "next steps name the chosen vault: {shown}"
    );
    assert!(shown.contains("tvault --vault"), "{shown}");
    std::fs::write(&tv.pass_file, format!("{strong}\n")).unwrap();
    tv.bare_cmd()
        .arg("--vault")
        .arg(&chosen)
        .arg("--passphrase-file")
        .arg(&tv.pass_file)
        .arg("list")
        .assert()
        .success();

    // Enter at the passphrase prompt: one is generated, shown once, typed back.
    let tv = TestVault::empty();
    let (ok, shown) = dialogue(
        &tv,
        "init --no-recovery-code --kdf-memory-mib 8 --kdf-iterations 1 --kdf-parallelism 1 --allow-weak-kdf",
        &[],
        &[
            ("Where should the vault file be?", ""),
            ("New vault passphrase: ", ""),
            ("Type it to confirm: ", "wrong words"),
        ],
    );
    assert!(!ok, "a wrong confirmation makes no vault: {shown}");
    assert!(shown.contains("shown only this once"), "{shown}");
    assert!(!tv.path("home/.local/share/tvault/vault.tvault").exists());
}
