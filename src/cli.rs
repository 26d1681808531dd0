//! The command line: global flags, the subcommands, passphrase sources and output.
//!
//! stdout carries data (ids, listings, JSON, attachment bytes); stderr carries people
//! (prompts, confirmations, warnings, errors). Each subcommand lives in its own file with its
//! `Args` (whose doc comments are the help) and its `run`.

mod add;
mod amend;
mod audit;
mod backup;
mod cat;
mod completions;
mod config;
mod custodians;
mod derive;
mod destroy;
mod doctor;
mod editor;
pub mod error;
mod export;
mod fields;
pub mod harden;
mod history;
mod import;
mod init;
mod kit;
mod list;
mod log;
mod open_export;
mod operator;
mod passphrase;
mod policy;
mod progress;
mod recover;
mod redact;
mod rekey;
mod search;
mod show;
mod shred;
mod status;
mod terminal;
mod timestamp;
mod verify;
mod verify_export;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use tvault::Vault;
use tvault::vault::OpenOptions;

use config::Config;
use error::CliError;
use passphrase::Sources;

/// tvault keeps witness testimony encrypted in one file, and releases it only on purpose.
#[derive(Debug, Parser)]
#[command(name = "tvault", version, max_term_width = 100)]
pub struct Cli {
    /// The vault file [default: $XDG_DATA_HOME/tvault/vault.tvault]
    #[arg(long, global = true, env = "TVAULT_VAULT", value_name = "PATH")]
    vault: Option<PathBuf>,

    /// Print one JSON document on stdout (errors as JSON on stderr)
    #[arg(long, global = true)]
    json: bool,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Never prompt; fail with exit code 14 when a secret is needed and no source is given
    #[arg(long, global = true)]
    no_input: bool,

    /// The operator: the name recorded at init, and the keyslot that must unlock
    #[arg(long, global = true, env = "TVAULT_OPERATOR", value_name = "NAME")]
    operator: Option<String>,

    /// Read the passphrase from this inherited file descriptor (first line)
    #[arg(long, global = true, value_name = "N")]
    passphrase_fd: Option<i32>,

    /// Read the passphrase from the first line of FILE
    #[arg(
        long,
        global = true,
        env = "TVAULT_PASSPHRASE_FILE",
        value_name = "FILE",
        hide_env_values = true
    )]
    passphrase_file: Option<PathBuf>,

    /// Run CMD with `sh -c` and read the passphrase from the first line it prints
    #[arg(
        long,
        global = true,
        env = "TVAULT_PASSPHRASE_COMMAND",
        value_name = "CMD",
        hide_env_values = true
    )]
    passphrase_command: Option<String>,

    /// Keep anchor checkpoints here [default: $XDG_STATE_HOME/tvault/anchors]
    #[arg(long, global = true, env = "TVAULT_ANCHOR_DIR", value_name = "DIR")]
    anchor_dir: Option<PathBuf>,

    /// Open a vault that is older than its anchor checkpoint (restored on purpose); logged
    #[arg(long, global = true)]
    accept_rollback: bool,

    /// Open a vault whose anchor checkpoint is missing (moved to a new machine, or the anchor
    /// folder was lost); logged
    #[arg(long, global = true)]
    accept_missing_anchor: bool,

    /// Show the causes of errors
    #[arg(short, long, global = true)]
    verbose: bool,

    /// Without a command: what you can do now, given the vault at the default place
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Add(Box<add::Args>),
    Amend(Box<amend::Args>),
    List(list::Args),
    Show(show::Args),
    Cat(cat::Args),
    Derive(Box<derive::Args>),
    Redact(redact::Args),
    Search(search::Args),
    History(history::Args),
    Log(log::Args),
    Verify(verify::Args),
    Export(Box<export::Args>),
    VerifyExport(verify_export::Args),
    OpenExport(open_export::Args),
    Import(import::Args),
    Backup(backup::Args),
    Shred(shred::Args),
    Recover(recover::Args),
    Rekey(rekey::Args),
    Destroy(destroy::Args),
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    #[command(subcommand)]
    Passphrase(operator::PassphraseCommand),
    #[command(subcommand)]
    Audit(audit::Command),
    #[command(subcommand)]
    Kit(kit::Command),
    #[command(subcommand)]
    Custodians(custodians::Command),
    #[command(subcommand)]
    Policy(policy::Command),
    Status(status::Args),
    Doctor(doctor::Args),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

