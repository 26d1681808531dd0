//! Trusted timestamps (RFC 3161) against a real local authority: stock `openssl` makes a
//! test CA and a timestamping certificate and answers requests with `openssl ts -reply`.
//! No network.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestVault;

/// A local timestamp authority in its own folder.
struct Tsa {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `YYYYMMDDHHMMSSZ`, `offset` seconds from now.
fn asn1_time(offset: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Tsa {
    /// A CA (P-256) and an RSA timestamping certificate valid until `ends_in` seconds from
    /// now, its signing-certificate attribute hashed with `ess_alg` (`sha1`: RFC 3161's
    /// ESSCertID; `sha256`: RFC 5816's ESSCertIDv2).
    fn new(parent: &Path, name: &str, ends_in: i64, ess_alg: &str) -> Tsa {
        let dir = parent.join(name);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::write(dir.join("db/index.txt"), "").unwrap();
        std::fs::write(dir.join("db/serial"), "1000\n").unwrap();
        std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("openssl.cnf"),
            format!(
                "[ ca ]\ndefault_ca = test_ca\n\
                 [ test_ca ]\ndir = {d}\ndatabase = $dir/db/index.txt\nserial = $dir/db/serial\n\
                 new_certs_dir = $dir/db\ncertificate = $dir/ca.pem\nprivate_key = $dir/ca.key\n\
                 default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n\
                 [ any ]\ncommonName = supplied\n\
                 [ tsa_ext ]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                 extendedKeyUsage = critical,timeStamping\n\
                 [ tsa ]\ndefault_tsa = tsa_config\n\
                 [ tsa_config ]\ndir = {d}\nserial = $dir/tsaserial\ncrypto_device = builtin\n\
                 signer_cert = $dir/tsa.pem\ncerts = $dir/ca.pem\nsigner_key = $dir/tsa.key\n\
                 signer_digest = sha256\ndefault_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nclock_precision_digits = 0\n\
                 ordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = {ess_alg}\n"
            ),
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj",
                &format!("/CN=Test Root {name}"), "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            &dir,
            &[
                "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out",
                "tsa.csr", "-subj", &format!("/CN=Test TSA {name}"),
            ],
        );
        openssl(
            &dir,
            &[
                "ca", "-batch", "-config", "openssl.cnf", "-extensions", "tsa_ext", "-notext",
                "-startdate", &asn1_time(-3600), "-enddate", &asn1_time(ends_in), "-in",
                "tsa.csr", "-out", "tsa.pem",
            ],
        );
        Tsa { dir }
    }

    /// `openssl ts -reply` to a request file; returns the response file.
    fn reply(&self, query: &Path, out: &str) -> PathBuf {
        let path = self.dir.join(out);
        openssl(
            &self.dir,
            &[
                "ts", "-reply", "-config", "openssl.cnf", "-queryfile",
                query.to_str().unwrap(), "-out", path.to_str().unwrap(),
            ],
        );
        path
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

fn vault_with_a_record() -> TestVault {
    let tv = TestVault::new();
    tv.add(&["--witness", "TsWitness", "--consent", "court"]);
    tv
}

fn request(tv: &TestVault, name: &str) -> PathBuf {
    let path = tv.path(name);
    tv.cmd()
        .args(["audit", "timestamp", "request", "-o"])
        .arg(&path)
        .assert()
        .success();
    path
}

fn stored(tv: &TestVault) -> Vec<serde_json::Value> {
    let out = tv
        .cmd()
        .args(["audit", "timestamps", "--json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn add(tv: &TestVault, tsr: &Path, ca: &Path) -> assert_cmd::assert::Assert {
    tv.cmd()
        .args(["audit", "timestamp", "add"])
        .arg(tsr)
        .arg("--ca-file")
        .arg(ca)
        .assert()
}

#[test]
fn request_reply_add_list_and_verify_with_a_local_authority() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha1");
    let before = tv.cmd().args(["audit", "checkpoint"]).assert().success();
    let checkpoint = tv.write("cp.txt", &before.get_output().stdout);
    let tsq = request(&tv, "log.tsq");

    // The request names only the checkpoint's SHA-256 (openssl reads it back).
    let text = openssl(&tsa.dir, &["ts", "-query", "-in", tsq.to_str().unwrap(), "-text"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("Hash Algorithm: sha256"), "{text}");
    assert!(text.contains("Certificate required: yes"), "{text}");
    assert!(text.contains("Policy OID: unspecified"), "{text}");
    let tsr = tsa.reply(&tsq, "log.tsr");
    // The stock tool agrees that it covers the checkpoint that was current.
    openssl(
        &tsa.dir,
        &[
            "ts", "-verify", "-in", tsr.to_str().unwrap(), "-data",
            checkpoint.to_str().unwrap(), "-CAfile", "ca.pem",
        ],
    );

    let out = add(&tv, &tsr, &tsa.ca()).success();
    let said = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(said.starts_with("ok: the log of "), "{said}");
    assert!(said.contains("Test TSA tsa"), "{said}");

    let all = stored(&tv);
    assert_eq!(all.len(), 1);
    let size = std::str::from_utf8(&before.get_output().stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(all[0]["tree_size"], size);
    assert_eq!(all[0]["policy"], "1.2.3.4.1");
    assert_eq!(all[0]["certificate_expired"], false);
    // The same response again answers no pending request.
    add(&tv, &tsr, &tsa.ca()).code(13);
    // Later ones may rely on the stored authority.
    let tsq2 = request(&tv, "second.tsq");
    let tsr2 = tsa.reply(&tsq2, "second.tsr");
    tv.cmd()
        .args(["audit", "timestamp", "add"])
        .arg(&tsr2)
        .assert()
        .success();
    assert_eq!(stored(&tv).len(), 2);

    tv.cmd().arg("verify").assert().success();
    let log = tv.cmd().args(["log", "--json"]).assert().success();
    let events: Vec<serde_json::Value> = serde_json::from_slice(&log.get_output().stdout).unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["timestamp-requested", "timestamp-added", "timestamps-listed"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    let added = events.iter().find(|e| e["action"] == "timestamp-added").unwrap();
    assert_eq!(added["detail"]["tree_size"], size);
    assert_eq!(added["detail"]["token_sha256"], all[0]["token_sha256"]);
}

/// Every refusal leaves nothing stored, and the pending request still answerable.
#[test]
fn wrong_responses_are_refused_and_nothing_is_stored() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha256");
    let other_ca = Tsa::new(tv.dir.path(), "other", 86_400, "sha256");
    let cp = tv.cmd().args(["audit", "checkpoint"]).assert().success();
    let cp = tv.write("cp.txt", &cp.get_output().stdout);
    let tsq = request(&tv, "log.tsq");
    let good = tsa.reply(&tsq, "good.tsr");

    // A response for another vault's request.
    let elsewhere = vault_with_a_record();
    let their = request(&elsewhere, "their.tsq");
    let theirs = tsa.reply(&their, "theirs.tsr");
    let err = add(&tv, &theirs, &tsa.ca()).code(13);
    assert!(String::from_utf8_lossy(&err.get_output().stderr).contains("another request"));

    // The same checkpoint, another nonce (openssl's own request for it).
    let replay = tsa.dir.join("replay.tsq");
    openssl(
        &tsa.dir,
        &[
            "ts", "-query", "-data", cp.to_str().unwrap(), "-sha256", "-cert", "-out",
            replay.to_str().unwrap(),
        ],
    );
    let replayed = tsa.reply(&replay, "replayed.tsr");
    let err = add(&tv, &replayed, &tsa.ca()).code(13);
    assert!(String::from_utf8_lossy(&err.get_output().stderr).contains("nonce"));

    // An authority the operator does not trust.
    let err = add(&tv, &good, &other_ca.ca()).code(13);
    assert!(
        String::from_utf8_lossy(&err.get_output().stderr).contains("not issued by a trusted"),
        "{}",
        String::from_utf8_lossy(&err.get_output().stderr)
    );
    // Without any authority named, and none stored: a usage error.
    tv.cmd()
        .args(["audit", "timestamp", "add"])
        .arg(&good)
        .assert()
        .code(2);

    // A changed byte anywhere: in the signature at the end, in the token's time, or in the
    // response's framing.
    let bytes = std::fs::read(&good).unwrap();
    let time_at = bytes
        .windows(2)
        .position(|w| w == [0x18, 0x0f])
        .expect("a GeneralizedTime");
    for at in [bytes.len() - 5, time_at + 14, 1] {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        let path = tv.write(&format!("changed-{at}.tsr"), &changed);
        add(&tv, &path, &tsa.ca()).code(13);
    }
    // Garbage.
    let path = tv.write("garbage.tsr", b"\x30\x82\xff\xff not a response");
    add(&tv, &path, &tsa.ca()).code(13);

    assert!(stored(&tv).is_empty());
    add(&tv, &good, &tsa.ca()).success();
    assert_eq!(stored(&tv).len(), 1);
}

#[test]
fn a_token_whose_authority_certificate_has_since_expired_is_accepted_and_said_so() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "brief", 3, "sha256");
    let tsq = request(&tv, "log.tsq");
    let tsr = tsa.reply(&tsq, "log.tsr");
    // Wait until the certificate has expired (it ends 3 s after it was made, before now).
    let expired = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    while time::OffsetDateTime::now_utc() < expired {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let out = add(&tv, &tsr, &tsa.ca()).success();
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        said.contains("has since expired"),
        "{said} {}",
        String::from_utf8_lossy(&out.get_output().stdout)
    );
    assert_eq!(stored(&tv)[0]["certificate_expired"], true);
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn a_removed_or_moved_token_row_fails_verify() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha256");
    let tsq = request(&tv, "log.tsq");
    add(&tv, &tsa.reply(&tsq, "log.tsr"), &tsa.ca()).success();
    tv.cmd().arg("verify").assert().success();

    // Another id for the same sealed row: it no longer opens.
    let conn = tv.conn();
    conn.execute(
        "UPDATE timestamp_token SET id = zeroblob(16)",
        [],
    )
    .unwrap();
    drop(conn);
    tv.cmd().arg("verify").assert().code(13);
    tv.cmd().args(["audit", "timestamps"]).assert().code(13);

    // Removed: the log still names it.
    let conn = tv.conn();
    conn.execute("DELETE FROM timestamp_token", []).unwrap();
    drop(conn);
    let out = tv.cmd().arg("verify").assert().code(13);
    let said = String::from_utf8_lossy(&out.get_output().stdout).into_owned()
        + &String::from_utf8_lossy(&out.get_output().stderr);
    assert!(said.contains("missing from the vault"), "{said}");
}
