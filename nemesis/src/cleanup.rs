//! `faultline cleanup`: remove what a killed run left behind, found by name alone.
//!
//! Why: a harness that was SIGKILLed (or whose machine lost power) ran no destructor. Its
//! namespaces, veths, bridge and node processes are still there. Every one of them carries the run
//! id in its name ([`crate::names`]), and nothing else we create does, so we can find them without
//! any state file, and leave everything else alone.
//!
//! Commands, in order, for each run found:
//! 1. `ip netns list` and `ip -o link show`: keep only names that parse as ours
//!    (`fl-<id>-nK`/`fl-<id>-c`, `flbr-<id>`, `flv-<id>-nK`/`flv-<id>-c`);
//! 2. `ip netns pids fl-<id>-…`: every process in our namespaces was started by the run (or is a
//!    child of one); each gets SIGCONT then SIGKILL, by PID;
//! 3. `ip link del flv-<id>-…` (removes both veth ends), `ip netns del fl-<id>-…` (its iptables
//!    chains go with it), `ip link del flbr-<id>`.
//!
//! Idempotent: a second call finds nothing and reports nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::backend::{ProcState, Sig, TeardownReport};
use crate::cmd;
use crate::error::Result;
use crate::names::{self, RunId};
use crate::proc::{proc_state, signal_pid};
use crate::tools;

/// How long we wait for the processes of a namespace to die after SIGKILL.
const PIDS_WAIT_MS_MAX: u64 = 5_000;

/// Removes every leftover of run `run_id` (or of every run, with `None`): processes inside our
/// namespaces, namespaces, veths, bridges. Touches nothing whose name is not ours. Note that with
/// `None` a run that is still alive is removed too.
pub fn cleanup(run_id: Option<&str>) -> Result<TeardownReport> {
    tools::check()?;
    let only = run_id.map(RunId::new).transpose()?;
    let mut ids: BTreeSet<RunId> = BTreeSet::new();
    ids.extend(
        list_namespaces()?
            .iter()
            .filter_map(|n| names::parse_netns(n)),
    );
    ids.extend(list_links()?.iter().filter_map(|n| names::parse_link(n)));
    let mut report = TeardownReport::default();
    for id in ids
        .into_iter()
        .filter(|id| only.as_ref().map_or(true, |o| o == id))
    {
        report.merge(remove_run(&id));
    }
    Ok(report)
}

/// Removes run `id`'s namespaces (after killing the processes inside), veths and bridge.
pub(crate) fn remove_run(id: &RunId) -> TeardownReport {
    let mut report = TeardownReport::default();
    let namespaces: Vec<String> = match list_namespaces() {
        Ok(all) => all
            .into_iter()
            .filter(|n| names::parse_netns(n).as_ref() == Some(id))
            .collect(),
        Err(e) => {
            report.errors.push(e.to_string());
            Vec::new()
        }
    };
    for ns in &namespaces {
        kill_inside(ns, &mut report);
    }
    let links = match list_links() {
        Ok(all) => all
            .into_iter()
            .filter(|n| names::parse_link(n).as_ref() == Some(id))
            .collect(),
        Err(e) => {
            report.errors.push(e.to_string());
            Vec::new()
        }
    };
    // veths first, the bridge last.
    let (bridges, veths): (Vec<String>, Vec<String>) =
        links.into_iter().partition(|l| l.starts_with("flbr-"));
    for link in veths {
        remove(
            &["link", "del", &link],
            link.clone(),
            &mut report.links,
            &mut report.errors,
        );
    }
    for ns in namespaces {
        remove(
            &["netns", "del", &ns],
            ns.clone(),
            &mut report.namespaces,
            &mut report.errors,
        );
    }
    for link in bridges {
        remove(
            &["link", "del", &link],
            link.clone(),
            &mut report.links,
            &mut report.errors,
        );
    }
    report
}

fn remove(args: &[&str], name: String, done: &mut Vec<String>, errors: &mut Vec<String>) {
    match cmd::ip(args) {
        Ok(_) => done.push(name),
        // Gone in the meantime (a veth goes with its peer's namespace): not an error.
        Err(e) if e.to_string().contains("Cannot find device") => {}
        Err(e) => errors.push(e.to_string()),
    }
}

fn kill_inside(ns: &str, report: &mut TeardownReport) {
    let pids = match cmd::ip(&["netns", "pids", ns]) {
        Ok(out) => parse_pids(&out),
        Err(e) => {
            report.errors.push(e.to_string());
            return;
        }
    };
    for &pid in &pids {
        let _ = signal_pid(pid, Sig::Cont);
        let _ = signal_pid(pid, Sig::Kill);
    }
    let start = Instant::now();
    for pid in pids {
        // A zombie is dead: its parent (gone, or init) will reap it.
        while matches!(proc_state(pid), Some(s) if s != ProcState::Zombie)
            && start.elapsed() < Duration::from_millis(PIDS_WAIT_MS_MAX)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        match proc_state(pid) {
            Some(s) if s != ProcState::Zombie => report
                .errors
                .push(format!("pid {pid} in {ns} survived SIGKILL ({s:?})")),
            _ => report.killed.push(pid),
        }
    }
}

fn parse_pids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Names of all namespaces (`ip netns list` prints `NAME (id: N)` or `NAME`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = cmd::ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect())
}

/// Names of all links of the host (`ip -o link show`: `7: flv-abc-n1@if2: <...> ...`).
pub fn list_links() -> Result<Vec<String>> {
    let out = cmd::ip(&["-o", "link", "show"])?;
    Ok(out.lines().filter_map(parse_link_line).collect())
}

fn parse_link_line(line: &str) -> Option<String> {
    let name = line.split(": ").nth(1)?;
    Some(name.split('@').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_lines_and_pids_parse() {
        assert_eq!(
            parse_link_line("7: flv-abc-n1@if2: <BROADCAST> mtu 1500"),
            Some("flv-abc-n1".to_string())
        );
        assert_eq!(
            parse_link_line("3: flbr-abc: <BROADCAST> mtu 1500"),
            Some("flbr-abc".to_string())
        );
        assert_eq!(parse_pids("12\n345\n"), vec![12, 345]);
    }
}
