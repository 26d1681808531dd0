//! Trusted timestamps (RFC 3161) against a real local authority: stock `openssl` makes a
//! test CA and a timestamping certificate and answers requests with `openssl ts -reply`.
//! No network.

mod common;

use std::path::{Path, PathBuf};

use common::TestVault;
use common::tsa::{Tsa, openssl};

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
    let text = openssl(
        &tsa.dir,
        &["ts", "-query", "-in", tsq.to_str().unwrap(), "-text"],
    );
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("Hash Algorithm: sha256"), "{text}");
    assert!(text.contains("Certificate required: yes"), "{text}");
    assert!(text.contains("Policy OID: unspecified"), "{text}");
    let tsr = tsa.reply(&tsq, "log.tsr");
    // The stock tool agrees that it covers the checkpoint that was current.
    openssl(
        &tsa.dir,
        &[
            "ts",
            "-verify",
            "-in",
            tsr.to_str().unwrap(),
            "-data",
            checkpoint.to_str().unwrap(),
            "-CAfile",
            "ca.pem",
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
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "timestamp-requested",
        "timestamp-added",
        "timestamps-listed",
    ] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    let added = events
        .iter()
        .find(|e| e["action"] == "timestamp-added")
        .unwrap();
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
            "ts",
            "-query",
            "-data",
            cp.to_str().unwrap(),
            "-sha256",
            "-cert",
            "-out",
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
    conn.execute("UPDATE timestamp_token SET id = zeroblob(16)", [])
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

#[test]
fn an_export_carries_the_newest_timestamp_at_or_before_its_receipt() {
    let tv = vault_with_a_record();
    // Without a timestamp, the outer tar has no timestamps/ folder.
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let export = |name: &str| {
        let path = tv.path(name);
        tv.cmd()
            .args([
                "export",
                "--all",
                "--purpose",
                "court",
                "--recipient",
                &recipient,
                "-o",
            ])
            .arg(&path)
            .assert()
            .success();
        path
    };
    let names = |bundle: &Path| -> Vec<String> {
        let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().to_vec()).unwrap())
            .collect()
    };
    let plain = export("plain.tar");
    assert!(!names(&plain).iter().any(|n| n.starts_with("timestamps/")));

    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha256");
    let tsq = request(&tv, "log.tsq");
    add(&tv, &tsa.reply(&tsq, "log.tsr"), &tsa.ca()).success();
    let size = stored(&tv)[0]["tree_size"].as_u64().unwrap();
    // A second request, not answered: the export carries the first one's.
    request(&tv, "later.tsq");
    let bundle = export("stamped.tar");
    let listed = names(&bundle);
    for name in [
        format!("timestamps/checkpoint-{size}.txt"),
        "timestamps/token-1.tsr".into(),
        "timestamps/tsa-ca.pem".into(),
        "timestamps/consistency.json".into(),
    ] {
        assert!(listed.contains(&name), "{name}: {listed:?}");
    }
    let key_file = tv.write(
        "key.txt",
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let out = tv
        .cmd()
        .arg("verify-export")
        .arg(&bundle)
        .args(["--signer", &common::signer(&tv), "--identity"])
        .arg(&key_file)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        said.contains(&format!("timestamp: the first {size} events existed by")),
        "{said}"
    );
    let out = tv
        .cmd()
        .args(["verify-export", "--json"])
        .arg(&bundle)
        .args(["--signer", &common::signer(&tv)])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["timestamps"][0]["tree_size"], size);

    // The timestamped checkpoint swapped for a later one of the same vault: refused (the
    // signed sums list the original).
    let dir = tv.path("unpacked");
    std::fs::create_dir(&dir).unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(&bundle).unwrap());
    archive.unpack(&dir).unwrap();
    let cp =
        std::fs::read_to_string(dir.join(format!("timestamps/checkpoint-{size}.txt"))).unwrap();
    let other = tv.cmd().args(["audit", "checkpoint"]).assert().success();
    let other = String::from_utf8(other.get_output().stdout.clone()).unwrap();
    assert_ne!(cp, other);
    let rewritten = tv.path("rewritten.tar");
    rebuild(&dir, &rewritten, |name, data| {
        if name.ends_with(&format!("checkpoint-{size}.txt")) {
            other.clone().into_bytes()
        } else {
            data
        }
    });
    tv.cmd()
        .arg("verify-export")
        .arg(&rewritten)
        .args(["--trust-bundle-signer"])
        .assert()
        .code(13);
}

