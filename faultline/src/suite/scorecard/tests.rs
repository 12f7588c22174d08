//! The scorecard's logic without a cluster: catchers are replaced by scripted results.

use super::*;
use crate::clients::workload::Workload;
use crate::spec::SystemSpec;
use std::path::PathBuf;

use crate::spec::EXAMPLE_SPEC as SPEC;

fn base() -> TestConfig {
    TestConfig {
        spec: SystemSpec::parse(SPEC).unwrap(),
        nodes: 3,
        plan: NemesisPlan::None,
        time_limit: Duration::from_secs(5),
        workload: Workload {
            concurrency: 4,
            rate: 100.0,
            keys: 2,
            seed: 1,
            read_pct: 50,
            write_pct: 25,
            clients: crate::clients::workload::ClientMode::Spread,
            kind: Default::default(),
            topology: Default::default(),
        },
        op_timeout: Duration::from_secs(1),
        store: PathBuf::from("store"),
        node_args: vec!["--x".into()],
        bin_dir: PathBuf::from("/bin"),
        command: "faultline bugs".into(),
        settle: Duration::from_secs(2),
        final_read_budget: Duration::from_secs(30),
        check_time_limit: Duration::from_secs(60),
        progress: false,
        net: Default::default(),
        log_stderr: false,
    }
}

fn result(name: &'static str, status: Status) -> ScenarioResult {
    ScenarioResult {
        name,
        status,
        elapsed: Duration::ZERO,
        run_dir: None,
        note: String::new(),
    }
}

/// The first three catchers.
fn three() -> Vec<Catcher> {
    catchers().into_iter().take(3).collect()
}

#[test]
fn only_checker_findings_count_as_catches() {
    assert!(is_finding("linearizability: a stale read: ..."));
    assert!(is_finding("election safety: two leaders in one term"));
    assert!(is_finding("crash: node n1 (pid 7) ended by itself"));
    assert!(!is_finding("the term changed while healthy: terms {1, 3}"));
    assert!(!is_finding("the run failed: setup"));
    assert!(!is_finding("unknown"));
}

#[test]
fn bug_names_are_the_node_flags() {
    let names: Vec<String> = PlantedBug::value_variants()
        .iter()
        .map(|b| b.name())
        .collect();
    assert_eq!(
        names,
        [
            "stale-read",
            "follower-read",
            "no-fsync",
            "vote-twice",
            "commit-old-term",
            "no-dedup",
            "lost-truncate"
        ]
    );
    assert_eq!(Subject::from_str("none", false).unwrap(), Subject::Control);
    assert_eq!(
        Subject::from_str("no-dedup", false).unwrap(),
        Subject::Bug(PlantedBug::NoDedup)
    );
    assert!(Subject::from_str("no-such-bug", false).is_err());
}

#[test]
fn the_control_comes_first_and_only_when_wanted() {
    let all = subjects(&[]);
    assert_eq!(all[0], Subject::Control);
    assert_eq!(all.len(), 1 + PlantedBug::value_variants().len());
    let bug = Subject::Bug(PlantedBug::NoFsync);
    assert_eq!(subjects(&[bug]), [bug]);
    assert_eq!(subjects(&[bug, Subject::Control]), [Subject::Control, bug]);
}

#[test]
fn a_bug_runs_with_its_flag_and_the_control_without() {
    let cfg = config_for(Subject::Bug(PlantedBug::StaleRead), &base());
    assert_eq!(cfg.node_args, ["--x", "--bug", "stale-read"]);
    assert_eq!(config_for(Subject::Control, &base()).node_args, ["--x"]);
}

#[test]
fn a_missed_expectation_is_not_a_catch_and_the_search_goes_on() {
    let mut seeds = Vec::new();
    let mut events = 0;
    let row = score(
        Subject::Bug(PlantedBug::NoDedup),
        &base(),
        3,
        10,
        &three(),
        |c, cfg| {
            seeds.push(cfg.workload.seed);
            assert_eq!(cfg.node_args, ["--x", "--bug", "no-dedup"]);
            match seeds.len() {
                2 => result(c.name(), Status::Fail("no ok op after heal".into())),
                5 => result(c.name(), Status::Fail("linearizability: lost".into())),
                _ => result(c.name(), Status::Pass),
            }
        },
        |_| {
            events += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seeds, [10, 10, 10, 11, 11]);
    assert_eq!((row.runs, row.missed, events), (5, 1, 6));
    let caught = row.caught.clone().unwrap();
    let second = three()[1].name();
    assert_eq!((caught.by, caught.pass), (second, 2));
    assert!(row.ok());
    let want = format!(
        "no-dedup         caught: yes, by {second} in pass 2 (5 runs, 1 missed expectation(s) \
         not counted,"
    );
    assert!(row.text().starts_with(&want), "{}", row.text());
}

#[test]
fn an_uncaught_bug_and_a_failed_control_are_not_ok() {
    let pass = |c: &Catcher, _: &TestConfig| result(c.name(), Status::Pass);
    let bug = Subject::Bug(PlantedBug::VoteTwice);
    let row = score(bug, &base(), 2, 1, &three(), pass, |_| Ok(())).unwrap();
    assert_eq!((row.runs, row.caught.is_none(), row.ok()), (6, true, false));
    assert!(row
        .text()
        .starts_with("vote-twice       caught: NO (6 runs, "));

    let fail = |c: &Catcher, _: &TestConfig| result(c.name(), Status::Fail("slow".into()));
    let row = score(Subject::Control, &base(), 2, 1, &three(), fail, |_| Ok(())).unwrap();
    assert_eq!((row.runs, row.missed, row.ok()), (1, 0, false));
    assert_eq!(
        row.text(),
        format!(
            "none             control FAILED in {}: slow",
            three()[0].name()
        )
    );

    let row = score(Subject::Control, &base(), 1, 1, &three(), pass, |_| Ok(())).unwrap();
    assert!(row.ok());
    assert!(row
        .text()
        .starts_with("none             control: passed every scenario (3 runs, "));
}
