//! Taking real bundles apart and putting them back together, signed by a key of the test's
//! own: what someone who hands over a crafted bundle can do (tests/sender.rs,
//! tests/approvals.rs).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tvault::audit::{self, Checkpoint};
use tvault::bundle::{
    BundleWriter, INNER_NAMESPACE, Manifest, OUTER_NAMESPACE, OuterFiles, Receipt, SealKind,
    ssh_sign, sums_text,
};

/// A tar's entries: each name (raw) and its bytes, in order.
pub fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

pub fn outer_files(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    entries(&std::fs::read(bundle).unwrap())
}

/// The inner files of a bundle sealed to `identity`.
pub fn inner_files(bundle: &Path, identity: &age::x25519::Identity) -> Vec<(String, Vec<u8>)> {
    let outer = outer_files(bundle);
    let payload = &outer.iter().find(|(n, _)| n == "payload.age").unwrap().1;
    let decryptor = age::Decryptor::new(&payload[..]).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    entries(&plain)
}

/// A tar entry whose name bytes are written as given, so that odd names are not cleaned on
/// the way in.
pub fn raw_entry<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, data).unwrap();
}

pub fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        raw_entry(&mut tar, name, data);
    }
    tar.finish().unwrap();
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Someone with a signing key of their own, making bundles out of others' content.
pub struct Forger {
    pub key: SigningKey,
}

impl Forger {
    pub fn new() -> Self {
        Forger {
            key: SigningKey::from_bytes(&[0x5a; 32]),
        }
    }

    pub fn public(&self) -> ssh_key::PublicKey {
        let mut key = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(self.key.verifying_key().to_bytes()),
        ));
        key.set_comment("forger");
        key
    }

    pub fn fingerprint(&self) -> String {
        self.public()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// A complete bundle of these inner files (names written byte for byte), their
    /// SHA256SUMS listing every name given and signed, sealed to `to`; the outer files
    /// signed by this key, the receipt proving the manifest's intent event in a checkpoint
    /// this key signs.
    pub fn bundle(&self, out: &Path, files: &[(String, Vec<u8>)], to: &age::x25519::Recipient) {
        let manifest = &files.iter().find(|(n, _)| n == "MANIFEST.json").unwrap().1;
        let manifest: Manifest = serde_json::from_slice(manifest).unwrap();
        let intent = manifest.intent_event.clone().unwrap();
        let event: audit::Event = serde_json::from_str(&intent).unwrap();
        let index = event.seq;
        let leaves: Vec<audit::Hash> = (0..=index)
            .map(|i| {
                if i == index {
                    audit::leaf_hash(intent.as_bytes())
                } else {
                    audit::leaf_hash(&i.to_be_bytes())
                }
            })
            .collect();
        let root = audit::root(&leaves);
        let proof = audit::inclusion_proof(index as usize, &leaves);
        let origin = format!("tvault/{}", manifest.vault_id);
        let checkpoint = Checkpoint::sign(&origin, index + 1, &root, &self.key);

        let mut tar = tar::Builder::new(Vec::new());
        let mut sums = BTreeMap::new();
        for (name, data) in files.iter().filter(|(n, _)| !n.starts_with("SHA256SUMS")) {
            raw_entry(&mut tar, name, data);
            sums.insert(name.clone(), sha256(data));
        }
        let text = sums_text(&sums);
        let sig = ssh_sign(&self.key, INNER_NAMESPACE, text.as_bytes());
        raw_entry(&mut tar, "SHA256SUMS", text.as_bytes());
        raw_entry(&mut tar, "SHA256SUMS.sig", sig.as_bytes());
        let inner = tar.into_inner().unwrap();

        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
        let mut w = encryptor
            .wrap_output(BundleWriter::create(out).unwrap())
            .unwrap();
        w.write_all(&inner).unwrap();
        let writer = w.finish().unwrap();
        let files = OuterFiles {
            checkpoint: checkpoint.note,
            receipt: Receipt {
                format: Receipt::FORMAT.into(),
                event: None,
                leaf_hash: Some(STANDARD.encode(leaves[index as usize])),
                export_id: Some(manifest.export_id.clone()),
                index,
                tree_size: index + 1,
                proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
                rotations: Vec::new(),
            },
            signer_line: self.public().to_openssh().unwrap(),
            export_id: manifest.export_id.clone(),
            seal: SealKind::Keys {
                age: true,
                ssh: false,
            },
            approvals: Vec::new(),
            timestamps: None,
        };
        writer.finish(&files, &self.key).unwrap();
    }

    /// Rewrites a bundle's outer files with `edit`, and signs its SHA256SUMS anew.
    pub fn resign_outer(
        &self,
        src: &Path,
        dst: &Path,
        mut edit: impl FnMut(&str, Vec<u8>) -> Vec<u8>,
    ) {
        let mut files: Vec<(String, Vec<u8>)> = outer_files(src)
            .into_iter()
            .map(|(n, d)| {
                let d = edit(&n, d);
                (n, d)
            })
            .collect();
        let sums: BTreeMap<String, [u8; 32]> = files
            .iter()
            .filter(|(n, _)| !n.starts_with("SHA256SUMS"))
            .map(|(n, d)| (n.clone(), sha256(d)))
            .collect();
        let text = sums_text(&sums);
        for (name, data) in &mut files {
            match name.as_str() {
                "SHA256SUMS" => *data = text.clone().into_bytes(),
                "SHA256SUMS.sig" => {
                    *data = ssh_sign(&self.key, OUTER_NAMESPACE, text.as_bytes()).into_bytes();
                }
                _ => {}
            }
        }
        write_tar(dst, &files);
    }
}
