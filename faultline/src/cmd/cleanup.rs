//! `faultline cleanup`: removes what killed runs left behind (see [`nemesis::cleanup`]) and
//! prints what it removed.

use crate::cmd::args::CleanupArgs;
use anyhow::{bail, Result};
use faultline::exit::ExitCode;

/// Runs `faultline cleanup`.
pub fn run(args: &CleanupArgs) -> Result<ExitCode> {
    let report = nemesis::cleanup(args.run.as_deref())?;
    let what = match &args.run {
        Some(id) => format!("run {id}"),
        None => "every faultline run".to_string(),
    };
    if report.is_empty() {
        crate::cmd::output::print(&format!("cleanup ({what}): nothing left behind\n"))?;
    } else {
        crate::cmd::output::print(&format!(
            "cleanup ({what}): killed {} process(es), removed {} namespace(s) and {} link(s)\n",
            report.killed.len(),
            report.namespaces.len(),
            report.links.len()
        ))?;
    }
    if !report.errors.is_empty() {
        bail!("cleanup incomplete: {}", report.errors.join("; "));
    }
    Ok(ExitCode::Valid)
}
