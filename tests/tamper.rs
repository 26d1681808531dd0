//! Tampering with the vault file: real bytes flipped in the real file, rows moved, truncated
//! or deleted. Every case ends in an integrity error (13) or a clean unlock failure (12), or
//! (for `list` and `search`, which read the listing digest) in the intact stored content:
//! never different plaintext, never a panic.

mod common;

use common::{TestVault, content};
use predicates::prelude::*;

/// Flips one bit of the file byte that holds `blob[at]`, found by searching the file for the
/// 32 bytes of the blob around it (large blobs span overflow pages, so a window is used).
fn flip_in_file(tv: &TestVault, blob: &[u8], at: usize) {
    let start = at.saturating_sub(16).min(blob.len().saturating_sub(32));
    let window = &blob[start..start + 32.min(blob.len())];
    let mut file = tv.vault_bytes();
    let positions: Vec<usize> = file
        .windows(window.len())
        .enumerate()
        .filter(|(_, w)| *w == window)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positions.len(), 1, "the window is unique in the file");
    file[positions[0] + (at - start)] ^= 0x10;
    std::fs::write(&tv.vault, file).unwrap();
}

fn blob(tv: &TestVault, sql: &str) -> Vec<u8> {
    tv.conn().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn no_panic(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn record_with_attachment(tv: &TestVault, data: &[u8]) -> String {
    let st = tv.write("st.txt", b"The statement of the witness.\n");
    let att = tv.write("a.bin", data);
    tv.add(&[
        "--witness",
        "W",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ])
}

#[test]
fn a_flipped_payload_byte_is_caught_and_only_authenticated_bytes_are_released() {
    let data = content(3 * 1024 * 1024 + 100, 9);
    for (seq, at) in [(0, 100), (0, 70_000), (1, 500_000), (3, 10)] {
        let tv = TestVault::new();
        let id = record_with_attachment(&tv, &data);
        let chunk = blob(
            &tv,
            &format!(
                "SELECT data FROM chunk JOIN part ON part.id = chunk.part_id WHERE part_no = 1 AND seq = {seq}"
            ),
        );
        flip_in_file(&tv, &chunk, at.min(chunk.len() - 1));
        let out = tv.cmd().args(["cat", &id, "a.bin"]).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13), "chunk {seq} byte {at}");
        assert!(
            data.starts_with(&out.stdout),
            "released bytes are a true prefix"
        );
        assert!(out.stdout.len() < data.len());
    }
}

#[test]
fn a_flipped_statement_byte_is_caught() {
    let tv = TestVault::new();
    let id = record_with_attachment(&tv, b"x");
    let chunk = blob(
        &tv,
        "SELECT data FROM chunk JOIN part ON part.id = chunk.part_id WHERE part_no = 0 AND seq = 0",
    );
    flip_in_file(&tv, &chunk, 40);
    for args in [&["show", id.as_str()][..], &["verify"]] {
        let out = tv.cmd().args(args).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("statement of"));
    }
    // `search` reads the listing digest, whose sealed copy of the text is intact: it finds
    // what was stored, never the damaged bytes; once the digest is gone it reads the part.
    tv.cmd().args(["search", "zzz"]).assert().success();
    tv.conn().execute("DELETE FROM digest", []).unwrap();
    let out = tv.cmd().args(["search", "zzz"]).output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));
}

