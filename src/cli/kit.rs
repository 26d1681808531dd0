//! `tvault kit`: field kits that record testimony but cannot read it back.
//!
//! At headquarters: `kit create`, `kit list`, `kit revoke` (and `import` of a kit's bundle).
//! On a kit: `kit send` and `kit confirm`.

use std::path::PathBuf;

use tvault::crypto::KdfParams;
use tvault::vault::KitOptions;

use super::error::CliError;
use super::init::KdfArgs;
use super::operator::NewPassphrase;
use super::progress::Bar;
use super::terminal::escape;
use super::{Context, print, print_json, refuse_existing};

/// Field kits: vault files that record testimony sealed to headquarters and cannot read it
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// At headquarters: make a field kit (a new file holding no key that opens what it records)
    ///
    /// Headquarters keeps, sealed in its vault, the only key that opens what the kit records,
    /// and pins the kit's signing key. Without KDF flags the kit's passphrase is stretched
    /// with Argon2id at 256 MiB × 3 passes, which older field laptops can afford.
    Create(CreateArgs),
    /// At headquarters: list the kits made here (name, created, last import, records, revoked)
    List,
    /// At headquarters: revoke a kit (lost or seized); its bundles are refused from now on
    Revoke {
        /// The kit's name
        name: String,
        /// Why (logged)
        #[arg(long)]
        reason: String,
    },
    /// On a kit: write a bundle of every record not yet confirmed, for headquarters
    ///
    /// Sending again re-sends every unconfirmed record; headquarters takes each in once.
    Send {
        /// The bundle to write (a new file)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// On a kit: check headquarters' receipt and delete the records it holds
    Confirm {
        /// The receipt `tvault import` wrote at headquarters
        receipt: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The kit's name at headquarters (say, the team or the trip)
    name: String,

    /// The kit file to write (a new file)
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,

    /// The name of the kit's operator, recorded (sealed) with every event on the kit
    #[arg(long, value_name = "NAME", default_value = "field")]
    kit_operator: String,

    #[command(flatten)]
    new: NewPassphrase,

    #[command(flatten)]
    kdf: KdfArgs,
}

pub fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    match command {
        Command::Create(args) => create(ctx, args),
        Command::List => list(ctx),
        Command::Revoke { name, reason } => {
            let mut vault = ctx.unlock()?;
            let kit = vault.revoke_kit(&name, &reason)?;
            if ctx.json {
                return print_json(&kit);
            }
            ctx.say(&format!(
                "Revoked kit {}. Bundles from it are refused from now on.",
                escape(&kit.name, false)
            ));
            Ok(())
        }
        Command::Send { output } => {
            refuse_existing(&output)?;
            let mut vault = ctx.unlock()?;
            let sent = vault.kit_send(&output)?;
            if ctx.json {
                return print_json(&sent);
            }
            print(&format!("{}\n", output.display()))?;
            ctx.say(&format!(
                "Wrote {} record(s) for headquarters. They stay on this kit until `tvault kit confirm RECEIPT` with headquarters' receipt.",
                sent.records
            ));
            Ok(())
        }
        Command::Confirm { receipt } => {
            let bytes = read_receipt(&receipt)?;
            let mut vault = ctx.unlock()?;
            let done = vault.kit_confirm(&bytes)?;
            if ctx.json {
                return print_json(&done);
            }
            ctx.say(&format!(
                "Deleted {} record(s) that headquarters holds ({} deleted before).",
                done.deleted.len(),
                done.already_deleted
            ));
            if done.log_restarted {
                ctx.say("Headquarters holds everything this kit recorded: its log was deleted too, and a new one begun.");
            }
            if !done.not_matched.is_empty() {
                ctx.say(&format!(
                    "warning: kept {} record(s) the receipt names but whose sealed files differ from this kit's: send them again",
                    done.not_matched.len()
                ));
            }
            Ok(())
        }
    }
}

