//! `faultline mem-register`: serves the in-memory register of [`faultline::memreg`].

use crate::cmd::args::MemRegisterArgs;
use faultline::exit::ExitCode;
use faultline::memreg::Bug;

/// `faultline mem-register`: serves the in-memory register until killed.
pub fn run(args: &MemRegisterArgs) -> anyhow::Result<ExitCode> {
    faultline::memreg::run(&args.listen, args.bug == Some(Bug::StaleRead))?;
    Ok(ExitCode::Valid)
}
