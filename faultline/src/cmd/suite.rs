//! `faultline suite`: the Raft lab scenarios (see [`faultline::suite`]), one PASS/FAIL line
//! each, in the style of `go test -v`.

use crate::cmd::args::{NetArgs, SuiteArgs, TestArgs};
use anyhow::Result;
use faultline::clients::workload::{ClientMode, WorkloadKind};
use faultline::exit::ExitCode;
use faultline::run::TestConfig;
use faultline::suite::{self, Scenario, ScenarioResult, Status};
use std::time::Instant;

/// The configuration every scenario and catcher starts from: 3 nodes, a 5 s healthy run, 4
/// clients at 100 ops/s on 2 keys (each scenario sets its own).
pub fn base_config(
    system: &std::path::Path,
    store: &std::path::Path,
    node_args: &Option<String>,
    seed: Option<u64>,
    clients: ClientMode,
) -> Result<TestConfig> {
    let args = TestArgs {
        system: system.to_path_buf(),
        nodes: 3,
        nemesis: "none".into(),
        nemesis_interval: 5.0,
        time_limit: 5.0,
        concurrency: 4,
        rate: 100.0,
        keys: 2,
        read_pct: 50,
        write_pct: 25,
        op_timeout: 1.0,
        seed,
        node_args: node_args.clone(),
        store: store.to_path_buf(),
        check_time_limit: 60.0,
        clients,
        json: false,
        workload: WorkloadKind::LinKv,
        topology: Default::default(),
        net: NetArgs::default(),
    };
    let mut cfg = crate::cmd::test::config(&args)?;
    cfg.progress = false;
    Ok(cfg)
}

/// A scenario's result line (and where its run is kept, when it failed).
pub fn line(r: &ScenarioResult) -> String {
    let t = r.elapsed.as_secs_f64();
    let mut s = match &r.status {
        Status::Pass => format!("--- PASS: {} ({t:.1}s) {}\n", r.name, r.note),
        Status::Fail(why) => format!("--- FAIL: {} ({t:.1}s): {why}\n", r.name),
        Status::Skip(why) => format!("--- SKIP: {} ({t:.1}s): {why}\n", r.name),
    };
    if let (Status::Fail(_), Some(dir)) = (&r.status, &r.run_dir) {
        s.push_str(&format!("    store: {}\n", dir.display()));
    }
    s
}

/// The classic scenarios, or those named by `--only` (which may also name a hunt; clap checked
/// the names).
fn select(only: &[String]) -> Vec<Scenario> {
    let mut all = suite::scenarios();
    if only.is_empty() {
        return all;
    }
    all.extend(suite::hunts());
    all.into_iter()
        .filter(|s| only.iter().any(|o| o == s.name))
        .collect()
}

/// Runs `faultline suite`.
pub fn run(args: &SuiteArgs) -> Result<ExitCode> {
    nemesis::install_cleanup_handlers()?;
    faultline::runlog::install();
    let scenarios = select(&args.only);
    let mut base = base_config(
        &args.system,
        &args.store,
        &args.node_args,
        args.seed,
        args.clients,
    )?;
    let seed = base.workload.seed;
    crate::cmd::output::print(&format!(
        "suite: {} scenario(s) on {}, seed {seed}{}\n",
        scenarios.len(),
        base.spec.name,
        if args.runs > 1 {
            format!(", up to {} runs each", args.runs)
        } else {
            String::new()
        }
    ))?;
    let started = Instant::now();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for sc in &scenarios {
        crate::cmd::output::print(&format!("=== RUN   {}\n", sc.name))?;
        let mut last = None;
        for run in 0..args.runs.max(1) {
            base.workload.seed = seed + run as u64;
            let r = suite::run_scenario(sc, &base);
            let stop = !matches!(r.status, Status::Pass);
            last = Some(r);
            if stop {
                break;
            }
        }
        let r = last.expect("at least one run");
        match r.status {
            Status::Pass => pass += 1,
            Status::Fail(_) => fail += 1,
            Status::Skip(_) => skip += 1,
        }
        crate::cmd::output::print(&line(&r))?;
    }
    faultline::runlog::close();
    let verdict = if fail == 0 { "PASS" } else { "FAIL" };
    crate::cmd::output::print(&format!(
        "{verdict}: {pass} passed, {fail} failed, {skip} skipped in {:.0} s ({})\n",
        started.elapsed().as_secs_f64(),
        base.spec.name
    ))?;
    Ok(if fail == 0 {
        ExitCode::Valid
    } else {
        ExitCode::Invalid
    })
}
