//! Removal that removes: once `shred`, `destroy`, `rekey` or `passphrase change` has committed,
//! no pre-image of what it removed or replaced survives in any file tvault made.
//!
//! How it is measured: before the command, the test links a second name to the vault file and
//! to its rollback journal (made empty first: SQLite takes an empty journal for none and writes
//! its next journal into that same file). Whatever happens to the names, the links keep the
//! bytes the command left in those files, which is what a deleted file leaves in the disk's
//! free blocks. Then every file under the test's folder (the vault's folder with its journal,
//! the anchor folder, TMPDIR and the kept links) is searched for the removed bytes, the journal
//! must hold nothing but zeros, and every page on the vault file's freelist must be blank.

mod common;

use std::path::{Path, PathBuf};

use common::{TestVault, contains, content, files_under};
use predicates::prelude::*;

/// Bytes that must not survive, each with a name for the failure message.
type Needles = Vec<(String, Vec<u8>)>;

/// The vault file and its journal as one command left them, kept by hard links.
struct Kept {
    vault: PathBuf,
    journal: PathBuf,
}

fn journal_of(vault: &Path) -> PathBuf {
    let mut name = vault.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

impl Kept {
    fn before(tv: &TestVault, command: &str) -> Kept {
        let journal = journal_of(&tv.vault);
        if !journal.exists() {
            std::fs::write(&journal, b"").unwrap();
        }
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
        let kept = Kept {
            vault: tv.path(&format!("kept-{command}.vault")),
            journal: tv.path(&format!("kept-{command}.journal")),
        };
        std::fs::hard_link(&tv.vault, &kept.vault).unwrap();
        std::fs::hard_link(&journal, &kept.journal).unwrap();
        kept
    }

    /// The journal the command's transaction wrote must have been this file, or the
    /// measurement saw nothing.
    fn assert_journal_used(&self) {
        assert!(
            std::fs::metadata(&self.journal).unwrap().len() > 0,
            "the command's transaction did not go through the journal file made for it"
        );
    }

    /// The journal holds nothing but zeros now.
    fn assert_journal_zeroed(&self) {
        let journal = std::fs::read(&self.journal).unwrap();
        let left = journal.iter().filter(|&&b| b != 0).count();
        assert_eq!(
            left,
            0,
            "{left} of {} journal bytes were left as they were",
            journal.len()
        );
    }
}

fn record_id(id: &str) -> Vec<u8> {
    hex::decode(id).unwrap()
}

fn blobs(conn: &rusqlite::Connection, sql: &str, id: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let params: Vec<&dyn rusqlite::ToSql> =
        id.iter().map(|id| id as &dyn rusqlite::ToSql).collect();
    stmt.query_map(params.as_slice(), |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Pieces of a payload chunk: 32 bytes at 16 places spread over it.
fn chunk_pieces(needles: &mut Needles, what: &str, chunks: Vec<Vec<u8>>) {
    for (c, chunk) in chunks.iter().enumerate() {
        for i in 0..16 {
            let at = (chunk.len() - 32) * i / 15;
            needles.push((
                format!("{what} {c}, bytes {at}.."),
                chunk[at..at + 32].to_vec(),
            ));
        }
    }
}

fn named(needles: &mut Needles, what: &str, values: Vec<Vec<u8>>) {
    for (i, v) in values.into_iter().enumerate() {
        assert!(v.len() >= 16, "{what} {i} is too short to search for");
        needles.push((format!("{what} {i}"), v));
    }
}

/// Every file under the test's folder, and where in it each needle was found.
fn hits(tv: &TestVault, needles: &Needles) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under(tv.dir.path()) {
        let data = std::fs::read(&file).unwrap();
        for (what, needle) in needles {
            if contains(&data, needle) {
                found.push(format!("{what} in {}", file.display()));
            }
        }
    }
    found
}

/// Every page on the SQLite freelist of `file` is blank: leaf pages all zeros, trunk pages
/// nothing beyond their list of leaves. Returns how many pages are free.
fn assert_free_pages_blank(file: &Path) -> usize {
    let db = std::fs::read(file).unwrap();
    let be32 = |at: usize| u32::from_be_bytes(db[at..at + 4].try_into().unwrap()) as usize;
    let page_size = match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        n => n as usize,
    };
    let page = |n: usize| &db[(n - 1) * page_size..n * page_size];
    let (mut trunk, total) = (be32(32), be32(36));
    let mut seen = 0;
    while trunk != 0 {
        let t = page(trunk);
        let leaves = u32::from_be_bytes(t[4..8].try_into().unwrap()) as usize;
        assert!(
            t[8 + 4 * leaves..].iter().all(|&b| b == 0),
            "freelist trunk page {trunk} holds old bytes"
        );
        for l in 0..leaves {
            let leaf = u32::from_be_bytes(t[8 + 4 * l..12 + 4 * l].try_into().unwrap()) as usize;
            assert!(
                page(leaf).iter().all(|&b| b == 0),
                "free page {leaf} holds old bytes"
            );
        }
        seen += 1 + leaves;
        trunk = u32::from_be_bytes(t[0..4].try_into().unwrap()) as usize;
    }
    assert_eq!(seen, total, "the freelist count matches its pages");
    total
}

fn assert_no_hits(tv: &TestVault, needles: &Needles, after: &str) {
    let found = hits(tv, needles);
    assert!(
        found.is_empty(),
        "after {after}, {} pre-image(s) survive:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// A record with a statement and a 300 KB attachment (one chunk row over many pages).
fn add_record(tv: &TestVault, seed: u8) -> String {
    let statement = tv.write(&format!("statement-{seed}.txt"), b"what the witness saw\n");
    let attachment = tv.write(&format!("photo-{seed}.jpg"), &content(300_000, seed));
    tv.add(&[
        "--witness",
        &format!("W{seed}"),
        "--text-file",
        statement.to_str().unwrap(),
        "--attach",
        attachment.to_str().unwrap(),
    ])
}

#[test]
fn shred_leaves_no_wrapped_key_chunk_or_sealed_row_of_the_record() {
    let tv = TestVault::new();
    let id = add_record(&tv, 1);
    let other = add_record(&tv, 2);
    tv.cmd().args(["list"]).assert().success();

    let rid = record_id(&id);
    let mut needles = Needles::new();
    {
        let conn = tv.conn();
        let one = Some(rid.as_slice());
        named(
            &mut needles,
            "wrapped file key (age header)",
            blobs(&conn, "SELECT header FROM part WHERE record_id = ?1", one),
        );
        chunk_pieces(
            &mut needles,
            "payload chunk",
            blobs(
                &conn,
                "SELECT c.data FROM chunk AS c JOIN part AS p ON p.id = c.part_id
                 WHERE p.record_id = ?1",
                one,
            ),
        );
        named(
            &mut needles,
            "sealed metadata",
            blobs(
                &conn,
                "SELECT meta FROM record_version WHERE record_id = ?1",
                one,
            ),
        );
        named(
            &mut needles,
            "sealed identity",
            blobs(
                &conn,
                "SELECT identity FROM record_version WHERE record_id = ?1",
                one,
            ),
        );
        named(
            &mut needles,
            "sealed digest of the record's bucket",
            blobs(
                &conn,
                "SELECT sealed FROM digest WHERE bucket = ?1",
                Some(&rid[..1]),
            ),
        );
    }
    assert!(needles.len() > 20);
    let before = tv.vault_bytes();
    for (what, needle) in &needles {
        assert!(contains(&before, needle), "the scan finds {what} before");
    }

    let kept = Kept::before(&tv, "shred");
    tv.cmd()
        .args(["shred", &id, "--reason", "consent withdrawn"])
        .assert()
        .success();

    kept.assert_journal_used();
    assert_no_hits(&tv, &needles, "shred");
    kept.assert_journal_zeroed();
    assert!(
        assert_free_pages_blank(&tv.vault) > 0,
        "the shred freed pages"
    );
    // The other record is whole.
    assert_eq!(tv.cat(&other, "photo-2.jpg"), content(300_000, 2));
    tv.cmd().arg("verify").assert().success();
}

/// Every secret-bearing value of the header and the keyslots.
fn key_needles(tv: &TestVault, needles: &mut Needles, salts: bool) {
    let conn = tv.conn();
    if salts {
        named(
            needles,
            "keyslot salt",
            blobs(&conn, "SELECT salt FROM keyslot", None),
        );
    }
    named(
        needles,
        "wrapped master key",
        blobs(&conn, "SELECT wrapped_vmk FROM keyslot", None),
    );
    named(
        needles,
        "sealed operator name",
        blobs(&conn, "SELECT label FROM keyslot", None),
    );
    named(
        needles,
        "sealed signing key",
        blobs(&conn, "SELECT signing_secret FROM vault", None),
    );
}

#[test]
fn destroy_leaves_no_keyslot_in_the_file_its_journal_or_beside_it() {
    let tv = TestVault::empty();
    let code = tv.path("recovery.txt");
    tv.init()
        .args(["--recovery-code-out", code.to_str().unwrap()])
        .assert()
        .success();
    add_record(&tv, 1);
    let mut needles = Needles::new();
    key_needles(&tv, &mut needles, true);
    named(
        &mut needles,
        "header MAC",
        blobs(&tv.conn(), "SELECT header_mac FROM vault", None),
    );
    assert_eq!(needles.len(), 2 * 3 + 1 + 1, "two keyslots");

    let kept = Kept::before(&tv, "destroy");
    tv.cmd().args(["destroy", "--yes"]).assert().success();
    assert!(!tv.vault.exists());
    assert!(!journal_of(&tv.vault).exists());
    kept.assert_journal_used();
    // The kept link holds what the removed file left in the disk's free blocks.
    assert_no_hits(&tv, &needles, "destroy");
    kept.assert_journal_zeroed();
    assert!(
        files_under(&tv.path("home/.local/state/tvault/anchors")).is_empty(),
        "the anchor is removed"
    );
}

/// Each keyslot's id and its secret-bearing values (salt, wrapped master key, sealed name).
fn keyslots(tv: &TestVault) -> Vec<(Vec<u8>, Needles)> {
    let conn = tv.conn();
    let mut stmt = conn
        .prepare("SELECT slot_id, salt, wrapped_vmk, label FROM keyslot")
        .unwrap();
    stmt.query_map([], |r| {
        let id: Vec<u8> = r.get(0)?;
        let name = hex::encode(&id);
        Ok((
            id,
            vec![
                (format!("salt of keyslot {name}"), r.get(1)?),
                (format!("wrapped master key of keyslot {name}"), r.get(2)?),
                (format!("sealed operator name of keyslot {name}"), r.get(3)?),
            ],
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn passphrase_change_and_operator_removal_leave_no_copy_of_the_old_keyslot() {
    let tv = TestVault::new();
    add_record(&tv, 1);
    let second = tv.write(
        "second-pass",
        b"seventeen purple walruses debate quantum tea\n",
    );
    tv.cmd()
        .args(["operator", "add", "bakhyt", "--new-passphrase-file"])
        .arg(&second)
        .assert()
        .success();
    let before = keyslots(&tv);
    assert_eq!(before.len(), 2);

    let kept = Kept::before(&tv, "passphrase-change");
    let new_pass = tv.write("new-pass", b"an entirely new passphrase for the operator\n");
    tv.cmd()
        .args(["passphrase", "change", "--new-passphrase-file"])
        .arg(&new_pass)
        .assert()
        .success();
    kept.assert_journal_used();
    let after: Vec<Vec<u8>> = keyslots(&tv).into_iter().map(|(id, _)| id).collect();
    let (replaced, untouched): (Vec<_>, Vec<_>) =
        before.iter().partition(|(id, _)| !after.contains(id));
    assert_eq!((replaced.len(), untouched.len()), (1, 1));
    assert_no_hits(&tv, &replaced[0].1, "passphrase change");
    kept.assert_journal_zeroed();

    let kept = Kept::before(&tv, "operator-remove");
    let mut as_new = tv.bare_cmd();
    as_new
        .arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(&new_pass);
    as_new
        .args(["operator", "remove", "bakhyt"])
        .assert()
        .success();
    kept.assert_journal_used();
    let all: Needles = before.into_iter().flat_map(|(_, n)| n).collect();
    assert_no_hits(&tv, &all, "operator remove");
    kept.assert_journal_zeroed();
}

#[test]
fn rekey_leaves_no_old_master_key_wrapped_file_key_or_sealed_row() {
    for reencrypt in [false, true] {
        let tv = TestVault::new();
        let id = add_record(&tv, 1);
        let gone = add_record(&tv, 2);
        tv.cmd()
            .args(["shred", &gone, "--reason", "consent withdrawn"])
            .assert()
            .success();
        tv.cmd().args(["list"]).assert().success();
        let mut needles = Needles::new();
        // A kept keyslot keeps its salt: only what the new master key changes is searched.
        key_needles(&tv, &mut needles, false);
        {
            let conn = tv.conn();
            for (what, sql) in [
                ("wrapped file key (age header)", "SELECT header FROM part"),
                ("sealed metadata", "SELECT meta FROM record_version"),
                ("sealed identity", "SELECT identity FROM record_version"),
                ("sealed tombstone", "SELECT sealed FROM tombstone"),
                ("sealed event", "SELECT sealed FROM event"),
                ("sealed digest", "SELECT sealed FROM digest"),
                ("sealed heads", "SELECT sealed FROM head"),
            ] {
                named(&mut needles, what, blobs(&conn, sql, None));
            }
            if reencrypt {
                chunk_pieces(
                    &mut needles,
                    "payload chunk",
                    blobs(&conn, "SELECT data FROM chunk", None),
                );
            }
        }

        let kept = Kept::before(&tv, "rekey");
        let mut cmd = tv.cmd();
        cmd.args(["rekey", "--yes"]);
        if reencrypt {
            cmd.arg("--reencrypt");
        }
        cmd.assert().success();
        kept.assert_journal_used();
        assert_no_hits(&tv, &needles, &format!("rekey (reencrypt: {reencrypt})"));
        kept.assert_journal_zeroed();
        assert_free_pages_blank(&tv.vault);
        assert_eq!(tv.cat(&id, "photo-1.jpg"), content(300_000, 1));
    }
}

#[test]
fn the_next_command_clears_a_journal_left_by_a_crash_after_its_commit() {
    let tv = TestVault::new();
    let id = add_record(&tv, 1);
    // What a crash between a commit and the clearing leaves: a journal whose header SQLite
    // zeroed at the commit (so it is not hot), still holding the old pages.
    let mut leftover = vec![0u8; 512];
    while leftover.len() < 64 * 1024 {
        leftover.extend_from_slice(b"CanaryOldPageInTheJournal ");
    }
    let journal = journal_of(&tv.vault);
    std::fs::write(&journal, &leftover).unwrap();
    let kept = tv.path("kept-leftover.journal");
    std::fs::hard_link(&journal, &kept).unwrap();

    // `status` needs no passphrase: opening the file is enough.
    tv.cmd().arg("status").assert().success();
    assert!(!journal.exists(), "the leftover journal is removed");
    let bytes = std::fs::read(&kept).unwrap();
    assert_eq!(bytes.len(), leftover.len());
    assert!(
        bytes.iter().all(|&b| b == 0),
        "the leftover journal was removed without being overwritten"
    );
    tv.cmd().arg("verify").assert().success();
    assert_eq!(tv.cat(&id, "photo-1.jpg"), content(300_000, 1));
}

#[test]
fn shred_says_earlier_copies_hold_the_record_and_offers_rekey_reencrypt() {
    let tv = TestVault::new();
    let a = add_record(&tv, 1);
    let b = add_record(&tv, 2);
    tv.cmd()
        .args(["shred", &a, "--reason", "consent withdrawn"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("Backups and earlier copies of the vault still hold it")
                .and(predicate::str::contains("tvault rekey --reencrypt"))
                .and(predicate::str::contains("tvault passphrase change")),
        );
    let out = tv
        .cmd()
        .args(["--json", "shred", &b, "--reason", "a risk to the witness"])
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown["record"], b.as_str());
    assert_eq!(shown["earlier_copies_hold_record"], true);
    assert_eq!(shown["rekey_command"], "tvault rekey --reencrypt");
    assert!(
        shown["note"]
            .as_str()
            .unwrap()
            .contains("Backups and earlier copies")
    );
}