/// What every subcommand gets: the global flags, resolved.
pub struct Context {
    pub vault_path: PathBuf,
    /// Whether a flag, the environment or the config file named the vault (else: the default).
    pub vault_chosen: bool,
    pub anchor_dir: PathBuf,
    /// Where the config file is looked for, and the export recipients it gives.
    pub config_path: Option<PathBuf>,
    pub export_recipients: Vec<String>,
    pub accept_rollback: bool,
    pub accept_missing_anchor: bool,
    pub json: bool,
    pub quiet: bool,
    pub operator: Option<String>,
    pub sources: Sources,
}

/// Parses argv. Help and version print and exit 0; usage errors exit 2, reported as JSON on
/// stderr when `--json` was among the arguments.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        let json = std::env::args_os()
            .take_while(|a| a != "--")
            .any(|a| a == "--json");
        if !e.use_stderr() || !json {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let mut err = CliError::usage(first.strip_prefix("error: ").unwrap_or(first))
            .hint("`tvault --help` lists the commands, `tvault COMMAND --help` their options");
        err.json = true;
        err.report()
    })
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let (json, verbose) = (cli.json, cli.verbose);
    let with_flags = |mut e: CliError| {
        e.json = json;
        e.verbose = verbose;
        e
    };
    // Completions and the manual work whatever state the config file is in.
    let config_path = config::path();
    let config = match (&cli.command, &config_path) {
        (Some(Command::Completions(_) | Command::Man(_)), _) | (_, None) => Config::default(),
        (_, Some(p)) => config::load(p).map_err(with_flags)?,
    };
    // A flag, then its environment variable (both through clap), then the config file.
    let vault_chosen = cli.vault.is_some() || config.vault.is_some();
    let ctx = Context {
        vault_chosen,
        vault_path: match cli.vault.or(config.vault) {
            Some(p) => p,
            None => xdg_dir("XDG_DATA_HOME", ".local/share")
                .map_err(with_flags)?
                .join("vault.tvault"),
        },
        anchor_dir: match cli.anchor_dir.or(config.anchor_dir) {
            Some(p) => p,
            None => xdg_dir("XDG_STATE_HOME", ".local/state")
                .map_err(with_flags)?
                .join("anchors"),
        },
        config_path,
        export_recipients: config.export.recipients,
        accept_rollback: cli.accept_rollback,
        accept_missing_anchor: cli.accept_missing_anchor,
        json: cli.json,
        quiet: cli.quiet,
        operator: cli.operator.or(config.operator),
        sources: Sources {
            fd: cli.passphrase_fd,
            file: cli.passphrase_file,
            command: cli.passphrase_command,
            no_input: cli.no_input,
        },
    };
    let Some(command) = cli.command else {
        return guide(&ctx).map_err(with_flags);
    };
    // A field kit holds no key that opens what it recorded: say so before asking for a
    // passphrase (the library refuses these too).
    let reads = matches!(
        command,
        Command::Show(_)
            | Command::Cat(_)
            | Command::Derive(_)
            | Command::Redact(_)
            | Command::Search(_)
            | Command::Export(_)
            | Command::Amend(_)
            | Command::History(_)
            | Command::Shred(_)
            | Command::Rekey(_)
    );
    if reads
        && ctx.vault_path.exists()
        && tvault::vault::is_field_kit(&ctx.vault_path).unwrap_or(false)
    {
        return Err(with_flags(tvault::Error::FieldKit.into()));
    }
    let result = match command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Add(args) => add::run(&ctx, *args),
        Command::Amend(args) => amend::run(&ctx, *args),
        Command::History(args) => history::run(&ctx, args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, *args),
        Command::VerifyExport(args) => verify_export::run(&ctx, args),
        Command::OpenExport(args) => open_export::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Backup(args) => backup::run(&ctx, args),
        Command::Shred(args) => shred::run(&ctx, args),
        Command::Recover(args) => recover::run(&ctx, args),
        Command::Rekey(args) => rekey::run(&ctx, args),
        Command::Destroy(args) => destroy::run(&ctx, args),
        Command::Operator(command) => operator::run_operator(&ctx, command),
        Command::Passphrase(command) => operator::run_passphrase(&ctx, command),
        Command::Audit(command) => audit::run(&ctx, command),
        Command::Kit(command) => kit::run(&ctx, command),
        Command::Custodians(command) => custodians::run(&ctx, command),
        Command::Policy(command) => policy::run(&ctx, command),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Cat(args) => cat::run(&ctx, args),
        Command::Derive(args) => derive::run(&ctx, *args),
        Command::Redact(args) => redact::run(&ctx, args),
        Command::Search(args) => search::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    };
    result.map_err(with_flags)
}

