//! A real local RFC 3161 authority for tests: stock `openssl` makes a CA and a
//! timestamping certificate in a temporary folder and answers requests with
//! `openssl ts -reply`. No network.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A local timestamp authority in its own folder.
pub struct Tsa {
    pub dir: PathBuf,
}

pub fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
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
    pub fn new(parent: &Path, name: &str, ends_in: i64, ess_alg: &str) -> Tsa {
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
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                &format!("/CN=Test Root {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                &format!("/CN=Test TSA {name}"),
            ],
        );
        openssl(
            &dir,
            &[
                "ca",
                "-batch",
                "-config",
                "openssl.cnf",
                "-extensions",
                "tsa_ext",
                "-notext",
                "-startdate",
                &asn1_time(-3600),
                "-enddate",
                &asn1_time(ends_in),
                "-in",
                "tsa.csr",
                "-out",
                "tsa.pem",
            ],
        );
        Tsa { dir }
    }

    /// `openssl ts -reply` to a request file; returns the response file.
    pub fn reply(&self, query: &Path, out: &str) -> PathBuf {
        let path = self.dir.join(out);
        openssl(
            &self.dir,
            &[
                "ts",
                "-reply",
                "-config",
                "openssl.cnf",
                "-queryfile",
                query.to_str().unwrap(),
                "-out",
                path.to_str().unwrap(),
            ],
        );
        path
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}
