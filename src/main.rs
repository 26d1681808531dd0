//! The `tvault` command. Everything it does is in the library; this is the terminal's side.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::harden::harden_process();
    let args = match cli::parse() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}