/// Rewrites a bundle's outer files through `change`, in the writer's order, re-signing
/// nothing.
fn rebuild(dir: &Path, out: &Path, change: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    let mut names: Vec<String> = Vec::new();
    for entry in [
        "payload.age",
        "checkpoint.txt",
        "checkpoint.txt.sig",
        "receipt.json",
        "allowed_signers",
        "VERIFY.txt",
    ] {
        names.push(entry.into());
    }
    let mut ts: Vec<String> = std::fs::read_dir(dir.join("timestamps"))
        .unwrap()
        .map(|e| format!("timestamps/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    ts.sort();
    names.extend(ts);
    let mut builder = tar::Builder::new(tvault::fs::create_new_file(out).unwrap());
    for name in names
        .iter()
        .chain(["SHA256SUMS".to_string(), "SHA256SUMS.sig".to_string()].iter())
    {
        let data = change(name, std::fs::read(dir.join(name)).unwrap());
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

/// An authority certified by an intermediate: accepted when the intermediate is a CA
/// (basicConstraints cA), refused when it is not, whatever its signature.
#[test]
fn an_intermediate_must_be_a_ca() {
    for (intermediate_is_ca, ok) in [(true, true), (false, false)] {
        let tv = vault_with_a_record();
        let dir = tv.path("chain");
        std::fs::create_dir(&dir).unwrap();
        let ext = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        ext(
            "inter.ext",
            if intermediate_is_ca {
                "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
            } else {
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyCertSign\n"
            },
        );
        ext(
            "tsa.ext",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=critical,timeStamping\n",
        );
        ext("serial", "01\n");
        ext(
            "ts.cnf",
            "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
             certs = ./inter.pem\nsigner_key = ./tsa.key\nsigner_digest = sha384\n\
             default_policy = 1.2.3.4.1\ndigests = sha256\ness_cert_id_alg = sha256\n",
        );
        for args in [
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-nodes",
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ][..],
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "inter.key",
                "-out",
                "inter.csr",
                "-subj",
                "/CN=Intermediate",
            ][..],
            &[
                "x509",
                "-req",
                "-in",
                "inter.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "30",
                "-extfile",
                "inter.ext",
                "-out",
                "inter.pem",
            ][..],
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/CN=Chained TSA",
            ][..],
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "inter.pem",
                "-CAkey",
                "inter.key",
                "-set_serial",
                "3",
                "-days",
                "30",
                "-extfile",
                "tsa.ext",
                "-out",
                "tsa.pem",
            ][..],
        ] {
            openssl(&dir, args);
        }
        let tsq = request(&tv, "log.tsq");
        let tsr = dir.join("log.tsr");
        openssl(
            &dir,
            &[
                "ts",
                "-reply",
                "-config",
                "ts.cnf",
                "-queryfile",
                tsq.to_str().unwrap(),
                "-out",
                tsr.to_str().unwrap(),
            ],
        );
        let out = add(&tv, &tsr, &dir.join("root.pem"));
        if ok {
            out.success();
        } else {
            let out = out.code(13);
            let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
            assert!(said.contains("not issued by a trusted"), "{said}");
            assert!(stored(&tv).is_empty());
        }
    }
}

