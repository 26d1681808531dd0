//! `tvault status`: what the vault file shows without a passphrase.

use tvault::Vault;

use super::error::CliError;
use super::{Context, human_size, print, print_json};

/// Show the vault's path, format, size and keyslots (needs no passphrase)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only list the paths tvault uses (the vault, the anchor folder, this vault's anchor and the
    /// config file), whether or not they exist yet
    #[arg(long)]
    paths: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.paths {
        return paths(ctx);
    }
    let status = Vault::status(&ctx.vault_path, Some(&ctx.anchor_dir))?;
    if status.keyslots.iter().any(|s| s.weak) {
        ctx.say("warning: a keyslot's KDF parameters are below the floor of 256 MiB and 768 MiB × passes; a stolen copy of this vault is easier to crack");
    }
    if ctx.json {
        return print_json(&status);
    }
    let mut text = String::new();
    if status.field_kit {
        text.push_str(
            "FIELD KIT: records here are sealed to headquarters and cannot be read on this kit\n",
        );
    }
    text += &format!(
        "vault:          {}\nformat version: {}\nvault id:       {}\nrecords:        {}\nsize:           {}\nkeyslots:       {}\n",
        status.path.display(),
        status.format_version,
        status.vault_id,
        status.records,
        human_size(status.file_size),
        status.keyslots.len()
    );
    for slot in &status.keyslots {
        text.push_str(&format!(
            "  {:<10} argon2id {} MiB × {} passes × {} lanes{}{}\n",
            slot.kind,
            slot.kdf_memory_mib,
            slot.kdf_iterations,
            slot.kdf_parallelism,
            slot.custodians
                .as_ref()
                .map(|c| format!("  ({} of {} shares)", c.threshold, c.shares))
                .unwrap_or_default(),
            if slot.weak { "  (WEAK)" } else { "" }
        ));
        if let (Some(key), Some(fp)) = (&slot.operator_key, &slot.operator_key_fingerprint) {
            text.push_str(&format!(
                "             operator key: {key}\n             {fp}\n"
            ));
        }
    }
    match (&status.signing_key, &status.signing_key_fingerprint) {
        (Some(key), Some(fp)) => {
            text.push_str(&format!("signing key:    {key}\nfingerprint:    {fp}\n"));
            if !status.previous_signing_keys.is_empty() {
                text.push_str(&format!(
                    "                (rotated {} time(s); earlier keys sign only earlier checkpoints: make sure this fingerprint is the one you published)\n",
                    status.previous_signing_keys.len()
                ));
            }
        }
        _ => text.push_str("signing key:    none yet (made at the next unlock)\n"),
    }
    if status.export_approvals > 1 {
        text.push_str(&format!(
            "exports:        need {} operators (`tvault policy show`)\n",
            status.export_approvals
        ));
    }
    text.push_str(&format!(
        "custody log:    {} events\nanchor:         {}\n",
        status.log_size,
        status
            .anchor
            .as_ref()
            .map_or_else(|| "none yet".to_owned(), |a| a.display().to_string())
    ));
    print(&text)
}

/// `status --paths`: where tvault reads and writes, for backups, audits and bug reports.
fn paths(ctx: &Context) -> Result<(), CliError> {
    let anchor = if ctx.vault_path.exists() {
        Vault::status(&ctx.vault_path, Some(&ctx.anchor_dir))?.anchor
    } else {
        None
    };
    if ctx.json {
        return print_json(&serde_json::json!({
            "vault": ctx.vault_path,
            "vault_exists": ctx.vault_path.exists(),
            "anchor_dir": ctx.anchor_dir,
            "anchor": anchor,
            "config": ctx.config_path,
            "config_exists": ctx.config_path.as_ref().is_some_and(|p| p.exists()),
        }));
    }
    let exists = |p: &std::path::Path| if p.exists() { "" } else { "  (not there yet)" };
    let config = ctx.config_path.as_ref().map_or_else(
        || "none (neither XDG_CONFIG_HOME nor HOME is set)".to_owned(),
        |p| format!("{}{}", p.display(), exists(p)),
    );
    print(&format!(
        "vault:          {}{}\nanchor folder:  {}{}\nanchor:         {}\nconfig:         {config}\n",
        ctx.vault_path.display(),
        exists(&ctx.vault_path),
        ctx.anchor_dir.display(),
        exists(&ctx.anchor_dir),
        anchor.map_or_else(|| "none yet".to_owned(), |a| a.display().to_string()),
    ))
}
