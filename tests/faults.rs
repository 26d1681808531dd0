//! Damage and faults: flipped bits and truncation anywhere in a vault or a bundle, a full
//! disk, two writers at once, and what other processes can see of the secrets.
//!
//! The sweeps here run a seeded sample so `cargo test` stays fast; `TVAULT_SWEEP=N` raises
//! the number of positions tried (`TVAULT_SWEEP=all` tries every bit of the vault file).
//! `TVAULT_SWEEP_SEED` repeats a run.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{PASSPHRASE, TestVault, content, typed};
use rand::{Rng, SeedableRng};
use tvault::vault::{Filter, OpenOptions};
use tvault::{RecordIdPrefix, Vault};
use zeroize::Zeroizing;

/// What a small vault holds, as its owner would read it back.
#[derive(Debug, PartialEq)]
struct Contents {
    records: Vec<Record>,
}

/// One record: pseudonym, statement, and each attachment's name and bytes.
#[derive(Debug, PartialEq, PartialOrd, Eq, Ord)]
struct Record {
    witness: String,
    statement: Option<String>,
    attachments: Vec<(String, Vec<u8>)>,
}

fn passphrase() -> tvault::crypto::Passphrase {
    tvault::crypto::Passphrase::from_bytes(Zeroizing::new(PASSPHRASE.as_bytes().to_vec())).unwrap()
}

/// Opens the vault at `path` and reads everything in it, then verifies it. Any error is an
/// acceptable outcome of damage; a panic or different content is not.
fn read_all(path: &Path) -> tvault::Result<Contents> {
    let mut vault = Vault::open(path, &passphrase(), &OpenOptions::default())?;
    let mut records = Vec::new();
    for summary in vault.list(&Filter::default())? {
        let prefix: RecordIdPrefix = summary.id.to_string().parse().unwrap();
        let view = vault.show(&prefix, None, false)?;
        let statement = view.statement.map(|s| s.expose_secret().to_owned());
        let mut files = Vec::new();
        for a in &view.sealed.attachments {
            let name = a.name.clone().unwrap_or_default();
            let mut out = Vec::new();
            vault.cat(&prefix, None, &name, &mut out)?;
            files.push((name, out));
        }
        records.push(Record {
            witness: summary.summary.meta.witness.clone(),
            statement,
            attachments: files,
        });
    }
    records.sort();
    let report = vault.verify(false, &mut |_, _| {})?;
    if !report.failures.is_empty() {
        return Err(tvault::Error::Integrity(tvault::Integrity::Corrupt));
    }
    Ok(Contents { records })
}

/// A small vault: two records, one with a statement and an attachment spanning two chunks.
fn small_vault() -> TestVault {
    let tv = TestVault::new();
    let statement = tv.write(
        "statement.txt",
        "what the witness saw, ünïcödé\n".as_bytes(),
    );
    // A document (by its content) that leaves with its record: the bundle carries 1 MiB.
    let attachment = tv.write("a.pdf", &typed("pdf", (1 << 20) + 3000, 5));
    tv.add(&[
        "--witness",
        "Kestrel",
        "--text-file",
        statement.to_str().unwrap(),
        "--attach",
        attachment.to_str().unwrap(),
    ]);
    tv.add(&["--witness", "Heron", "--title", "second"]);
    tv
}

/// A folder for scratch copies: RAM-backed where the machine has one, since every read
/// appends (and syncs) an event.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn sweep_size(default: usize) -> Option<usize> {
    match std::env::var("TVAULT_SWEEP").as_deref() {
        Ok("all") => None,
        Ok(n) => Some(n.parse().expect("TVAULT_SWEEP is a number or `all`")),
        Err(_) => Some(default),
    }
}

fn seeded_rng() -> rand::rngs::StdRng {
    let seed: u64 = std::env::var("TVAULT_SWEEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("sweep seed {seed} (set TVAULT_SWEEP_SEED to repeat)");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Runs `read_all` on a damaged copy: it must give the original contents or an error, never
/// a panic, never other contents, and never take long.
fn check_damaged(path: &Path, original: &Contents, what: &str) -> bool {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| read_all(path));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{what}: took {:?}",
        started.elapsed()
    );
    match outcome {
        Err(_) => panic!("{what}: panicked"),
        Ok(Ok(contents)) => {
            assert_eq!(&contents, original, "{what}: opened with other content");
            true
        }
        Ok(Err(_)) => false,
    }
}

