//! Builds a vault of many synthetic records, for measuring `list` and `search` at scale.
//!
//! ```sh
//! cargo run --release --example generate -- VAULT RECORDS PASSPHRASE_FILE [ANCHOR_DIR]
//! ```
//!
//! Each record has a ~2 KiB statement of random words from the EFF list, a pseudonym, title,
//! tags, place, language and date, and consent to archiving; every 100th statement contains
//! the word `lighthouse`.
//! Records are stored in transactions of 250,000 through `Vault::add_many`, the same path as
//! `tvault add`: each transaction rewrites every bucket of the listing digest, so fewer are
//! faster, and each holds its new statements in memory (about 600 MiB) until it commits. The
//! vault uses a cheap KDF (8 MiB, 1 pass), marked weak: it is test data.

use std::path::PathBuf;
use std::time::Instant;

use rand::Rng;
use rand::seq::SliceRandom;
use tvault::crypto::{KdfParams, Passphrase};
use tvault::record::{Metadata, WitnessIdentity};
use tvault::vault::{CreateOptions, Intake};
use tvault::{Consent, Purpose, Vault};
use zeroize::Zeroizing;

const BATCH: usize = 250_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vault, records, pass_file, rest @ ..] = args.as_slice() else {
        return Err("usage: generate VAULT RECORDS PASSPHRASE_FILE [ANCHOR_DIR]".into());
    };
    let records: usize = records.parse()?;
    let line = std::fs::read_to_string(pass_file)?;
    let passphrase = Passphrase::from_bytes(Zeroizing::new(
        line.lines().next().unwrap_or_default().as_bytes().to_vec(),
    ))?;
    let anchor_dir = rest.first().map(PathBuf::from);
    let start = Instant::now();
    let mut vault = Vault::create(
        vault.as_ref(),
        &passphrase,
        &CreateOptions {
            kdf: KdfParams {
                m_kib: 8 * 1024,
                t: 1,
                p: 1,
            },
            weak_kdf: true,
            operator: "generator",
            anchor_dir: anchor_dir.as_deref(),
            recovery: None,
        },
    )?;
    let words = diceware_wordlists::Wordlist::EffLong.get_list();
    let mut rng = rand::thread_rng();
    let places = ["Almaty", "Bishkek", "Istanbul", "Geneva", "Berlin"];
    let languages = ["kk", "ky", "ug", "ru", "en"];
    let mut done = 0;
    while done < records {
        let n = BATCH.min(records - done);
        let intakes = (done..done + n).map(|i| {
            let mut text = String::with_capacity(2100);
            while text.len() < 2000 {
                text.push_str(words.choose(&mut rng).expect("words"));
                text.push(' ');
            }
            if i % 100 == 0 {
                text.push_str("lighthouse");
            }
            text.push('\n');
            Intake {
                meta: Metadata {
                    witness: format!("W-{i:06}"),
                    title: Some(format!("Interview {i}")),
                    interviewer: Some("generator".into()),
                    date: format!("20{:02}-{:02}-{:02}", 10 + i % 15, 1 + i % 12, 1 + i % 28)
                        .parse()
                        .ok(),
                    location: Some(places[i % places.len()].into()),
                    language: Some(languages[i % languages.len()].into()),
                    tags: vec![
                        format!("batch-{}", i / BATCH),
                        format!("t{}", rng.gen_range(0..50)),
                    ],
                    // Archive consent, so that the records can be exported.
                    consent: Consent {
                        purposes: [Purpose::Archive].into(),
                        ..Consent::default()
                    },
                },
                identity: WitnessIdentity::default(),
                statement: Some(
                    Box::new(std::io::Cursor::new(text.into_bytes())) as Box<dyn std::io::Read>
                ),
                attachments: Vec::new(),
            }
        });
        vault.add_many(intakes)?;
        done += n;
        eprint!("\r{done}/{records} records");
    }
    eprintln!(
        "\rbuilt {records} records in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