#[test]
fn a_flipped_header_row_byte_is_caught() {
    // Positions across the stanza line, the wrapped key body and the header MAC.
    for at in [25, 40, 60, 90, 120] {
        let tv = TestVault::new();
        let id = record_with_attachment(&tv, &content(10_000, 2));
        let header = blob(&tv, "SELECT header FROM part WHERE part_no = 1");
        assert!(header.starts_with(b"age-encryption.org/v1\n-> tvault "));
        let at = at.min(header.len() - 2);
        flip_in_file(&tv, &header, at);
        let out = tv.cmd().args(["cat", &id, "a.bin"]).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13), "header byte {at}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_flipped_metadata_or_identity_byte_is_caught() {
    let tv = TestVault::new();
    let identity = tv.identity_file("Someone", None, &[]);
    let id = tv.add(&["--witness", "W", "--identity-file", &identity]);
    let meta = blob(&tv, "SELECT meta FROM record_version");
    flip_in_file(&tv, &meta, 100);
    for args in [&["show", id.as_str()][..], &["verify"]] {
        let out = tv.cmd().args(args).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13));
    }
    // `list` shows the digest's intact sealed copy; without it, it must open the damaged row.
    tv.cmd().arg("list").assert().success();
    tv.conn().execute("DELETE FROM digest", []).unwrap();
    let out = tv.cmd().arg("list").output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));

    let tv = TestVault::new();
    let identity = tv.identity_file("Someone", None, &[]);
    let id2 = tv.add(&["--witness", "W", "--identity-file", &identity]);
    let identity = blob(&tv, "SELECT identity FROM record_version");
    flip_in_file(&tv, &identity, 50);
    tv.cmd().args(["show", &id2]).assert().success();
    tv.cmd()
        .args(["show", &id2, "--identity"])
        .assert()
        .code(13)
        .stdout(predicate::str::contains("Someone").not());
    let _ = id;
}

#[test]
fn a_flipped_keyslot_byte_is_a_clean_unlock_failure() {
    for (column, at) in [
        ("wrapped_vmk", 10),
        ("wrapped_vmk", 50),
        ("salt", 5),
        ("label", 30),
    ] {
        let tv = TestVault::new();
        tv.add(&["--witness", "W"]);
        let value = blob(&tv, &format!("SELECT {column} FROM keyslot"));
        flip_in_file(&tv, &value, at);
        let out = tv.cmd().arg("list").output().unwrap();
        no_panic(&out);
        let code = out.status.code();
        assert!(
            code == Some(12) || code == Some(13),
            "{column}[{at}]: {code:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn edited_kdf_parameters_fail_to_unlock_and_absurd_ones_are_refused_fast() {
    let tv = TestVault::new();
    tv.conn()
        .execute("UPDATE keyslot SET kdf_t = 2", [])
        .unwrap();
    tv.cmd().arg("list").assert().code(12);

    let tv = TestVault::new();
    tv.conn()
        .execute("UPDATE keyslot SET kdf_m_kib = 4294967295", [])
        .unwrap();
    let started = std::time::Instant::now();
    tv.cmd()
        .arg("list")
        .assert()
        .code(13)
        .stderr(predicate::str::contains("KDF parameters"));
    // Refused before any allocation: far quicker than deriving with 4 TiB would be.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    let tv = TestVault::new();
    tv.conn()
        .execute("UPDATE keyslot SET kdf_p = 1000", [])
        .unwrap();
    tv.cmd().arg("list").assert().code(13);
}

#[test]
fn an_added_keyslot_is_caught_by_the_header_mac() {
    let tv = TestVault::new();
    // Copy the slot under a new id: it opens with the same passphrase, but the keyslot table
    // no longer matches its MAC.
    tv.conn()
        .execute(
            "INSERT INTO keyslot (slot_id, kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf, salt,
                                  wrapped_vmk, label)
             SELECT randomblob(16), kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf,
             salt, wrapped_vmk, label FROM keyslot",
            [],
        )
        .unwrap();
    let out = tv.cmd().arg("list").output().unwrap();
    no_panic(&out);
    assert!(matches!(out.status.code(), Some(12 | 13)));
}

#[test]
fn a_part_moved_onto_another_record_fails_authentication() {
    let tv = TestVault::new();
    let a_data = content(5000, 1);
    let a = record_with_attachment(&tv, &a_data);
    let b = record_with_attachment(&tv, &content(5000, 2));
    let conn = tv.conn();
    let id_bytes = |id: &str| hex::decode(id).unwrap();
    // Remove b's own attachment, then move a's attachment rows onto b.
    conn.execute(
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1 AND part_no = 1)",
        [id_bytes(&b)],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM part WHERE record_id = ?1 AND part_no = 1",
        [id_bytes(&b)],
    )
    .unwrap();
    conn.execute(
        "UPDATE part SET record_id = ?1 WHERE record_id = ?2 AND part_no = 1",
        [id_bytes(&b), id_bytes(&a)],
    )
    .unwrap();
    drop(conn);
    let out = tv.cmd().args(["cat", &b, "a.bin"]).output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));
    assert!(out.stdout.is_empty());
    assert!(
        !String::from_utf8_lossy(&out.stdout)
            .contains(std::str::from_utf8(&a_data[..8]).unwrap_or("\u{0}"))
    );
}

