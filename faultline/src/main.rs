//! `faultline`: Jepsen-style fault injection and linearizability checking.
//!
//! The binary is thin (as ripgrep's is): argument parsing in [`cli`], one module per subcommand,
//! the logic in the library crates (`histories`, `checker`). Exit codes follow DESIGN.md:
//! 0 valid, 1 invalid, 2 unknown or the run itself failed (bad input, missing root, ...).

mod bench;
mod check;
mod cli;
mod output;
mod suitecmd;
mod testcmd;
mod web;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Test(args) => testcmd::run(&args),
        cli::Command::Cleanup(args) => testcmd::cleanup(&args),
        cli::Command::Suite(args) => suitecmd::run_suite(&args),
        cli::Command::Bugs(args) => suitecmd::run_bugs(&args),
        cli::Command::Check(args) => check::run(&args),
        cli::Command::Bench(args) => bench::run(&args),
        cli::Command::MemRegister(args) => mem_register(&args),
        cli::Command::Report(args) => web::report(&args),
        cli::Command::Serve(args) => web::serve(&args),
    };
    match result {
        Ok(code) => code.into(),
        Err(err) if output::is_broken_pipe(&err) => ExitCode::from(0),
        Err(err) => {
            eprintln!("faultline: error: {err:#}");
            cli::Exit::Error.into()
        }
    }
}

/// `faultline mem-register`: parses the flags and serves the in-memory register.
fn mem_register(args: &cli::MemRegisterArgs) -> anyhow::Result<cli::Exit> {
    let stale = match args.bug.as_deref() {
        None => false,
        Some("stale-read") => true,
        Some(other) => anyhow::bail!("--bug: unknown bug {other:?}; expected stale-read"),
    };
    faultline::memreg::run(&args.listen, stale)?;
    Ok(cli::Exit::Valid)
}
