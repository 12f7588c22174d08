//! Names faultline declares for programs it runs but does not link: raft-node's planted bugs
//! ([`PlantedBug`]) are the ones `raft-node --list-bugs` prints, one per line.

use crate::support::{ensure_raft_node, raft_node, stdout};
use clap::ValueEnum;
use faultline::suite::scorecard::PlantedBug;
use std::process::Command;

#[test]
fn planted_bugs_are_the_ones_raft_node_lists() {
    ensure_raft_node();
    let out = Command::new(raft_node())
        .arg("--list-bugs")
        .output()
        .expect("run raft-node --list-bugs");
    assert!(out.status.success(), "{out:?}");
    let listed: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let declared: Vec<String> = PlantedBug::value_variants()
        .iter()
        .map(|b| b.name())
        .collect();
    assert_eq!(declared, listed);
}