/// A rekey re-seals the timestamps under the new keys, and the timestamped checkpoint,
/// signed by the key before the rekey, still travels and checks out in an export.
#[test]
fn timestamps_survive_a_rekey_and_travel_across_the_key_rotation() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha256");
    let tsq = request(&tv, "log.tsq");
    add(&tv, &tsa.reply(&tsq, "log.tsr"), &tsa.ca()).success();
    let old_signer = common::signer(&tv);
    tv.cmd().args(["rekey", "--yes"]).assert().success();
    assert_ne!(common::signer(&tv), old_signer);
    assert_eq!(stored(&tv).len(), 1);
    tv.cmd().arg("verify").assert().success();

    let key = age::x25519::Identity::generate();
    let bundle = tv.path("after-rekey.tar");
    tv.cmd()
        .args(["export", "--all", "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    for signer in [common::signer(&tv), old_signer] {
        let out = tv
            .cmd()
            .args(["verify-export", "--json"])
            .arg(&bundle)
            .args(["--signer", &signer])
            .assert()
            .success();
        let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(
            report["timestamps"].as_array().unwrap().len(),
            1,
            "{report}"
        );
    }
}

/// A response without the authority's certificate (its request's certReq cleared on the
/// way) needs `--tsa-cert`.
#[test]
fn a_response_without_the_certificate_needs_tsa_cert() {
    let tv = vault_with_a_record();
    let tsa = Tsa::new(tv.dir.path(), "tsa", 86_400, "sha256");
    let tsq = request(&tv, "log.tsq");
    let mut der = std::fs::read(&tsq).unwrap();
    let at = der
        .windows(3)
        .rposition(|w| w == [0x01, 0x01, 0xff])
        .expect("certReq TRUE");
    // Drop the BOOLEAN (DEFAULT FALSE) and shorten the outer SEQUENCE (short form).
    der.drain(at..at + 3);
    assert!(der[1] < 0x80);
    der[1] -= 3;
    let stripped = tv.write("stripped.tsq", &der);
    let tsr = tsa.reply(&stripped, "nocert.tsr");
    let out = add(&tv, &tsr, &tsa.ca()).code(13);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr).contains("--tsa-cert"),
        "{}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    tv.cmd()
        .args(["audit", "timestamp", "add"])
        .arg(&tsr)
        .arg("--ca-file")
        .arg(tsa.ca())
        .arg("--tsa-cert")
        .arg(tsa.dir.join("tsa.pem"))
        .assert()
        .success();
    tv.cmd().arg("verify").assert().success();

    // The bundle carries that certificate, and VERIFY.txt's openssl line names it.
    let key = age::x25519::Identity::generate();
    let bundle = tv.path("b.tar");
    tv.cmd()
        .args(["export", "--all", "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let dir = tv.path("bundle");
    std::fs::create_dir(&dir).unwrap();
    tar::Archive::new(std::fs::File::open(&bundle).unwrap())
        .unpack(&dir)
        .unwrap();
    assert!(dir.join("timestamps/tsa-certs.pem").is_file());
    let verify = std::fs::read_to_string(dir.join("VERIFY.txt")).unwrap();
    let line = verify
        .lines()
        .find_map(|l| l.trim().strip_prefix("$ openssl ts -verify"))
        .expect("the openssl line");
    assert!(
        line.contains("-untrusted bundle/timestamps/tsa-certs.pem"),
        "{line}"
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("openssl ts -verify{line}")])
        .current_dir(tv.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An authority's certificate with a critical extension tvault does not check is refused
/// (openssl signs with it regardless).
#[test]
fn an_unknown_critical_extension_is_refused() {
    let tv = vault_with_a_record();
    let dir = tv.path("chain");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("tsa.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=critical,timeStamping\n\
         1.3.6.1.4.1.55555.1=critical,ASN1:NULL\n",
    )
    .unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ts.cnf"),
        "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
         signer_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
         digests = sha256\ness_cert_id_alg = sha256\n",
    )
    .unwrap();
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ][..],
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=Odd TSA",
        ][..],
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "3",
            "-days",
            "30",
            "-extfile",
            "tsa.ext",
            "-out",
            "tsa.pem",
        ][..],
    ] {
        openssl(&dir, args);
    }
    let tsq = request(&tv, "log.tsq");
    let tsr = dir.join("log.tsr");
    openssl(
        &dir,
        &[
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            tsq.to_str().unwrap(),
            "-out",
            tsr.to_str().unwrap(),
        ],
    );
    let out = add(&tv, &tsr, &dir.join("root.pem")).code(13);
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(said.contains("critical extension"), "{said}");
    assert!(stored(&tv).is_empty());
}
