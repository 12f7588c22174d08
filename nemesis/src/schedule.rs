//! Seeded fault schedules: healthy, faulty, healthy, faulty...
//!
//! Why: a failure found under faults must be repeatable. Every choice (which shape, which nodes,
//! how much loss) comes from one `SmallRng` seeded by the run's seed, and each step draws the same
//! amount of randomness whatever the leader is, so the same seed gives the same fault sequence
//! (when the leader passed in is the same; timing always differs). The harness loop is:
//!
//! ```text
//! loop { sleep(step.healthy); record+apply(step.start); sleep(step.faulty); record+apply(step.stop) }
//! ```
//!
//! Nemesis names: `partition` (a random shape each time), `kill` (one random node, the leader,
//! a majority or all of them), `pause` (one random node or the leader), `loss` (1..=n receivers, 10-80%), `mix`
//! (any of those four families), and by name: the shapes `random-halves`, `isolate-leader`,
//! `isolate-one`, `majorities-ring`, `bridge`, `one-way`, and `kill-leader`, `pause-leader`,
//! `kill-majority`, `kill-all`. Stops: a partition or loss ends with `Heal`, a kill with `Restart`, a pause
//! with `Resume`. Without a known leader, a leader selector falls back to a random node.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fault::{shape, Fault, PartitionKind};

/// Default healthy and faulty interval.
pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// Loss percentages a `loss` step picks from.
pub const LOSS_PERCENTS: [u8; 5] = [10, 20, 30, 50, 80];

/// What a schedule injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nemesis {
    /// A random partition shape each step.
    Partition,
    /// One fixed shape.
    Shape(PartitionKind),
    /// Kill one random node, the leader or a majority.
    Kill,
    /// Kill the leader.
    KillLeader,
    /// Kill a majority.
    KillMajority,
    /// Kill every node at once (a power loss of the whole cluster: what un-fsynced data
    /// cannot survive).
    KillAll,
    /// Pause one random node or the leader.
    Pause,
    /// Pause the leader.
    PauseLeader,
    /// Packet loss on some nodes.
    Loss,
    /// Any of partition, kill, pause, loss.
    Mix,
}

impl Nemesis {
    /// Every name [`Nemesis::parse`] accepts.
    pub const NAMES: [&'static str; 15] = [
        "partition",
        "kill",
        "pause",
        "loss",
        "mix",
        "random-halves",
        "isolate-leader",
        "isolate-one",
        "majorities-ring",
        "bridge",
        "one-way",
        "kill-leader",
        "pause-leader",
        "kill-majority",
        "kill-all",
    ];

    /// Parses a nemesis name.
    pub fn parse(name: &str) -> Result<Nemesis> {
        let shapes = PartitionKind::RANDOM_SHAPES;
        Ok(match name {
            "partition" => Nemesis::Partition,
            "kill" => Nemesis::Kill,
            "pause" => Nemesis::Pause,
            "loss" => Nemesis::Loss,
            "mix" => Nemesis::Mix,
            "kill-leader" => Nemesis::KillLeader,
            "pause-leader" => Nemesis::PauseLeader,
            "kill-majority" => Nemesis::KillMajority,
            "kill-all" => Nemesis::KillAll,
            other => match shapes.iter().find(|k| k.name() == other) {
                Some(k) => Nemesis::Shape(*k),
                None => {
                    return Err(Error::UnknownNemesis {
                        name: name.to_string(),
                        known: Nemesis::NAMES.join(", "),
                    })
                }
            },
        })
    }
}

/// One healthy + faulty period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// 0, 1, 2, ...
    pub index: u64,
    /// Wait this long before `start`.
    pub healthy: Duration,
    /// The fault to apply.
    pub start: Fault,
    /// Wait this long before `stop`.
    pub faulty: Duration,
    /// What ends it (`Heal`, `Restart`, `Resume`).
    pub stop: Fault,
}

/// A seeded generator of [`Step`]s.
#[derive(Debug, Clone)]
pub struct Schedule {
    nemesis: Nemesis,
    nodes: Vec<String>,
    seed: u64,
    rng: SmallRng,
    healthy: Duration,
    faulty: Duration,
    index: u64,
}

