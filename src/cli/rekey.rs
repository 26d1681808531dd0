//! `tvault rekey`: a new master key, with keyslots only for the secrets given.

use std::path::PathBuf;

use tvault::crypto::{Passphrase, RecoveryCode};
use tvault::vault::RekeyPlan;
use zeroize::Zeroizing;

use super::error::{CliError, Exit};
use super::passphrase::Sources;
use super::progress::Bar;
use super::terminal::escape;
use super::{Context, print_json};

/// Give the vault a new master key, keeping only the keyslots whose secret is given
///
/// The keyslot that unlocks is kept; so is each operator's whose passphrase is given with
/// --keep-passphrase-file (or typed when asked), and the recovery keyslot when its code is
/// given. Every other keyslot is removed, after confirmation. Everything in the vault is sealed
/// anew, in one transaction: interrupted at any point, the vault stays as it was.
///
/// Without --reencrypt each part keeps its file key and payload, so an older copy of the vault
/// and a passphrase that opened it can still decrypt that content in the new file. With
/// --reencrypt every part gets a new file key and payload, and nothing from an older copy
/// opens anything in the new file. Copies made earlier are not changed by either.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also give every part a new file key and payload (reads and writes all the content)
    #[arg(long)]
    reencrypt: bool,

    /// Keep the keyslot that the passphrase on the first line of FILE opens (repeatable)
    #[arg(long, value_name = "FILE")]
    keep_passphrase_file: Vec<PathBuf>,

    /// Keep the recovery keyslot: its code is on the first line of FILE
    #[arg(long, value_name = "FILE")]
    recovery_code_file: Option<PathBuf>,

    /// Remove the keyslots whose secret is not given without asking
    #[arg(long)]
    yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let mut vault = ctx.unlock()?;
    let mut passphrases = args
        .keep_passphrase_file
        .iter()
        .map(|path| {
            Sources {
                file: Some(path.clone()),
                no_input: true,
                ..Default::default()
            }
            .read("")
        })
        .collect::<Result<Vec<Passphrase>, _>>()?;
    let mut code = args
        .recovery_code_file
        .as_deref()
        .map(super::recover::read_code)
        .transpose()?;
    let mismatch = |e: tvault::Error| {
        CliError::from(e).hint(
            "each --keep-passphrase-file holds another operator's passphrase, and \
             --recovery-code-file the recovery code",
        )
    };
    let mut plan = vault
        .plan_rekey(&passphrases, code.as_ref())
        .map_err(mismatch)?;

    if !plan.dropped.is_empty() && !args.yes {
        let mut tty = ctx.sources.terminal().map_err(|_| {
            CliError::usage(format!(
                "this rekey would remove {} keyslot(s) whose secret was not given",
                plan.dropped.len()
            ))
            .hint("give --keep-passphrase-file FILE for each operator to keep, and --recovery-code-file FILE to keep the recovery code")
            .hint("or pass --yes to remove those keyslots")
        })?;
        if ask_for_secrets(&mut tty, &plan, &mut passphrases, &mut code)? {
            plan = vault
                .plan_rekey(&passphrases, code.as_ref())
                .map_err(mismatch)?;
        }
        if !plan.dropped.is_empty() {
            let names: Vec<String> = plan.dropped.iter().map(describe).collect();
            tty.say(&format!(
                "These keyslots will be removed: {}.\nCopies of the vault made earlier still open with them.\n",
                names.join(", ")
            ))?;
            let typed = tty.ask_line("Type `rekey` to go on: ")?;
            if typed.trim() != "rekey" {
                return Err(CliError::new(
                    Exit::Failure,
                    "not confirmed; nothing was changed",
                ));
            }
        }
    }

    let verb = if args.reencrypt {
        "re-encrypting"
    } else {
        "rekeying"
    };
    let bar = Bar::items(ctx, verb, "versions");
    let summary = vault.rekey(plan, args.reencrypt, &mut |done, total| {
        bar.set(done, total)
    })?;
    drop(bar);
    if ctx.json {
        return print_json(&summary);
    }
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| escape(n, false))
            .collect::<Vec<_>>()
            .join(", ")
    };
    ctx.say(&format!(
        "Rekeyed: a new master key; {} version(s), {} part(s) {}.",
        summary.versions,
        summary.parts,
        if summary.reencrypted {
            "re-encrypted with new file keys"
        } else {
            "rewrapped"
        }
    ));
    ctx.say(&format!("Keyslots kept: {}.", list(&summary.kept)));
    if !summary.dropped.is_empty() {
        ctx.say(&format!("Keyslots removed: {}.", list(&summary.dropped)));
    }
    ctx.say(&format!(
        "A new signing key signs the custody log and exports from now on; the old key signed it \
         over in the log. Publish the new fingerprint to everyone who checks your exports or \
         holds your checkpoints, through the channel you used for the old one:\n  {}\n  {}\n\
         (the old key, {}, no longer signs anything)",
        summary.signing_key_fingerprint,
        escape(&summary.signing_key, false),
        summary.old_signing_key_fingerprint
    ));
    ctx.say(if summary.reencrypted {
        "Copies and backups made before now still open with their old keyslots, but nothing \
         from them opens this file."
    } else {
        "Copies and backups made before now still open with their old keyslots, and with them \
         the content of this file, whose file keys did not change: `tvault rekey --reencrypt` \
         changes those too."
    });
    Ok(())
}

fn describe(slot: &tvault::vault::DroppedSlot) -> String {
    if slot.recovery {
        "the recovery code".to_owned()
    } else if slot.custodians {
        "the custodians' split (run `tvault custodians split` again afterwards)".to_owned()
    } else {
        escape(&slot.name, false).into_owned()
    }
}

/// Asks for the secret of each keyslot about to be removed; an empty answer lets it go.
/// Returns whether any secret was given.
fn ask_for_secrets(
    tty: &mut super::passphrase::Terminal,
    plan: &RekeyPlan,
    passphrases: &mut Vec<Passphrase>,
    code: &mut Option<RecoveryCode>,
) -> Result<bool, CliError> {
    tty.say("Keyslots are kept only for secrets given now; press Enter to remove one.\n")?;
    let mut given = false;
    for slot in plan.dropped.iter().filter(|s| !s.custodians) {
        let answer = if slot.recovery {
            tty.prompt("Recovery code (Enter to remove the recovery keyslot): ")?
        } else {
            tty.prompt(&format!(
                "Passphrase of {} (Enter to remove their keyslot): ",
                escape(&slot.name, false)
            ))?
        };
        if answer.is_empty() {
            continue;
        }
        given = true;
        if slot.recovery {
            let text = Zeroizing::new(String::from_utf8_lossy(&answer).into_owned());
            *code = Some(super::recover::parse_code(&text)?);
        } else {
            passphrases.push(
                Passphrase::from_bytes(answer)
                    .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?,
            );
        }
    }
    Ok(given)
}