#[test]
fn every_flipped_bit_reads_back_identically_or_fails_cleanly() {
    let tv = small_vault();
    let original_bytes = tv.vault_bytes();
    let dir = scratch();
    let copy = dir.path().join("v.tvault");
    std::fs::write(&copy, &original_bytes).unwrap();
    let original = read_all(&copy).unwrap();
    assert_eq!(original.records.len(), 2);

    let bits = original_bytes.len() * 8;
    let positions: Vec<usize> = match sweep_size(400) {
        None => (0..bits).collect(),
        Some(n) => {
            let mut rng = seeded_rng();
            (0..n).map(|_| rng.gen_range(0..bits)).collect()
        }
    };
    let (mut same, mut refused) = (0, 0);
    for bit in positions {
        let mut bytes = original_bytes.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let _ = std::fs::remove_file(dir.path().join("v.tvault-journal"));
        std::fs::write(&copy, &bytes).unwrap();
        if check_damaged(&copy, &original, &format!("bit {bit} flipped")) {
            same += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!("{same} flips read back identically (unused bytes), {refused} were refused");
    assert!(refused > 0);
}

#[test]
fn a_truncated_vault_reads_back_identically_or_fails_cleanly() {
    let tv = small_vault();
    let bytes = tv.vault_bytes();
    let dir = scratch();
    let copy = dir.path().join("v.tvault");
    std::fs::write(&copy, &bytes).unwrap();
    let original = read_all(&copy).unwrap();

    // Every page boundary and its neighbours, and a seeded sample of other lengths.
    let page = 16 * 1024;
    let mut lengths: Vec<usize> = (0..=bytes.len() / page)
        .flat_map(|p| [p * page, (p * page).saturating_sub(1), p * page + 1])
        .filter(|&n| n < bytes.len())
        .collect();
    let mut rng = seeded_rng();
    let extra = sweep_size(40).unwrap_or(bytes.len());
    lengths.extend((0..extra).map(|_| rng.gen_range(0..bytes.len())));
    let mut refused = 0;
    for len in lengths {
        let _ = std::fs::remove_file(dir.path().join("v.tvault-journal"));
        std::fs::write(&copy, &bytes[..len]).unwrap();
        // Cutting only unused bytes at the end loses nothing; anything else must be caught.
        if !check_damaged(&copy, &original, &format!("truncated to {len} bytes")) {
            refused += 1;
        }
    }
    assert!(refused > 0);
}

/// `export` of every record to `bundle`, sealed with the passphrase in `pass`.
fn export_args<'a>(bundle: &'a Path, pass: &'a Path) -> [&'a str; 11] {
    [
        "export",
        "-o",
        bundle.to_str().unwrap(),
        "--purpose",
        "archive",
        "--all",
        "--override-consent",
        "--reason",
        "test",
        "--export-passphrase-file",
        pass.to_str().unwrap(),
    ]
}

fn export_bundle(tv: &TestVault) -> (PathBuf, PathBuf) {
    let pass = tv.write("export-pass", b"an export passphrase for the sweep\n");
    let bundle = tv.path("bundle.tar");
    tv.cmd()
        .args(export_args(&bundle, &pass))
        .assert()
        .success();
    (bundle, pass)
}

#[test]
fn a_truncated_bundle_never_verifies() {
    let tv = small_vault();
    let (bundle, _) = export_bundle(&tv);
    let bytes = std::fs::read(&bundle).unwrap();
    let unlock =
        tvault::bundle::Unlock::Passphrase("an export passphrase for the sweep".to_owned().into());
    let trust = tvault::bundle::SignerTrust::Named(common::signer(&tv));
    assert!(tvault::bundle::verify_bundle(&bundle, &trust, Some(&unlock), None).is_ok());
    let dir = scratch();
    let cut = dir.path().join("cut.tar");
    let mut rng = seeded_rng();
    let offsets: Vec<usize> = (0..100).map(|_| rng.gen_range(0..bytes.len())).collect();
    for len in offsets {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tvault::bundle::verify_bundle(&cut, &trust, Some(&unlock), None).is_ok()
        }));
        assert_eq!(outcome.ok(), Some(false), "a bundle cut to {len} bytes");
    }
}