impl Schedule {
    /// A schedule of `nemesis_name` over `nodes`, seeded with `seed`, with healthy and faulty
    /// intervals of `interval` each.
    pub fn new(
        nemesis_name: &str,
        nodes: &[String],
        seed: u64,
        interval: Duration,
    ) -> Result<Self> {
        let nemesis = Nemesis::parse(nemesis_name)?;
        let needs = match nemesis {
            Nemesis::Shape(PartitionKind::Bridge) => 3,
            Nemesis::Shape(_) | Nemesis::Partition | Nemesis::Mix => 2,
            _ => 1,
        };
        if nodes.len() < needs {
            return Err(Error::InvalidFault(format!(
                "nemesis {nemesis_name} needs at least {needs} nodes, got {}",
                nodes.len()
            )));
        }
        Ok(Schedule {
            nemesis,
            nodes: nodes.to_vec(),
            seed,
            rng: SmallRng::seed_from_u64(seed),
            healthy: interval,
            faulty: interval,
            index: 0,
        })
    }

    /// Uses different healthy and faulty intervals.
    pub fn with_intervals(mut self, healthy: Duration, faulty: Duration) -> Self {
        self.healthy = healthy;
        self.faulty = faulty;
        self
    }

    /// The seed (print it so the run can be repeated).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The nemesis.
    pub fn nemesis(&self) -> Nemesis {
        self.nemesis
    }

    /// The next step; `leader` is the current leader if the harness knows it.
    pub fn next_step(&mut self, leader: Option<&str>) -> Result<Step> {
        let (start, stop) = self.draw(self.nemesis, leader)?;
        let step = Step {
            index: self.index,
            healthy: self.healthy,
            start,
            faulty: self.faulty,
            stop,
        };
        self.index += 1;
        Ok(step)
    }

    /// The start and stop faults of the next step of `nemesis`. Long (about 80 lines) because
    /// it is one match with an arm per nemesis, each a few lines.
    fn draw(&mut self, nemesis: Nemesis, leader: Option<&str>) -> Result<(Fault, Fault)> {
        let shapes: Vec<PartitionKind> = PartitionKind::RANDOM_SHAPES
            .into_iter()
            .filter(|k| *k != PartitionKind::Bridge || self.nodes.len() >= 3)
            .collect();
        match nemesis {
            Nemesis::Mix => {
                let families = [
                    Nemesis::Partition,
                    Nemesis::Kill,
                    Nemesis::Pause,
                    Nemesis::Loss,
                ];
                let family = families[self.rng.gen_range(0..families.len())];
                self.draw(family, leader)
            }
            Nemesis::Partition => {
                let kind = shapes[self.rng.gen_range(0..shapes.len())];
                self.draw(Nemesis::Shape(kind), leader)
            }
            Nemesis::Shape(kind) => Ok((
                shape(kind, &self.nodes, leader, &mut self.rng)?,
                Fault::Heal,
            )),
            Nemesis::Kill => {
                let pick = [
                    Nemesis::KillLeader,
                    Nemesis::KillMajority,
                    Nemesis::KillAll,
                    Nemesis::Kill,
                ];
                match pick[self.rng.gen_range(0..pick.len())] {
                    Nemesis::Kill => {
                        let node = self.one(None);
                        self.kill(vec![node])
                    }
                    other => self.draw(other, leader),
                }
            }
            Nemesis::KillLeader => {
                let node = self.one(leader);
                self.kill(vec![node])
            }
            Nemesis::KillMajority => {
                let mut shuffled = self.nodes.clone();
                shuffled.shuffle(&mut self.rng);
                shuffled.truncate(self.nodes.len() / 2 + 1);
                shuffled.sort_by_key(|n| (n.len(), n.clone()));
                self.kill(shuffled)
            }
            Nemesis::KillAll => self.kill(self.nodes.clone()),
            Nemesis::Pause | Nemesis::PauseLeader => {
                let use_leader = nemesis == Nemesis::PauseLeader || self.rng.gen_bool(0.5);
                let node = self.one(if use_leader { leader } else { None });
                let nodes = vec![node];
                Ok((
                    Fault::Pause {
                        nodes: nodes.clone(),
                    },
                    Fault::Resume { nodes },
                ))
            }
            Nemesis::Loss => {
                let mut shuffled = self.nodes.clone();
                shuffled.shuffle(&mut self.rng);
                let count = self.rng.gen_range(1..=self.nodes.len());
                shuffled.truncate(count);
                shuffled.sort_by_key(|n| (n.len(), n.clone()));
                let percent = LOSS_PERCENTS[self.rng.gen_range(0..LOSS_PERCENTS.len())];
                Ok((
                    Fault::Loss {
                        nodes: shuffled,
                        percent,
                    },
                    Fault::Heal,
                ))
            }
        }
    }