/// `tvault` alone: a few lines on what to do next, from what is there (reads no secret and
/// records nothing).
fn guide(ctx: &Context) -> Result<(), CliError> {
    let path = ctx.vault_path.display();
    let text = if !ctx.vault_path.exists() {
        format!(
            "tvault keeps witness testimony encrypted in one file.\n\n\
             There is no vault at {path} yet. To start:\n  \
             tvault init                  make it (asks for a passphrase; keep the recovery code)\n  \
             tvault --vault PATH init     make one somewhere else\n\n\
             `tvault --help` lists every command.\n"
        )
    } else {
        let status = Vault::status(&ctx.vault_path, Some(&ctx.anchor_dir))?;
        if status.field_kit {
            return print(&format!(
                "Field kit {path}: {} record(s) waiting for headquarters.\n\n\
                 What you can do now:\n  \
                 tvault add --witness PSEUDONYM --text-file FILE [--attach FILE]  record a testimony (sealed to headquarters)\n  \
                 tvault list                                                      what waits to be sent\n  \
                 tvault kit send -o FILE                                          a bundle for headquarters\n  \
                 tvault kit confirm RECEIPT                                       delete what headquarters holds\n\n\
                 A field kit cannot show what it recorded: only headquarters can.\n",
                status.records
            ));
        }
        format!(
            "Vault {path}: {} record(s), {} event(s) in its custody log.\n\n\
             What you can do now:\n  \
             tvault add --witness PSEUDONYM --text-file FILE [--attach FILE]  record a testimony\n  \
             tvault list | tvault search TEXT | tvault show ID                find and read\n  \
             tvault export -o FILE --purpose P ID... --recipient KEY          release records, sealed and signed{}\n  \
             tvault verify                                                    check everything\n  \
             tvault backup -o FILE                                            a checked copy to keep elsewhere\n\n\
             `tvault status` describes the vault without a passphrase; `tvault --help` lists every command.\n",
            status.records,
            status.log_size,
            if status.export_approvals > 1 {
                format!(
                    "\n                                                                   (needs {} operators: add --approver NAME)",
                    status.export_approvals
                )
            } else {
                String::new()
            }
        )
    };
    print(&text)
}

/// `$VAR/tvault`, or `~/FALLBACK/tvault` (XDG base directories; relative values are ignored).
fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf, CliError> {
    let absolute = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute(std::env::var_os(var))
        .or_else(|| absolute(std::env::var_os("HOME")).map(|h| h.join(fallback)))
        .ok_or_else(|| {
            CliError::usage(format!(
                "cannot find tvault's folders: neither {var} nor HOME is set"
            ))
            .hint("name the vault with --vault PATH and the anchor folder with --anchor-dir DIR")
        })?;
    Ok(base.join("tvault"))
}

impl Context {
    /// Asks for the passphrase and unlocks the vault.
    pub fn unlock(&self) -> Result<Vault, CliError> {
        self.unlock_with(None)
    }

    /// [`Context::unlock`]; with `restart_log`, starts a new custody log on a vault that
    /// holds records without one (`tvault audit restart-log`).
    pub fn unlock_with(&self, restart_log: Option<&str>) -> Result<Vault, CliError> {
        // Fail on a missing vault before asking for anything.
        if !self.vault_path.exists() {
            return Err(tvault::Error::NoVault {
                path: self.vault_path.clone(),
            }
            .into());
        }
        let passphrase = self.sources.read("Vault passphrase: ")?;
        Ok(Vault::open(
            &self.vault_path,
            &passphrase,
            &OpenOptions {
                operator: self.operator.as_deref(),
                anchor_dir: Some(&self.anchor_dir),
                accept_rollback: self.accept_rollback,
                accept_missing_anchor: self.accept_missing_anchor,
                restart_log,
            },
        )?)
    }

    /// A line for people, on stderr, unless `--quiet`.
    pub fn say(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }
}

/// Refuses an output path that already exists: tvault never replaces a file.
pub fn refuse_existing(path: &std::path::Path) -> Result<(), CliError> {
    if path.exists() {
        return Err(CliError::new(
            error::Exit::Failure,
            format!("{} already exists", path.display()),
        )
        .hint("tvault never replaces a file; choose a new name"));
    }
    Ok(())
}

/// Writes text to stdout. A closed pipe ends the command quietly.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::stdout)
}

/// Writes one JSON document and a newline to stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).expect("output serialises");
    text.push('\n');
    print(&text)
}

/// `12.3 MiB`: sizes for people.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
