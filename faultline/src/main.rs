//! `faultline`: Jepsen-style fault injection and linearizability checking.
//!
//! The binary is thin (as ripgrep's is): the flags and one module per subcommand in [`cmd`],
//! the logic in the library (`faultline`, `histories`, `checker`, `nemesis`). Exit codes are
//! [`faultline::exit::ExitCode`]'s: 0 valid, 1 invalid, 2 error (usage, bad input, a run that
//! failed), 3 unknown (a check's budget was spent).

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::args::Cli::parse();
    match cmd::run(cli.command) {
        Ok(code) => code.into(),
        Err(err) if cmd::output::is_broken_pipe(&err) => ExitCode::from(0),
        Err(err) => {
            eprintln!("faultline: error: {}", cmd::output::chain(&err));
            faultline::exit::ExitCode::Error.into()
        }
    }
}