    /// The leader if known and one of ours, else a random node. Draws once either way.
    fn one(&mut self, leader: Option<&str>) -> String {
        let random = self.nodes[self.rng.gen_range(0..self.nodes.len())].clone();
        match leader {
            Some(l) if self.nodes.iter().any(|n| n == l) => l.to_string(),
            _ => random,
        }
    }

    fn kill(&self, nodes: Vec<String>) -> Result<(Fault, Fault)> {
        Ok((
            Fault::Kill {
                nodes: nodes.clone(),
            },
            Fault::Restart { nodes },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(crate::names::node_name).collect()
    }

    fn faults(name: &str, seed: u64, leader: Option<&str>) -> Vec<(Fault, Fault)> {
        let mut s = Schedule::new(name, &nodes(5), seed, INTERVAL_DEFAULT).unwrap();
        (0..30)
            .map(|_| {
                let st = s.next_step(leader).unwrap();
                (st.start, st.stop)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        for name in Nemesis::NAMES {
            assert_eq!(
                faults(name, 42, Some("n3")),
                faults(name, 42, Some("n3")),
                "{name}"
            );
        }
        assert_ne!(faults("mix", 42, None), faults("mix", 43, None));
        assert_ne!(faults("partition", 1, None), faults("partition", 2, None));
    }

    #[test]
    fn stops_match_starts_and_mix_uses_every_family() {
        let mut seen = std::collections::BTreeSet::new();
        for (start, stop) in faults("mix", 9, Some("n2")) {
            seen.insert(start.f());
            let expected = match &start {
                Fault::Kill { nodes } => Fault::Restart {
                    nodes: nodes.clone(),
                },
                Fault::Pause { nodes } => Fault::Resume {
                    nodes: nodes.clone(),
                },
                _ => Fault::Heal,
            };
            assert_eq!(stop, expected);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
    }

    #[test]
    fn leader_selectors_use_the_leader() {
        for (start, _) in faults("kill-leader", 3, Some("n4")) {
            assert_eq!(
                start,
                Fault::Kill {
                    nodes: vec!["n4".into()]
                }
            );
        }
        for (start, _) in faults("isolate-leader", 3, Some("n4")) {
            let Fault::Partition { groups, .. } = start else {
                panic!()
            };
            assert_eq!(groups[0], vec!["n4".to_string()]);
        }
        for (start, _) in faults("kill-majority", 3, None) {
            let Fault::Kill { nodes } = start else {
                panic!()
            };
            assert_eq!(nodes.len(), 3);
        }
    }

    #[test]
    fn unknown_names_and_too_few_nodes_are_errors() {
        assert!(matches!(
            Schedule::new("chaos", &nodes(3), 1, INTERVAL_DEFAULT),
            Err(Error::UnknownNemesis { .. })
        ));
        assert!(Schedule::new("bridge", &nodes(2), 1, INTERVAL_DEFAULT).is_err());
        assert!(Schedule::new("partition", &nodes(1), 1, INTERVAL_DEFAULT).is_err());
        let mut s = Schedule::new("partition", &nodes(2), 1, INTERVAL_DEFAULT).unwrap();
        for _ in 0..50 {
            s.next_step(None).unwrap();
        }
    }
}
