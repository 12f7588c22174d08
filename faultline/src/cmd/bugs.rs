//! `faultline bugs`: prints the scorecard of raft-node's planted bugs as it is scored
//! ([`faultline::suite::scorecard`]), one row per bug and the control.

use crate::cmd::args::BugsArgs;
use crate::cmd::output::print;
use crate::cmd::suite::{base_config, line};
use anyhow::Result;
use faultline::exit::ExitCode;
use faultline::suite::scorecard::{self, Catcher, Event};

/// Runs `faultline bugs`: every row in turn, each run's line as it ends, then the scorecard.
pub fn run(args: &BugsArgs) -> Result<ExitCode> {
    nemesis::install_cleanup_handlers()?;
    faultline::runlog::install();
    let base = base_config(
        &args.system,
        &args.store,
        &None,
        Some(args.seed),
        args.clients,
    )?;
    let catchers = scorecard::catchers();
    let mut rows = Vec::new();
    let mut ok = true;
    for subject in scorecard::subjects(&args.only) {
        let row = scorecard::score(
            subject,
            &base,
            args.runs,
            args.seed,
            &catchers,
            Catcher::run,
            |event| {
                match event {
                    Event::Ran(r) => print(&format!("  [{subject}] {}", line(r))),
                    Event::Missed => print(&format!(
                        "  [{subject}] a missed expectation, not a finding: the search goes on\n"
                    )),
                }
                .map_err(anyhow::Error::from)
            },
        )?;
        ok &= row.ok();
        let text = row.text();
        print(&format!("{text}\n"))?;
        rows.push(text);
    }
    faultline::runlog::close();
    print(&format!(
        "\nscorecard (seed {}):\n{}\n",
        args.seed,
        rows.join("\n")
    ))?;
    Ok(if ok {
        ExitCode::Valid
    } else {
        ExitCode::Invalid
    })
}