#[test]
fn missing_or_truncated_chunks_release_nothing() {
    let data = content(2 * 1024 * 1024 + 5, 4);
    for sql in [
        "DELETE FROM chunk WHERE seq = (SELECT max(seq) FROM chunk JOIN part ON part.id = chunk.part_id WHERE part_no = 1) AND part_id = (SELECT id FROM part WHERE part_no = 1)",
        "DELETE FROM chunk WHERE seq = 0 AND part_id = (SELECT id FROM part WHERE part_no = 1)",
        "UPDATE chunk SET data = substr(data, 1, length(data) - 1) WHERE seq = 2 AND part_id = (SELECT id FROM part WHERE part_no = 1)",
        "UPDATE chunk SET seq = seq + 10 WHERE seq = 2 AND part_id = (SELECT id FROM part WHERE part_no = 1)",
        "DELETE FROM part WHERE part_no = 1",
    ] {
        let tv = TestVault::new();
        let id = record_with_attachment(&tv, &data);
        tv.conn().execute(sql, []).unwrap();
        let out = tv.cmd().args(["cat", &id, "a.bin"]).output().unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13), "{sql}");
        assert!(out.stdout.is_empty(), "{sql}");
    }
}

#[test]
fn swapped_chunks_within_a_part_are_caught() {
    let tv = TestVault::new();
    let data = content(3 * 1024 * 1024, 5);
    let id = record_with_attachment(&tv, &data);
    let conn = tv.conn();
    conn.execute_batch(
        "UPDATE chunk SET seq = 100 WHERE seq = 0 AND part_id = (SELECT id FROM part WHERE part_no = 1);
         UPDATE chunk SET seq = 0 WHERE seq = 1 AND part_id = (SELECT id FROM part WHERE part_no = 1);
         UPDATE chunk SET seq = 1 WHERE seq = 100 AND part_id = (SELECT id FROM part WHERE part_no = 1);",
    )
    .unwrap();
    drop(conn);
    let out = tv.cmd().args(["cat", &id, "a.bin"]).output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));
    assert!(data.starts_with(&out.stdout));
}

#[test]
fn a_hostile_schema_is_refused_before_anything_runs() {
    let tv = TestVault::new();
    tv.add(&["--witness", "W"]);
    tv.conn()
        .execute_batch(
            "CREATE TABLE spy (x); CREATE TRIGGER t AFTER INSERT ON record_version BEGIN INSERT INTO spy VALUES (1); END;",
        )
        .unwrap();
    for args in [&["status"][..], &["list"], &["add", "--witness", "X"]] {
        tv.cmd()
            .args(args)
            .assert()
            .code(13)
            .stderr(predicate::str::contains("unexpected object"));
    }
    let spied: i64 = tv
        .conn()
        .query_row("SELECT count(*) FROM spy", [], |r| r.get(0))
        .unwrap();
    assert_eq!(spied, 0);
}

#[test]
fn files_that_are_not_vaults_are_integrity_errors() {
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    for bytes in [
        &b""[..],
        b"not a database at all, just some text of a decent length.....",
        &[0u8; 4096],
    ] {
        std::fs::write(&tv.vault, bytes).unwrap();
        let out = tv.cmd().arg("status").output().unwrap();
        no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(13),
            "{:?}",
            &bytes[..bytes.len().min(8)]
        );
    }
    // A truncated vault.
    let tv = TestVault::new();
    tv.add(&["--witness", "W"]);
    let bytes = tv.vault_bytes();
    std::fs::write(&tv.vault, &bytes[..bytes.len() / 2]).unwrap();
    let out = tv.cmd().arg("list").output().unwrap();
    no_panic(&out);
    assert!(
        matches!(out.status.code(), Some(12 | 13)),
        "{:?}",
        out.status
    );
}