/// `bash -c` with a file-size limit (`ulimit -f`, in KiB) and SIGXFSZ ignored, so a write past
/// the limit fails with EFBIG as a full disk would fail it.
fn with_size_limit(tv: &TestVault, kib: u64, args: &[&str]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let mut line = format!(
        "trap '' XFSZ; ulimit -f {kib}; exec '{}' --vault '{}' --passphrase-file '{}'",
        bin.display(),
        tv.vault.display(),
        tv.pass_file.display()
    );
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    std::process::Command::new("bash")
        .arg("-c")
        .arg(line)
        .env("HOME", tv.dir.path().join("home"))
        .env("TMPDIR", &tv.tmp)
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_fails_with_exit_15_and_leaves_the_vault_whole() {
    let tv = small_vault();
    let before = tv.vault_bytes().len() as u64;
    let big = tv.write("big.bin", &content(4 << 20, 9));
    let out = with_size_limit(
        &tv,
        before / 1024 + 256,
        &[
            "add",
            "--witness",
            "Full",
            "--attach",
            big.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(15),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:"), "{stderr}");
    tv.cmd().arg("verify").assert().success();
    let list = tv.cmd().args(["list", "--json"]).assert().success();
    let listed: serde_json::Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "nothing was added");

    // An export that cannot be written (here the limit may stop the vault's own log first)
    // leaves no bundle, partial or whole.
    let pass = tv.write("export-pass", b"an export passphrase for the sweep\n");
    let bundle = tv.path("out").join("bundle.tar");
    std::fs::create_dir(tv.path("out")).unwrap();
    let out = with_size_limit(&tv, before / 1024 / 2, &export_args(&bundle, &pass));
    assert_eq!(
        out.status.code(),
        Some(15),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(tv.path("out")).unwrap().count(), 0);
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn two_writers_at_once_both_land_or_one_is_told_the_vault_is_busy() {
    let tv = small_vault();
    let data = tv.write("mid.bin", &content(3 << 20, 3));
    let spawn = |witness: &str| {
        tv.process()
            .args(["add", "--witness", witness, "--attach"])
            .arg(&data)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut added = 2;
    for _ in 0..3 {
        let (a, b) = (spawn("One"), spawn("Two"));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => added += 1,
                Some(11) => {}
                other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
            }
        }
    }
    tv.cmd().arg("verify").assert().success();
    let list = tv.cmd().args(["list", "--json"]).assert().success();
    let listed: serde_json::Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), added);
}

