//! `tvault recover`: a new passphrase for an operator, with the recovery code or K
//! custodians' shares.

use std::path::{Path, PathBuf};

use tvault::Vault;
use tvault::bundle::Unlock;
use tvault::crypto::RecoveryCode;
use tvault::crypto::shares::Share;
use tvault::vault::OpenOptions;
use zeroize::Zeroizing;

use super::Context;
use super::error::{CliError, Exit};
use super::operator::NewPassphrase;

/// Set a new passphrase for an operator, unlocking with the recovery code or custodians' shares
///
/// The recovery code opens only the recovery keyslot, and the shares only the custodians
/// keyslot; neither works as a passphrase.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("secret").required(true).args(["recovery_code_file", "share"])))]
pub struct Args {
    /// The recovery code, on the first line of FILE
    #[arg(long, value_name = "FILE")]
    recovery_code_file: Option<PathBuf>,

    /// A custodian's share file (`tvault custodians split`); give at least the split's
    /// threshold of them, each once
    #[arg(long, value_name = "FILE")]
    share: Vec<PathBuf>,

    /// The age identity file (or unencrypted OpenSSH ed25519 key) that opens sealed shares
    #[arg(long, value_name = "FILE", requires = "share")]
    identity: Option<PathBuf>,

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

/// Reads and checks each share file; an unreadable, damaged or mistyped one is named.
fn read_shares(ctx: &Context, args: &Args) -> Result<Vec<Share>, CliError> {
    let identities = match super::export::bundle_unlock(ctx, args.identity.as_deref(), None, false)?
    {
        Some(Unlock::Identities(ids)) => ids,
        _ => Vec::new(),
    };
    let mut shares = Vec::with_capacity(args.share.len());
    for path in &args.share {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            CliError::new(
                Exit::NoSecretSource,
                format!("cannot read {}", path.display()),
            )
            .with_source(&e)
        })?);
        let share = tvault::vault::read_share(&bytes, &identities)
            .map_err(|e| CliError::from(e).context(format!("share {}", path.display())))?;
        shares.push(share);
    }
    // Mixed-up or repeated shares: name the files.
    if let Err(e) = tvault::crypto::shares::combine_check(&shares) {
        use tvault::crypto::shares::ShareError;
        let name = |i: usize| args.share[i].display().to_string();
        let what = match &e {
            ShareError::Mixed(a, b) => format!("shares {} and {}", name(*a), name(*b)),
            ShareError::Duplicate(a, b, _) => format!("shares {} and {}", name(*a), name(*b)),
            _ => "shares".to_owned(),
        };
        return Err(CliError::from(tvault::Error::Share(e)).context(what));
    }
    Ok(shares)
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let code = args
        .recovery_code_file
        .as_deref()
        .map(read_code)
        .transpose()?;
    let shares = if code.is_none() {
        read_shares(ctx, &args)?
    } else {
        Vec::new()
    };
    if !ctx.vault_path.exists() {
        return Err(tvault::Error::NoVault {
            path: ctx.vault_path.clone(),
        }
        .into());
    }
    let options = OpenOptions {
        operator: None,
        anchor_dir: Some(&ctx.anchor_dir),
        accept_rollback: ctx.accept_rollback,
        accept_missing_anchor: ctx.accept_missing_anchor,
        restart_log: None,
    };
    let mut vault = match &code {
        Some(code) => Vault::open_with_recovery(&ctx.vault_path, code, &options)?,
        None => Vault::open_with_shares(&ctx.vault_path, &shares, &options)?,
    };
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