#[test]
fn large_parts_read_back_whole_and_a_chunk_row_from_another_part_is_caught() {
    // Large enough to be read on every core (more than 1 MiB), with a ragged end.
    let (a_data, b_data) = (
        content(3 * 1024 * 1024 + 77, 6),
        content(3 * 1024 * 1024 + 77, 7),
    );
    let tv = TestVault::new();
    let a = record_with_attachment(&tv, &a_data);
    let b = record_with_attachment(&tv, &b_data);
    assert_eq!(tv.cat(&a, "a.bin"), a_data);
    tv.cmd().arg("verify").assert().success();
    // The same row of b's attachment put in place of a's: same place, another payload key.
    let id_bytes = |id: &str| hex::decode(id).unwrap();
    tv.conn()
        .execute(
            "UPDATE chunk SET data = (SELECT data FROM chunk WHERE seq = 1 AND part_id =
                 (SELECT id FROM part WHERE record_id = ?2 AND part_no = 1))
             WHERE seq = 1 AND part_id = (SELECT id FROM part WHERE record_id = ?1 AND part_no = 1)",
            [id_bytes(&a), id_bytes(&b)],
        )
        .unwrap();
    let out = tv.cmd().args(["cat", &a, "a.bin"]).output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));
    assert!(a_data.starts_with(&out.stdout));
    assert!(
        out.stdout.len() <= 1024 * 1024,
        "nothing after the swapped row"
    );
    let out = tv.cmd().arg("verify").output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(13));
    assert_eq!(tv.cat(&b, "a.bin"), b_data);
}

/// `export` reads the statements ahead of the records it writes, on another core: a damaged
/// statement anywhere still stops it with the integrity error and no bundle, and a statement
/// too large to be read ahead leaves whole.
#[test]
fn an_export_stops_at_a_damaged_statement_wherever_it_is_and_large_ones_leave_whole() {
    let tv = TestVault::new();
    let records: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            let text = if i == 2 {
                // Larger than what is read ahead (1 MiB), ASCII so it stays a text.
                content(1_200_000, 3)
                    .iter()
                    .map(|b| b'a' + b % 26)
                    .collect::<Vec<u8>>()
            } else {
                format!("The statement of witness {i}.\n").into_bytes()
            };
            let st = tv.write("st.txt", &text);
            let id = tv.add(&[
                "--witness",
                "W",
                "--consent",
                "court",
                "--text-file",
                st.to_str().unwrap(),
            ]);
            (id, text)
        })
        .collect();
    let opened = common::export_and_open(&tv, "whole", &["--all"]);
    for (id, text) in &records {
        assert!(opened.read(&format!("records/{id}/statement.txt")) == *text);
    }

    // Each statement in turn damaged through SQL, and put back after.
    let pass = tv.write("export-pass", b"an export passphrase for this test\n");
    for (id, _) in &records {
        let chunk_of = format!(
            "FROM chunk WHERE seq = 0 AND part_id = \
             (SELECT id FROM part WHERE part_no = 0 AND hex(record_id) = upper('{id}'))"
        );
        let original = blob(&tv, &format!("SELECT data {chunk_of}"));
        let mut damaged = original.clone();
        damaged[40] ^= 0x10;
        let set = format!("UPDATE chunk SET data = ?1 WHERE rowid = (SELECT rowid {chunk_of})");
        assert_eq!(tv.conn().execute(&set, [&damaged]).unwrap(), 1);
        let out_file = tv.path("damaged.tar");
        let out = tv
            .cmd()
            .args(["export", "--all", "--purpose", "court", "-o"])
            .arg(&out_file)
            .arg("--export-passphrase-file")
            .arg(&pass)
            .output()
            .unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(13), "statement of {id}");
        assert!(!out_file.exists(), "no bundle is left");
        tv.conn().execute(&set, [&original]).unwrap();
    }
    // Put back, the vault exports again.
    common::export_and_open(&tv, "again", &["--all"]);
}
