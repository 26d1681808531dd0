//! Tests of the command line as a whole: its shape, and the events every command leaves.

use super::*;
use clap::CommandFactory;

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

/// Every subcommand, found through clap, is run against a real vault, and must append
/// exactly the events listed for it. A new command that is not listed here fails this
/// test: no command may read or change the vault unrecorded.
/// Answers a timestamp request with stock `openssl ts -reply`, as a self-signed authority
/// (`DIR/tsa/tsa.pem`, trusted as it is) would.
fn local_tsa_reply(dir: &std::path::Path, tsq: &str, tsr: &str) {
    let tsa = dir.join("tsa");
    std::fs::create_dir_all(&tsa).unwrap();
    std::fs::write(tsa.join("serial"), "01\n").unwrap();
    let config = format!(
        "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = {0}/serial\nsigner_cert = {0}/tsa.pem\n\
         signer_key = {0}/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
         digests = sha256\ness_cert_id_alg = sha256\n",
        tsa.display()
    );
    std::fs::write(tsa.join("ts.cnf"), config).unwrap();
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
            "tsa.key",
            "-out",
            "tsa.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Test TSA",
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
        ][..],
        &[
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            tsq,
            "-out",
            tsr,
        ][..],
    ] {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&tsa)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_command_leaves_exactly_its_expected_events() {
    use tvault::audit::Action::{self, *};

    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(
        p("pass"),
        "umbrella quarry lantern velvet oxygen 7 mosaic\n",
    )
    .unwrap();
    std::fs::write(p("statement.txt"), "the statement\n").unwrap();
    std::fs::write(p("a.bin"), "attachment").unwrap();
    let vault = p("vault.tvault");
    let run_args = |args: &[&str]| {
        let mut argv = vec!["tvault", "-q", "--vault", &vault, "--anchor-dir"];
        let anchors = p("anchors");
        argv.push(&anchors);
        let pass = p("pass");
        argv.extend(["--passphrase-file", &pass]);
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        if let Err(e) = run(cli) {
            panic!("{args:?} failed: {}", e.message);
        }
    };
    let log_size = || {
        tvault::Vault::status(std::path::Path::new(&vault), None)
            .unwrap()
            .log_size
    };

    // The commands, in an order that works from an empty folder, with their events.
    let (st, a, out, cp, proof) = (
        p("statement.txt"),
        p("a.bin"),
        p("out.bin"),
        p("cp"),
        p("proof"),
    );
    let recovery = p("recovery.txt");
    let mut plan: Vec<(Vec<&str>, Vec<Action>)> = vec![
        (
            vec![
                "init",
                "--kdf-memory-mib",
                "1",
                "--kdf-iterations",
                "1",
                "--allow-weak-kdf",
                "--recovery-code-out",
                &recovery,
            ],
            vec![VaultCreated, SigningKeyCreated],
        ),
        (
            vec!["add", "--witness", "W", "--text-file", &st, "--attach", &a],
            vec![RecordAdded],
        ),
    ];
    // Commands that take a record id get it after `add`.
    let mut sizes = Vec::new();
    let mut before = 0;
    for (args, _) in &plan {
        run_args(args);
        sizes.push(log_size() - before);
        before = log_size();
    }
    let store = tvault::store::Store::open(std::path::Path::new(&vault)).unwrap();
    let id = tvault::store::current_versions(store.conn()).unwrap()[0]
        .record
        .to_string();
    drop(store);
    let key_file = p("key.pub");
    let signer = tvault::Vault::status(std::path::Path::new(&vault), None)
        .unwrap()
        .signing_key_fingerprint
        .unwrap();
    let (bundle, export_pass, opened) = (p("bundle.tar"), p("export-pass"), p("opened"));
    let bundle_2 = p("bundle-2.tar");
    std::fs::write(&export_pass, "an export passphrase for this test\n").unwrap();
    let backup = p("backup.tvault");
    let derived_out = p("derived.txt");
    let (shares, share_1, share_2) = (
        p("shares"),
        p("shares/share-1-of-2.txt"),
        p("shares/share-2-of-2.txt"),
    );
    let new_pass = p("new-pass");
    std::fs::write(
        &new_pass,
        "umbrella quarry lantern velvet oxygen 7 mosaic\n",
    )
    .unwrap();
    let (tsq, tsr, tsa_pem) = (p("log.tsq"), p("log.tsr"), p("tsa/tsa.pem"));
    let rest: Vec<(Vec<&str>, Vec<Action>)> = vec![
        (vec!["amend", &id, "--title", "T2"], vec![RecordAmended]),
        (vec!["list"], vec![RecordsListed]),
        (vec!["show", &id], vec![RecordShown]),
        (vec!["cat", &id, "a.bin", "-o", &out], vec![AttachmentRead]),
        (
            vec![
                "derive",
                &id,
                "--kind",
                "transcript",
                "--of",
                "a.bin",
                "--text-file",
                &st,
            ],
            vec![RecordDerived],
        ),
        (
            vec!["cat", &id, "transcript.txt", "-o", &derived_out],
            vec![AttachmentRead],
        ),
        (
            vec![
                "redact",
                &id,
                "--of",
                "statement",
                "--mask",
                "statement",
                "--preview",
            ],
            vec![RecordShown],
        ),
        (
            vec![
                "redact",
                &id,
                "--of",
                "transcript.txt",
                "--mask",
                "statement",
            ],
            vec![RecordDerived],
        ),
        (vec!["search", "statement"], vec![Searched]),
        (vec!["history", &id], vec![HistoryRead]),
        (vec!["log"], vec![LogRead]),
        (vec!["verify"], vec![Verified]),
        (
            vec![
                "export",
                "-o",
                &bundle,
                "--purpose",
                "archive",
                "--all",
                "--export-passphrase-file",
                &export_pass,
                "--override-consent",
                "--reason",
                "test",
            ],
            vec![ExportIntent, ExportComplete],
        ),
        (
            vec![
                "verify-export",
                &bundle,
                "--export-passphrase-file",
                &export_pass,
                "--signer",
                &signer,
            ],
            vec![],
        ),
        (
            vec![
                "open-export",
                &bundle,
                "--into",
                &opened,
                "--export-passphrase-file",
                &export_pass,
                "--signer",
                &signer,
            ],
            vec![],
        ),
        // Its own bundle: every version is already here, so nothing changes.
        (
            vec![
                "import",
                &bundle,
                "--export-passphrase-file",
                &export_pass,
                "--signer",
                &signer,
            ],
            vec![],
        ),
        (
            vec![
                "operator",
                "add",
                "second",
                "--new-passphrase-file",
                &export_pass,
                "--allow-weak-passphrase",
            ],
            vec![OperatorAdded],
        ),
        (vec!["operator", "list"], vec![OperatorsListed]),
        (vec!["operator", "key", "second"], vec![OperatorsListed]),
        (
            vec!["policy", "set", "export-approvals", "2"],
            vec![PolicyChanged],
        ),
        (vec!["policy", "show"], vec![]),
        (
            vec![
                "export",
                "-o",
                &bundle_2,
                "--purpose",
                "archive",
                "--all",
                "--export-passphrase-file",
                &export_pass,
                "--override-consent",
                "--reason",
                "test",
                "--approver",
                "second",
                "--approver-passphrase-file",
                &export_pass,
            ],
            vec![ExportIntent, ExportComplete],
        ),
        (
            vec![
                "policy",
                "set",
                "export-approvals",
                "1",
                "--approver",
                "second",
                "--approver-passphrase-file",
                &export_pass,
            ],
            vec![PolicyChanged],
        ),
        (vec!["operator", "remove", "second"], vec![OperatorRemoved]),
        (
            vec!["passphrase", "change", "--new-passphrase-file", &new_pass],
            vec![PassphraseChanged],
        ),
        (vec!["backup", "-o", &backup], vec![BackupMade]),
        (
            vec!["rekey", "--recovery-code-file", &recovery],
            vec![
                VaultRekeyed,
                SigningKeyRotated,
                // One per version: added, amended, and two derivations.
                RecordRekeyed,
                RecordRekeyed,
                RecordRekeyed,
                RecordRekeyed,
            ],
        ),
        (
            vec!["rekey", "--reencrypt", "--recovery-code-file", &recovery],
            vec![
                VaultRekeyed,
                SigningKeyRotated,
                // One per version: added, amended, and two derivations.
                RecordRekeyed,
                RecordRekeyed,
                RecordRekeyed,
                RecordRekeyed,
            ],
        ),
        (
            vec!["shred", &id, "--reason", "consent withdrawn"],
            vec![RecordShredded],
        ),
        (
            vec![
                "recover",
                "--recovery-code-file",
                &recovery,
                "--new-passphrase-file",
                &new_pass,
            ],
            vec![RecoveryCodeUsed, PassphraseChanged],
        ),
        (
            vec![
                "custodians",
                "split",
                "--threshold",
                "2",
                "--shares",
                "2",
                "-o",
                &shares,
            ],
            vec![CustodiansSplit],
        ),
        (
            vec![
                "recover",
                "--share",
                &share_1,
                "--share",
                &share_2,
                "--new-passphrase-file",
                &new_pass,
            ],
            vec![CustodianSharesUsed, PassphraseChanged],
        ),
        (vec!["status"], vec![]),
        (vec!["status", "--paths"], vec![]),
        (vec!["doctor"], vec![]),
        (vec!["completions", "bash"], vec![]),
        (vec!["man"], vec![]),
        (
            vec!["audit", "timestamp", "request", "-o", &tsq],
            vec![TimestampRequested],
        ),
        (
            vec!["audit", "timestamp", "add", &tsr, "--ca-file", &tsa_pem],
            vec![TimestampAdded],
        ),
        (vec!["audit", "timestamps"], vec![TimestampsListed]),
        (vec!["audit", "checkpoint", "-o", &cp], vec![]),
        (vec!["audit", "prove", "--from", &cp, "-o", &proof], vec![]),
        (
            vec!["audit", "check-proof", &proof, "--signer", &key_file],
            vec![],
        ),
    ];
    for (args, _) in &rest {
        if args.starts_with(&["audit", "timestamp", "add"]) {
            local_tsa_reply(dir.path(), &tsq, &tsr);
        }
        if args.starts_with(&["audit", "check-proof"]) {
            let status = tvault::Vault::status(std::path::Path::new(&vault), None).unwrap();
            std::fs::write(&key_file, status.signing_key.unwrap()).unwrap();
        }
        run_args(args);
        sizes.push(log_size() - before);
        before = log_size();
    }
    plan.extend(rest);

    // Field kits: made, listed, importing and revoked here; recorded on, sent from and
    // confirmed on the kit, whose own log is checked.
    let (kit, kit_bundle, receipt) = (p("kit.tvault"), p("kit.tkit"), p("kit.receipt"));
    let run_kit = |args: &[&str]| {
        let mut argv = vec!["tvault", "-q", "--vault", &kit, "--anchor-dir"];
        let anchors = p("anchors");
        argv.push(&anchors);
        argv.extend(["--passphrase-file", &export_pass]);
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        if let Err(e) = run(cli) {
            panic!("{args:?} on the kit failed: {}", e.message);
        }
    };
    let hq_kit_steps: Vec<(Vec<&str>, Vec<Action>)> = vec![
        (
            vec![
                "kit",
                "create",
                "east",
                "-o",
                &kit,
                "--new-passphrase-file",
                &export_pass,
                "--allow-weak-passphrase",
                "--kdf-memory-mib",
                "1",
                "--kdf-iterations",
                "1",
                "--allow-weak-kdf",
            ],
            vec![KitCreated],
        ),
        (vec!["kit", "list"], vec![KitsListed]),
        (
            vec!["import", &kit_bundle, "--receipt-out", &receipt],
            vec![RecordImported, KitImported],
        ),
        (
            vec!["kit", "revoke", "east", "--reason", "lost"],
            vec![KitRevoked],
        ),
    ];
    let kit_steps: Vec<(Vec<&str>, Vec<Action>)> = vec![
        (
            vec!["add", "--witness", "W", "--text-file", &st],
            vec![RecordAdded],
        ),
        (vec!["list"], vec![RecordsListed]),
        (vec!["verify"], vec![Verified]),
        (vec!["kit", "send", "-o", &kit_bundle], vec![KitSent]),
    ];
    let kit_events = || -> Vec<Action> {
        tvault::Vault::open(
            std::path::Path::new(&kit),
            &tvault::crypto::Passphrase::from_bytes(zeroize::Zeroizing::new(
                b"an export passphrase for this test".to_vec(),
            ))
            .unwrap(),
            &tvault::vault::OpenOptions::default(),
        )
        .unwrap()
        .log(None)
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect()
    };
    for (i, (args, _)) in hq_kit_steps.iter().enumerate() {
        if i == 2 {
            for (args, _) in &kit_steps {
                run_kit(args);
            }
            let mut expected = vec![VaultCreated, SigningKeyCreated, KitCreated];
            for (_, events) in &kit_steps {
                expected.extend(events);
            }
            expected.push(LogRead);
            assert_eq!(kit_events(), expected);
        }
        run_args(args);
        sizes.push(log_size() - before);
        before = log_size();
        if i == 2 {
            run_kit(&["kit", "confirm", &receipt]);
            // Headquarters holds everything the kit recorded: `kit confirm` restarted its log.
            assert_eq!(kit_events(), vec![KitLogRestarted, LogRead]);
        }
    }
    plan.extend(hq_kit_steps);

    // Every subcommand (and every `audit` subcommand) is in the plan.
    let mut planned: std::collections::BTreeSet<String> = plan
        .iter()
        .map(|(args, _)| match args[0] {
            "audit" | "operator" | "passphrase" | "kit" | "custodians" | "policy" => {
                format!("{} {}", args[0], args[1])
            }
            other => other.to_owned(),
        })
        .collect();
    planned.insert("destroy".into());
    planned.extend(["kit send".to_owned(), "kit confirm".to_owned()]);
    // On a vault whose log is in place, restart-log refuses and appends nothing; on one
    // without a log it starts one (tests/custody.rs).
    {
        let mut argv = vec!["tvault", "-q", "--vault", &vault, "--anchor-dir"];
        let (anchors, pass) = (p("anchors"), p("pass"));
        argv.extend([anchors.as_str(), "--passphrase-file", &pass]);
        argv.extend(["audit", "restart-log", "--reason", "test"]);
        let refused = run(Cli::try_parse_from(&argv).unwrap());
        assert!(refused.is_err_and(|e| e.kind == error::Exit::Failure));
        assert_eq!(log_size(), before);
        planned.insert("audit restart-log".into());
    }
    for sub in Cli::command().get_subcommands() {
        let name = sub.get_name().to_owned();
        if sub.has_subcommands() {
            for inner in sub.get_subcommands() {
                let full = format!("{name} {}", inner.get_name());
                assert!(
                    planned.contains(&full),
                    "`{full}` has no expected events here"
                );
            }
        } else {
            assert!(
                planned.contains(&name),
                "`{name}` has no expected events here"
            );
        }
    }

    // What each command appended, read back from the log itself.
    let passphrase = tvault::crypto::Passphrase::from_bytes(zeroize::Zeroizing::new(
        b"umbrella quarry lantern velvet oxygen 7 mosaic".to_vec(),
    ))
    .unwrap();
    let mut opened = tvault::Vault::open(
        std::path::Path::new(&vault),
        &passphrase,
        &tvault::vault::OpenOptions::default(),
    )
    .unwrap();
    let events = opened.log(None).unwrap();
    let mut at = 0;
    for ((args, expected), n) in plan.iter().zip(&sizes) {
        let got: Vec<Action> = events[at..at + *n as usize]
            .iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(&got, expected, "{args:?}");
        at += *n as usize;
    }
}

#[test]
fn sizes_read_naturally() {
    assert_eq!(human_size(0), "0 B");
    assert_eq!(human_size(1023), "1023 B");
    assert_eq!(human_size(1536), "1.5 KiB");
    assert_eq!(human_size(5 << 30), "5.0 GiB");
}