fn read_receipt(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::from(tvault::Error::Io {
            path: path.to_owned(),
            source: e,
        })
    })?;
    let mut bytes = Vec::new();
    file.take(64 * 1024 * 1024)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            CliError::from(tvault::Error::Io {
                path: path.to_owned(),
                source: e,
            })
        })?;
    Ok(bytes)
}

fn create(ctx: &Context, args: CreateArgs) -> Result<(), CliError> {
    refuse_existing(&args.output)?;
    super::init::check_operator_name(&args.kit_operator)?;
    let kdf = args.kdf.explicit()?.unwrap_or(KdfParams {
        m_kib: 256 * 1024,
        t: 3,
        p: 1,
    });
    let mut vault = ctx.unlock()?;
    if vault.is_kit() {
        return Err(tvault::Error::FieldKit.into());
    }
    let passphrase = args.new.read_for(ctx, "New kit passphrase: ")?;
    let made = vault.create_kit(
        &args.name,
        &args.output,
        &passphrase,
        &KitOptions {
            kdf,
            weak_kdf: kdf.is_weak(),
            operator: &args.kit_operator,
        },
    )?;
    if ctx.json {
        return print_json(&made);
    }
    print(&format!("{}\n", made.path.display()))?;
    ctx.say(&format!(
        "Made field kit {} for headquarters {}.\n\
         Kit signing key: {}\n\n\
         On the kit: tvault --vault {} add …   then   tvault --vault {} kit send -o BUNDLE\n\
         Here:       tvault import BUNDLE --receipt-out RECEIPT   (the kit then runs `kit confirm RECEIPT`)\n\
         Keep this vault and its backups: only it can open what the kit records.",
        escape(&made.name, false),
        made.hq_fingerprint,
        made.fingerprint,
        made.path.display(),
        made.path.display()
    ));
    Ok(())
}

fn list(ctx: &Context) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let kits = vault.kits()?;
    if ctx.json {
        return print_json(&kits);
    }
    let mut text = String::new();
    for k in &kits {
        text += &format!(
            "{}\tcreated {}\tlast import {}\t{} record(s) imported\t{}\n",
            escape(&k.name, false),
            k.created_at,
            k.last_import.as_deref().unwrap_or("never"),
            k.records_imported,
            match &k.revoked {
                Some(r) => format!("REVOKED {} ({})", r.at, escape(&r.reason, false)),
                None => "active".to_owned(),
            }
        );
    }
    if kits.is_empty() {
        ctx.say("No field kits were made here. `tvault kit create NAME -o FILE` makes one.");
    }
    print(&text)
}

/// `import` of a kit bundle (recognised by its first entry): checks it against the kit
/// made here, takes its records in, and writes the receipt for the kit.
pub fn import(
    ctx: &Context,
    file: &std::path::Path,
    receipt_out: Option<PathBuf>,
    accept_revoked: Option<&str>,
) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let bar = Bar::bytes(ctx, "checking and importing");
    let summary = vault.import_kit(
        file,
        tvault::vault::KitImportOptions { accept_revoked },
        &mut |done, total| bar.set(done, total),
    )?;
    drop(bar);
    let receipt_path = receipt_out.unwrap_or_else(|| {
        let mut name = file.as_os_str().to_owned();
        name.push(".receipt");
        PathBuf::from(name)
    });
    tvault::fs::replace_private(&receipt_path, summary.receipt.as_bytes())?;
    if ctx.json {
        return print_json(&serde_json::json!({
            "kit": summary.kit,
            "kit_id": summary.kit_id,
            "imported": summary.imported,
            "held": summary.held,
            "kit_log_size": summary.kit_log_size,
            "receipt": receipt_path,
        }));
    }
    print(&format!(
        "imported {} record(s) from field kit {} ({} already here)\n",
        summary.imported.len(),
        escape(&summary.kit, false),
        summary.held
    ))?;
    ctx.say(&format!(
        "Receipt for the kit: {}\nOn the kit: tvault kit confirm {}",
        receipt_path.display(),
        receipt_path.display()
    ));
    Ok(())
}
