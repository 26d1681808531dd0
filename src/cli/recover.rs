//! `tvault recover`: a new passphrase for an operator, with the recovery code.

use std::path::{Path, PathBuf};

use tvault::Vault;
use tvault::crypto::RecoveryCode;
use tvault::vault::OpenOptions;
use zeroize::Zeroizing;

use super::Context;
use super::error::{CliError, Exit};
use super::operator::NewPassphrase;

/// Set a new passphrase for an operator, unlocking with the recovery code
///
/// The recovery code opens only the recovery keyslot; it never works as a passphrase.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recovery code, on the first line of FILE
    #[arg(long, value_name = "FILE")]
    recovery_code_file: PathBuf,

    #[command(flatten)]
    new: NewPassphrase,
}

/// Reads a recovery code from the first line of `path`.
pub fn read_code(path: &Path) -> Result<RecoveryCode, CliError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            Exit::NoSecretSource,
            format!("cannot read {}", path.display()),
        )
        .with_source(&e)
    })?);
    parse_code(text.lines().next().unwrap_or_default())
}

pub fn parse_code(text: &str) -> Result<RecoveryCode, CliError> {
    RecoveryCode::parse(text).ok_or_else(|| {
        CliError::new(
            Exit::WrongPassphrase,
            "that is not a recovery code (32 hex digits, in groups of four)",
        )
    })
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let code = read_code(&args.recovery_code_file)?;
    if !ctx.vault_path.exists() {
        return Err(tvault::Error::NoVault {
            path: ctx.vault_path.clone(),
        }
        .into());
    }
    let mut vault = Vault::open_with_recovery(
        &ctx.vault_path,
        &code,
        &OpenOptions {
            operator: None,
            anchor_dir: Some(&ctx.anchor_dir),
            accept_rollback: ctx.accept_rollback,
            accept_missing_anchor: ctx.accept_missing_anchor,
            restart_log: None,
        },
    )?;
    let passphrase = args.new.read(ctx)?;
    let name = vault.recover_operator(ctx.operator.as_deref(), &passphrase)?;
    if ctx.json {
        return super::print_json(&serde_json::json!({
            "operator": name,
            "passphrase_changed": true,
        }));
    }
    ctx.say(&format!(
        "Set a new passphrase for {}. Copies of the vault made earlier still open with the old one.",
        super::terminal::escape(&name, false)
    ));
    Ok(())
}
