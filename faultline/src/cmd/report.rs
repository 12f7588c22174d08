//! `faultline report RUN_DIR`: a thin shell over [`faultline::report::write_run_report`].

use crate::cmd::args::ReportArgs;
use crate::cmd::output;
use anyhow::Result;
use faultline::exit::ExitCode;
use faultline::report;

/// `faultline report RUN_DIR`: regenerates report.html and prints its path.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let out = report::write_run_report(&args.run_dir)?;
    output::print(&format!("{}\n", out.display()))?;
    Ok(ExitCode::Valid)
}
