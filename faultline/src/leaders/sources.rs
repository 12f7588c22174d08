//! Where a run's leader events come from, as the system spec's `leader_events` names them: the
//! nodes' own log lines (tailed by [`LeaderTracker::start`]), or the etcd probe (sampling every
//! member's status, fed into [`LeaderTracker::fed`]), or nowhere.

use super::etcd_probe::{self, CurrentLeader, ProbeEvent};
use super::redis_probe;
use super::zk_probe;
use super::LeaderTracker;
use crate::clients::adapter::Connector;
use crate::run::{say, TestConfig};
use crate::spec::LeaderEvents;
use crate::store::RunDir;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The run's clock: ns since the history was created.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// How often a probe (etcd, ZooKeeper) polls every member's status.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Starts the tracker `source` calls for, writing `leaders.jsonl`; `None` when the system
/// announces no leaders.
pub fn tracker(
    source: LeaderEvents,
    nodes: &[String],
    run_dir: &RunDir,
    clock: &Clock,
) -> Result<Option<Arc<LeaderTracker>>> {
    let out = run_dir.leaders();
    Ok(match source {
        LeaderEvents::StdoutJsonl => Some(Arc::new(LeaderTracker::start(
            nodes
                .iter()
                .map(|n| (n.clone(), run_dir.node_log(n)))
                .collect(),
            out,
            Arc::clone(clock),
        )?)),
        LeaderEvents::EtcdProbe | LeaderEvents::ZookeeperProbe | LeaderEvents::RedisSentinel => {
            Some(Arc::new(LeaderTracker::fed(out, Arc::clone(clock))?))
        }
        LeaderEvents::None => None,
    })
}

/// The etcd probe's background task (nothing for other systems).
pub struct Probe {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Probe {
    /// For a system whose leaders are probed: waits until every member names one leader (etcd
    /// accepts connections before it serves), then samples every member into `tracker`.
    pub fn start(
        cfg: &TestConfig,
        rt: &Runtime,
        addrs: &[(String, SocketAddr)],
        connector: &Arc<dyn Connector>,
        tracker: Option<&Arc<LeaderTracker>>,
    ) -> Result<Probe> {
        let (stop, stopped) = watch::channel(false);
        let mut probe = Probe { stop, task: None };
        let ready_timeout = Duration::from_secs_f64(cfg.spec.ready_timeout_s);
        if cfg.spec.leader_events == LeaderEvents::RedisSentinel {
            let master = rt
                .block_on(redis_probe::wait_ready(
                    addrs,
                    Arc::clone(connector),
                    ready_timeout,
                ))
                .map_err(anyhow::Error::msg)
                .context("the sentinels did not agree on a master")?;
            say(cfg, &format!("every sentinel names master {master}"));
            let t = Arc::clone(tracker.expect("a tracker for the probe"));
            let mut current = redis_probe::CurrentMaster::default();
            let mut seen = std::collections::BTreeSet::new();
            probe.task = Some(rt.spawn(redis_probe::probe_loop(
                addrs.to_vec(),
                Arc::clone(connector),
                PROBE_INTERVAL,
                stopped,
                move |sentinel, named| {
                    current.observe(sentinel, named.clone());
                    t.set_current(current.current());
                    if let Some((master, epoch)) = named {
                        if seen.insert((sentinel.to_string(), master.clone(), epoch)) {
                            t.record(&master, epoch);
                        }
                    }
                },
            )));
            return Ok(probe);
        }
        if cfg.spec.leader_events == LeaderEvents::ZookeeperProbe {
            let leader = rt
                .block_on(zk_probe::wait_for_leader(
                    addrs,
                    Arc::clone(connector),
                    ready_timeout,
                ))
                .map_err(anyhow::Error::msg)
                .context("the cluster did not elect a leader")?;
            say(cfg, &format!("server {leader} leads"));
            let t = Arc::clone(tracker.expect("a tracker for the probe"));
            let mut leaders = zk_probe::Leaders::default();
            probe.task = Some(rt.spawn(zk_probe::probe_loop(
                addrs.to_vec(),
                Arc::clone(connector),
                PROBE_INTERVAL,
                stopped,
                move |sample| {
                    let claim = leaders.observe(&sample);
                    t.set_current(leaders.current());
                    if let Some((node, epoch)) = claim {
                        t.record(&node, epoch);
                    }
                },
            )));
            return Ok(probe);
        }
        if cfg.spec.leader_events != LeaderEvents::EtcdProbe {
            return Ok(probe);
        }
        let (leader, _) = rt
            .block_on(etcd_probe::wait_for_leader(
                addrs,
                Arc::clone(connector),
                ready_timeout,
            ))
            .context("the cluster did not elect a leader")?;
        say(cfg, &format!("every member names leader {leader}"));
        let t = Arc::clone(tracker.expect("a tracker for the probe"));
        let mut current = CurrentLeader::default();
        probe.task = Some(rt.spawn(etcd_probe::probe_loop(
            addrs.to_vec(),
            Arc::clone(connector),
            PROBE_INTERVAL,
            stopped,
            move |event| {
                current.observe(&event);
                t.set_current(current.current());
                if let ProbeEvent::Leader(sample) = event {
                    t.record(&sample.node, sample.term);
                }
            },
        )));
        Ok(probe)
    }

    /// Stops the probe and waits for its task.
    pub fn stop(self, rt: &Runtime) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task {
            let _ = rt.block_on(task);
        }
    }
}

/// Waits up to the spec's ready timeout for a first leader, and says whether one came.
pub fn wait_first_leader(cfg: &TestConfig, tracker: Option<&LeaderTracker>) {
    let ready_timeout = Duration::from_secs_f64(cfg.spec.ready_timeout_s);
    match tracker {
        Some(t) => match t.wait_leader(ready_timeout) {
            Some(l) => say(cfg, &format!("ready; leader {l}")),
            None => say(cfg, "ready; no leader announced yet"),
        },
        None => say(cfg, "ready"),
    }
}