/// Exports while other processes append events (every `list` logs one): each bundle's receipt
/// proves its own intent event, never one another process logged in the meantime, and each
/// bundle verifies. (Before the intent and its receipt shared one transaction, a `list`
/// landing between them made the receipt prove the wrong event; the window was a few
/// milliseconds wide, so this guards the property rather than reproducing that race each run.)
#[test]
fn exports_while_others_write_carry_receipts_for_their_own_intent() {
    let tv = TestVault::new();
    let id = tv.add(&["--witness", "W", "--consent", "court"]);
    let key = age::x25519::Identity::generate();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut exported = 0;
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = tv.process().arg("list").output().unwrap();
                    assert!(matches!(out.status.code(), Some(0 | 11)), "{out:?}");
                }
            });
        }
        for i in 0..10 {
            let bundle = tv.path(&format!("b{i}.tar"));
            let out = tv
                .process()
                .args(["export", &id, "--purpose", "court", "--recipient"])
                .arg(key.to_public().to_string())
                .arg("-o")
                .arg(&bundle)
                .stderr(std::process::Stdio::piped())
                .output()
                .unwrap();
            match out.status.code() {
                Some(0) => {
                    let trust = tvault::bundle::SignerTrust::Named(common::signer(&tv));
                    let report = tvault::bundle::verify_bundle(&bundle, &trust, None, None);
                    assert!(report.is_ok(), "bundle {i}: {report:?}");
                    exported += 1;
                }
                Some(11) => {}
                other => panic!(
                    "export {i}: exit {other:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(exported > 0, "every export found the vault busy");
}

#[test]
fn other_processes_see_no_passphrase_and_no_core_dump_is_allowed() {
    let tv = TestVault::new();
    // `add --text-file -` unlocks, then waits for the statement on stdin.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tvault"))
        .env("HOME", tv.dir.path().join("home"))
        .env("TMPDIR", &tv.tmp)
        .env("TVAULT_PASSPHRASE_FILE", &tv.pass_file)
        .arg("--vault")
        .arg(&tv.vault)
        .args(["-q", "add", "--witness", "W", "--text-file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let proc = PathBuf::from(format!("/proc/{}", child.id()));
    // Wait until the unlock is done: the KDF's memory is freed and the process sits in read.
    std::thread::sleep(Duration::from_millis(500));
    for file in ["cmdline", "environ"] {
        let bytes = std::fs::read(proc.join(file)).unwrap_or_default();
        assert!(
            !common::contains(&bytes, PASSPHRASE.as_bytes()),
            "the passphrase is in /proc/PID/{file}"
        );
    }
    let limits = std::fs::read_to_string(proc.join("limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().nth(4) == Some("0"),
        "core dumps are not off: {core}"
    );
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the statement\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// Copies of the vault file and its anchor folder, to put back before each killed run.
struct Snapshot {
    vault: Vec<u8>,
    anchors: Vec<(PathBuf, Vec<u8>)>,
}

fn anchors_dir(tv: &TestVault) -> PathBuf {
    tv.dir.path().join("home/.local/state/tvault/anchors")
}

fn snapshot(tv: &TestVault) -> Snapshot {
    let anchors = common::files_under(&anchors_dir(tv))
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    Snapshot {
        vault: tv.vault_bytes(),
        anchors,
    }
}

fn restore(tv: &TestVault, s: &Snapshot) {
    let _ = std::fs::remove_file(tv.vault.with_extension("tvault-journal"));
    std::fs::write(&tv.vault, &s.vault).unwrap();
    for (p, bytes) in &s.anchors {
        std::fs::write(p, bytes).unwrap();
    }
}

fn records(tv: &TestVault) -> usize {
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    let listed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    listed.as_array().unwrap().len()
}

/// Runs `args` in a child process and SIGKILLs it at seeded moments through its run; after
/// each, the vault verifies, every record reads back, and `state` is its value before or
/// after the command (`cleanup` runs between rounds).
fn kill_at_random_points(
    tv: &TestVault,
    args: &[&str],
    state: &dyn Fn(&TestVault) -> String,
    cleanup: &dyn Fn(&TestVault),
    rounds: usize,
    rng: &mut rand::rngs::StdRng,
) {
    kill_and_check(tv, args, state, &|_, _| {}, cleanup, rounds, rng);
}

/// [`kill_at_random_points`], running `check` (given what was killed when) after each kill
/// once the vault verified and its state was checked. The vault (and its anchors) is put
/// back before each round; `cleanup` puts back anything else `check` or the command changed.
fn kill_and_check(
    tv: &TestVault,
    args: &[&str],
    state: &dyn Fn(&TestVault) -> String,
    check: &dyn Fn(&TestVault, &str),
    cleanup: &dyn Fn(&TestVault),
    rounds: usize,
    rng: &mut rand::rngs::StdRng,
) {
    let start = snapshot(tv);
    let before = state(tv);
    let run = || tv.process().args(args).spawn().unwrap();
    let started = Instant::now();
    assert!(run().wait().unwrap().success(), "{args:?} runs");
    let whole = started.elapsed();
    let after = state(tv);
    assert_ne!(before, after, "{args:?} changes something");
    for round in 0..rounds {
        restore(tv, &start);
        cleanup(tv);
        let delay = whole.mul_f64(rng.gen_range(0.0..1.0));
        let mut child = run();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let what = format!("{args:?} killed after {delay:?} (round {round})");
        let verify = tv.cmd().arg("verify").output().unwrap();
        assert!(
            verify.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        let now = state(tv);
        assert!(
            now == before || now == after,
            "{what}: neither before nor after: {now}"
        );
        check(tv, &what);
    }
    restore(tv, &start);
    cleanup(tv);
}

#[test]
fn a_kill_at_any_moment_leaves_the_state_before_or_after() {
    let mut rng = seeded_rng();
    // Three kills a command by default; a wider sweep (TVAULT_SWEEP) makes it 25.
    let rounds = sweep_size(3).map_or(25, |n| n.min(25));
    let tv = small_vault();
    let big = tv.write("big.bin", &content(4 << 20, 11));
    let nothing = |_: &TestVault| {};
    let count = |tv: &TestVault| records(tv).to_string();

    kill_at_random_points(
        &tv,
        &[
            "add",
            "--witness",
            "Killed",
            "--attach",
            big.to_str().unwrap(),
        ],
        &count,
        &nothing,
        rounds,
        &mut rng,
    );

    let list = tv
        .cmd()
        .args(["list", "--json", "--witness", "Kestrel"])
        .assert()
        .success();
    let listed: serde_json::Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let versions = |tv: &TestVault| {
        let out = tv.cmd().args(["history", &id, "--json"]).assert().success();
        let h: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        h.as_array().unwrap().len().to_string()
    };
    kill_at_random_points(
        &tv,
        &["amend", &id, "--attach", big.to_str().unwrap()],
        &versions,
        &nothing,
        rounds,
        &mut rng,
    );

    let second = tv.write(
        "second-pass",
        b"seventeen purple walruses debate quantum tea\n",
    );
    let operators = |tv: &TestVault| {
        let out = tv
            .cmd()
            .args(["operator", "list", "--json"])
            .assert()
            .success();
        let ops: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        ops.as_array().unwrap().len().to_string()
    };
    kill_at_random_points(
        &tv,
        &[
            "operator",
            "add",
            "bakhyt",
            "--new-passphrase-file",
            second.to_str().unwrap(),
        ],
        &operators,
        &nothing,
        rounds,
        &mut rng,
    );

    // An export is there whole, or not at all (a killed one leaves only a hidden partial
    // file, never the bundle's name).
    let pass = tv.write("export-pass", b"an export passphrase for the sweep\n");
    let out_dir = tv.path("exports");
    std::fs::create_dir(&out_dir).unwrap();
    let bundle = out_dir.join("bundle.tar");
    let unlock =
        tvault::bundle::Unlock::Passphrase("an export passphrase for the sweep".to_owned().into());
    let trust = tvault::bundle::SignerTrust::Named(common::signer(&tv));
    let exported = |_: &TestVault| {
        if !bundle.exists() {
            return "none".to_owned();
        }
        let ok = tvault::bundle::verify_bundle(&bundle, &trust, Some(&unlock), None).is_ok();
        assert!(ok, "a bundle under its final name that does not verify");
        "whole".to_owned()
    };
    let clear = |_: &TestVault| {
        for entry in std::fs::read_dir(&out_dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    };
    kill_at_random_points(
        &tv,
        &export_args(&bundle, &pass),
        &exported,
        &clear,
        rounds,
        &mut rng,
    );

    // Import into a second vault, and shred there.
    tv.cmd()
        .args(export_args(&bundle, &pass))
        .assert()
        .success();
    let other = TestVault::new();
    let signer = common::signer(&tv);
    kill_at_random_points(
        &other,
        &[
            "import",
            bundle.to_str().unwrap(),
            "--export-passphrase-file",
            pass.to_str().unwrap(),
            "--signer",
            &signer,
        ],
        &count,
        &nothing,
        rounds,
        &mut rng,
    );
    let readable = |tv: &TestVault| {
        let shown = tv.cmd().args(["show", &id]).output().unwrap();
        format!("show exits {:?}", shown.status.code())
    };
    kill_at_random_points(
        &tv,
        &["shred", &id, "--reason", "consent withdrawn"],
        &readable,
        &nothing,
        rounds,
        &mut rng,
    );
}

/// Runs `cmd`, which must succeed; else fails naming `what` with its stderr.
fn run_ok(mut cmd: assert_cmd::Command, what: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {:?} exits {:?}: {}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Delivers what `kit` holds to `hq`: `kit send`, `import` at headquarters, `kit confirm`
/// with its receipt; the kit is empty afterwards and headquarters holds every record it had.
fn deliver(hq: &TestVault, kit: &TestVault, what: &str) {
    let on_kit = kit.ids();
    let bundle = kit.path("delivery.tkit");
    let receipt = kit.path("delivery.receipt");
    for old in [&bundle, &receipt] {
        let _ = std::fs::remove_file(old);
    }
    let mut send = kit.cmd();
    send.args(["kit", "send", "-o"]).arg(&bundle);
    run_ok(send, what);
    let mut import = hq.cmd();
    import
        .arg("import")
        .arg(&bundle)
        .arg("--receipt-out")
        .arg(&receipt);
    run_ok(import, what);
    let at_hq = hq.ids();
    assert!(
        on_kit.is_subset(&at_hq),
        "{what}: headquarters lacks {:?}",
        on_kit.difference(&at_hq).collect::<Vec<_>>()
    );
    let mut confirm = kit.cmd();
    confirm.args(["kit", "confirm"]).arg(&receipt);
    run_ok(confirm, what);
    assert!(kit.ids().is_empty(), "{what}: the receipt empties the kit");
}

/// After a killed run on `kit`: no record of `kept` is lost (each is still on the kit, or
/// headquarters holds it), and the kit still delivers (see [`deliver`]).
fn kit_still_delivers(hq: &TestVault, kit: &TestVault, kept: &BTreeSet<String>, what: &str) {
    let on_kit = kit.ids();
    let at_hq = hq.ids();
    for id in kept {
        assert!(
            on_kit.contains(id) || at_hq.contains(id),
            "{what}: record {id} is neither on the kit nor at headquarters"
        );
    }
    if !on_kit.is_empty() {
        deliver(hq, kit, what);
    }
}

/// The record ids a kit receipt names.
fn receipt_ids(receipt: &Path) -> BTreeSet<String> {
    let signed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(receipt).unwrap()).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(signed["body"].as_str().expect("a receipt has a body")).unwrap();
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Imports at `hq` a file a killed `kit send` left under a hidden partial name: it is no
/// bundle (exit 13, not a panic, nothing imported) unless it is whole. The kit writes tar's
/// end-of-archive marker last, then syncs the file and gives it its name; a kill in between
/// leaves a partial file that is the whole signed bundle, and importing it loses nothing.
fn import_partial(hq: &TestVault, partial: &Path, what: &str) {
    let before = hq.ids();
    let out = hq
        .cmd()
        .arg("import")
        .arg(partial)
        .arg("--receipt-out")
        .arg(hq.path("partial.receipt"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let bytes = std::fs::read(partial).unwrap();
        assert!(
            bytes.len() > 1024 && bytes[bytes.len() - 1024..].iter().all(|&b| b == 0),
            "{what}: the partial file {} imported, but the kit never finished it: {stderr}",
            partial.display()
        );
        return;
    }
    assert_eq!(out.status.code(), Some(13), "{what}: {stderr}");
    assert!(stderr.starts_with("error:"), "{what}: {stderr}");
    assert_eq!(
        hq.ids(),
        before,
        "{what}: a refused import changed headquarters"
    );
}

#[test]
fn a_kill_on_a_field_kit_loses_no_record_and_the_kit_still_delivers() {
    let mut rng = seeded_rng();
    // Three kills a command by default; a wider sweep (TVAULT_SWEEP) makes it 25.
    let rounds = sweep_size(3).map_or(25, |n| n.min(25));
    let hq = TestVault::new();
    let kit = TestVault::kit(&hq, "east");
    let statement = kit.write("statement.txt", b"what the witness saw\n");
    let big = kit.write("big.bin", &content(4 << 20, 13));
    // One record delivered before (its tombstone stays on the kit), one waiting.
    kit.add(&["--witness", "Plover", "--consent", "court"]);
    deliver(&hq, &kit, "the first delivery");
    kit.add(&[
        "--witness",
        "Curlew",
        "--text-file",
        statement.to_str().unwrap(),
    ]);
    let count = |kit: &TestVault| kit.ids().len().to_string();
    // Every round puts headquarters back as well, so the kit's log extends the one it holds.
    let kept = |hq: &TestVault, kit: &TestVault| -> BTreeSet<String> {
        kit.ids().union(&hq.ids()).cloned().collect()
    };

    let hq_start = snapshot(&hq);
    let before = kept(&hq, &kit);
    kill_and_check(
        &kit,
        &[
            "add",
            "--witness",
            "Killed",
            "--text-file",
            statement.to_str().unwrap(),
            "--attach",
            big.to_str().unwrap(),
        ],
        &count,
        &|kit, what| kit_still_delivers(&hq, kit, &before, what),
        &|_| restore(&hq, &hq_start),
        rounds,
        &mut rng,
    );

    // A send is there whole under its name, or not at all; its partial file is no bundle
    // unless whole.
    kit.add(&["--witness", "Sent", "--attach", big.to_str().unwrap()]);
    let hq_start = snapshot(&hq);
    let before = kept(&hq, &kit);
    let out_dir = kit.path("sent");
    std::fs::create_dir(&out_dir).unwrap();
    let bundle = out_dir.join("east.tkit");
    let sent = |_: &TestVault| if bundle.exists() { "whole" } else { "none" }.to_owned();
    let partial_or_bundle = |kit: &TestVault, what: &str| {
        for entry in std::fs::read_dir(&out_dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if path == bundle {
                continue;
            }
            assert!(
                name.starts_with(".east.tkit.") && name.ends_with(".partial"),
                "{what}: left {name}"
            );
            import_partial(&hq, &path, what);
        }
        if bundle.exists() {
            let mut import = hq.cmd();
            import
                .arg("import")
                .arg(&bundle)
                .arg("--receipt-out")
                .arg(hq.path("killed.receipt"));
            run_ok(import, what);
        }
        kit_still_delivers(&hq, kit, &before, what);
    };
    let clear = |_: &TestVault| {
        for entry in std::fs::read_dir(&out_dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        restore(&hq, &hq_start);
    };
    kill_and_check(
        &kit,
        &["kit", "send", "-o", bundle.to_str().unwrap()],
        &sent,
        &partial_or_bundle,
        &clear,
        rounds,
        &mut rng,
    );

    // What a kill can leave under the partial name but a random kill seldom hits: a file
    // made and not yet written, one cut inside its first header, one with its first entry
    // only, and one whole but for tar's end-of-archive marker.
    let mut send = kit.cmd();
    send.args(["kit", "send", "-o"]).arg(&bundle);
    run_ok(send, "a send to cut");
    let whole = std::fs::read(&bundle).unwrap();
    std::fs::remove_file(&bundle).unwrap();
    for len in [0, 300, 512, 1024, whole.len() / 2, whole.len() - 1024] {
        let partial = out_dir.join(format!(".east.tkit.{len:012x}.partial"));
        std::fs::write(&partial, &whole[..len]).unwrap();
        import_partial(&hq, &partial, &format!("cut to {len} bytes"));
        std::fs::remove_file(&partial).unwrap();
    }

    // A confirm deletes every record the receipt names, or none; the rest still travel.
    let receipt = kit.path("to-confirm.receipt");
    let mut send = kit.cmd();
    send.args(["kit", "send", "-o"])
        .arg(kit.path("to-confirm.tkit"));
    run_ok(send, "the send to confirm");
    let mut import = hq.cmd();
    import
        .arg("import")
        .arg(kit.path("to-confirm.tkit"))
        .arg("--receipt-out")
        .arg(&receipt);
    run_ok(import, "the import to confirm");
    let named = receipt_ids(&receipt);
    assert_eq!(
        named,
        kit.ids(),
        "the receipt names every record on the kit"
    );
    let hq_start = snapshot(&hq);
    let before = kept(&hq, &kit);
    kill_and_check(
        &kit,
        &["kit", "confirm", receipt.to_str().unwrap()],
        &count,
        &|kit, what| {
            let on_kit = kit.ids();
            assert!(on_kit.is_subset(&named), "{what}: a record appeared");
            for id in named.difference(&on_kit) {
                assert!(
                    hq.ids().contains(id),
                    "{what}: deleted {id}, which headquarters does not hold"
                );
            }
            kit_still_delivers(&hq, kit, &before, what);
        },
        &|_| restore(&hq, &hq_start),
        rounds,
        &mut rng,
    );
}
