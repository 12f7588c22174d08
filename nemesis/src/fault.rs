//! Faults as data, and the partition shapes.
//!
//! Why: a fault is a value before it is an action. The harness records it in the history as a
//! nemesis event (with its groups and nodes), a backend applies it, and a seeded schedule produces
//! it, so a run can be replayed and a report can draw exactly what happened.
//!
//! Network faults are reduced to one backend-independent form, [`NodeRules`]: for every node, the
//! peers whose packets it drops on input and those it drops on output, each with an optional drop
//! probability. A partition is a *grudge* (Jepsen's word): `grudge[a]` lists the nodes `a` does not
//! hear. Every grudge entry `a` ← `b` becomes two DROP rules: in `a`'s INPUT (`-s b`) and in `b`'s
//! OUTPUT (`-d a`), so the cut holds even if one side's rules were missing. Cuts only match node
//! addresses, so the harness's clients are never partitioned (as in Jepsen).
//!
//! Shapes (n nodes, shuffled by the schedule's seeded RNG):
//! - `random-halves`: two sides of n/2 and n - n/2 nodes, cut both ways;
//! - `isolate-leader` / `isolate-one`: one node alone (the leader, or a random one);
//! - `majorities-ring`: nodes on a ring; every node hears a majority `m = n/2+1` of nodes (itself
//!   included) and no two nodes hear the same majority. When `m` is odd (n = 4, 5, 8, 9, ...) the
//!   view of node i is i-k..=i+k with k = (m-1)/2, which is symmetric. When `m` is even (n = 3, 6,
//!   7, ...) no symmetric solution exists (for 3 nodes it would need a perfect matching of 3 nodes),
//!   so the view is i-(m/2-1)..=i+m/2 and some links are cut in one direction only. With 3 nodes,
//!   node i hears itself and its successor: every pair is cut one way, which for TCP (which needs
//!   both directions) is a full partition, while one-way datagrams still flow around the ring;
//! - `bridge`: two halves that do not hear each other, plus one node that hears both (needs 3+);
//! - `one-way`: two random halves A and B; A hears B, B does not hear A (DROP in one direction).

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The shape of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// Two random halves.
    RandomHalves,
    /// The current leader alone.
    IsolateLeader,
    /// One random node alone.
    IsolateOne,
    /// Every node hears a different majority.
    MajoritiesRing,
    /// Two halves joined by one node.
    Bridge,
    /// A hears B, B does not hear A.
    OneWay,
    /// Groups given by the caller: cut every pair in different groups.
    Custom,
}

impl PartitionKind {
    /// Every shape a random `partition` nemesis chooses from.
    pub const RANDOM_SHAPES: [PartitionKind; 6] = [
        PartitionKind::RandomHalves,
        PartitionKind::IsolateLeader,
        PartitionKind::IsolateOne,
        PartitionKind::MajoritiesRing,
        PartitionKind::Bridge,
        PartitionKind::OneWay,
    ];

    /// The kebab-case name (`random-halves`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PartitionKind::RandomHalves => "random-halves",
            PartitionKind::IsolateLeader => "isolate-leader",
            PartitionKind::IsolateOne => "isolate-one",
            PartitionKind::MajoritiesRing => "majorities-ring",
            PartitionKind::Bridge => "bridge",
            PartitionKind::OneWay => "one-way",
            PartitionKind::Custom => "custom",
        }
    }
}

/// One fault, or the end of one. Serialised with a `fault` tag, e.g.
/// `{"fault":"partition","kind":"isolate-one","groups":[["n1"],["n2","n3"]],"grudge":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Cut links. `groups` describes the shape for people (components; for `majorities-ring` the
    /// view of each node in ring order; for `one-way` `[A, B]` where A hears B); `grudge` is what
    /// is applied: `grudge[a]` = the nodes whose packets `a` drops.
    Partition {
        /// The shape.
        kind: PartitionKind,
        /// The groups, for reports.
        groups: Vec<Vec<String>>,
        /// Node -> the nodes it does not hear.
        grudge: BTreeMap<String, Vec<String>>,
    },
    /// Every node in `nodes` drops `percent`% of the packets it receives from other nodes
    /// (iptables `statistic` match, random mode).
    Loss {
        /// The lossy receivers.
        nodes: Vec<String>,
        /// Drop probability in percent, 0..=100.
        percent: u8,
    },
    /// Every node in `nodes` drops the packets it sends to other nodes whose payload contains
    /// `pattern` (iptables `string` match, Boyer-Moore): one message kind is held back while
    /// the others pass. On a TCP stream the first dropped segment is retransmitted and dropped
    /// again, so everything the stream carries after it waits until the heal (or until the
    /// connection dies with a process): "from the first such message on, nothing more on
    /// that link".
    Filter {
        /// The senders whose messages are held back.
        nodes: Vec<String>,
        /// The bytes that mark the message kind, 1 to 128 of them (xt_string's limit).
        pattern: String,
    },
    /// Remove every network fault (partitions, loss and filters).
    Heal,
    /// SIGKILL the processes of these nodes.
    Kill {
        /// Victims.
        nodes: Vec<String>,
    },
    /// Start these nodes again with the command they were started with.
    Restart {
        /// Nodes to start.
        nodes: Vec<String>,
    },
    /// SIGSTOP the processes of these nodes.
    Pause {
        /// Victims.
        nodes: Vec<String>,
    },
    /// SIGCONT the processes of these nodes.
    Resume {
        /// Nodes to continue.
        nodes: Vec<String>,
    },
}

impl Fault {
    /// The history's `f` for this event: `start-partition`, `start-loss`, `start-filter`, `heal`, `kill`,
    /// `restart`, `pause`, `resume`.
    pub fn f(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "start-partition",
            Fault::Loss { .. } => "start-loss",
            Fault::Filter { .. } => "start-filter",
            Fault::Heal => "heal",
            Fault::Kill { .. } => "kill",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
        }
    }

    /// The event's `value`: the fault's fields without the tag (`null` for `heal`).
    pub fn details(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = v.as_object_mut() {
            map.remove("fault");
            if map.is_empty() {
                return serde_json::Value::Null;
            }
        }
        v
    }

    /// Whether a backend applies it to the network (rather than to processes).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Fault::Partition { .. } | Fault::Loss { .. } | Fault::Filter { .. } | Fault::Heal
        )
    }

    /// A partition into `groups` (every pair in different groups cut both ways).
    pub fn partition(kind: PartitionKind, groups: Vec<Vec<String>>) -> Fault {
        let grudge = grudge_from_components(&groups);
        Fault::Partition {
            kind,
            groups,
            grudge,
        }
    }

    /// The per-node drop rules of a network fault over `nodes` (`Heal`: every node empty).
    ///
    /// Long (about 75 lines) because it is one match with an arm per network fault, each
    /// checking its nodes and writing its rules.
    pub fn network_rules(&self, nodes: &[String]) -> Result<BTreeMap<String, NodeRules>> {
        let mut rules: BTreeMap<String, NodeRules> = nodes
            .iter()
            .map(|n| (n.clone(), NodeRules::default()))
            .collect();
        let known = |n: &String| -> Result<()> {
            if rules_has(nodes, n) {
                Ok(())
            } else {
                Err(Error::UnknownNode(n.clone()))
            }
        };
        match self {
            Fault::Heal => {}
            Fault::Partition { grudge, .. } => {
                for (hearer, deaf_to) in grudge {
                    known(hearer)?;
                    for sender in deaf_to {
                        known(sender)?;
                        if sender == hearer {
                            continue;
                        }
                        push(&mut rules, hearer, |r| {
                            r.drop_from.push((sender.clone(), None))
                        });
                        push(&mut rules, sender, |r| {
                            r.drop_to.push((hearer.clone(), None))
                        });
                    }
                }
            }
            Fault::Loss {
                nodes: lossy,
                percent,
            } => {
                if *percent > 100 {
                    return Err(Error::InvalidFault(format!("loss of {percent}% > 100%")));
                }
                let p = f64::from(*percent) / 100.0;
                for hearer in lossy {
                    known(hearer)?;
                    for sender in nodes.iter().filter(|s| *s != hearer) {
                        push(&mut rules, hearer, |r| {
                            r.drop_from.push((sender.clone(), Some(p)))
                        });
                    }
                }
            }
            Fault::Filter {
                nodes: senders,
                pattern,
            } => {
                if pattern.is_empty() || pattern.len() > FILTER_PATTERN_MAX {
                    return Err(Error::InvalidFault(format!(
                        "filter pattern of {} bytes: expected 1 to {FILTER_PATTERN_MAX}",
                        pattern.len()
                    )));
                }
                for sender in senders {
                    known(sender)?;
                    push(&mut rules, sender, |r| {
                        r.drop_out_matching.push(pattern.clone())
                    });
                }
            }
            other => {
                return Err(Error::InvalidFault(format!(
                    "{} is not a network fault",
                    other.f()
                )))
            }
        }
        Ok(rules)
    }
}

fn rules_has(nodes: &[String], n: &str) -> bool {
    nodes.iter().any(|x| x == n)
}

fn push(rules: &mut BTreeMap<String, NodeRules>, node: &str, f: impl FnOnce(&mut NodeRules)) {
    if let Some(r) = rules.get_mut(node) {
        f(r);
    }
}

/// What one node drops. A probability of `None` means every packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRules {
    /// Peers whose packets this node drops on input.
    pub drop_from: Vec<(String, Option<f64>)>,
    /// Peers to which this node drops packets on output.
    pub drop_to: Vec<(String, Option<f64>)>,
    /// Payload patterns: this node drops the packets it sends to other nodes that contain one.
    #[serde(default)]
    pub drop_out_matching: Vec<String>,
}

/// The longest pattern of [`Fault::Filter`] (the kernel's `XT_STRING_MAX_PATTERN_SIZE`).
pub const FILTER_PATTERN_MAX: usize = 128;

/// Cut every pair of nodes in different groups, both ways.
pub fn grudge_from_components(groups: &[Vec<String>]) -> BTreeMap<String, Vec<String>> {
    let mut grudge = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        let others: Vec<String> = groups
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, h)| h.iter().cloned())
            .collect();
        for n in g {
            grudge.insert(n.clone(), others.clone());
        }
    }
    grudge
}

/// Builds a partition of shape `kind` over `nodes`, choosing with `rng`. `leader` is used by
/// `isolate-leader` (without one, a random node is isolated and the kind says `isolate-one`).
pub fn shape<R: Rng>(
    kind: PartitionKind,
    nodes: &[String],
    leader: Option<&str>,
    rng: &mut R,
) -> Result<Fault> {
    if nodes.len() < 2 {
        return Err(Error::InvalidFault(format!(
            "{} needs at least 2 nodes",
            kind.name()
        )));
    }
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let half = nodes.len() / 2;
    match kind {
        PartitionKind::RandomHalves => {
            let (a, b) = shuffled.split_at(half);
            Ok(Fault::partition(kind, vec![sorted(a), sorted(b)]))
        }
        PartitionKind::IsolateLeader | PartitionKind::IsolateOne => {
            let leader =
                leader.filter(|l| kind == PartitionKind::IsolateLeader && rules_has(nodes, l));
            let (kind, alone) = match leader {
                Some(l) => (PartitionKind::IsolateLeader, l.to_string()),
                None => (PartitionKind::IsolateOne, shuffled[0].clone()),
            };
            let rest: Vec<String> = nodes.iter().filter(|n| **n != alone).cloned().collect();
            Ok(Fault::partition(kind, vec![vec![alone], rest]))
        }
        PartitionKind::MajoritiesRing => Ok(majorities_ring(&shuffled)),
        PartitionKind::Bridge => {
            if nodes.len() < 3 {
                return Err(Error::InvalidFault("bridge needs at least 3 nodes".into()));
            }
            let bridge = shuffled[0].clone();
            let rest = &shuffled[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            let mut grudge = grudge_from_components(&[a.to_vec(), b.to_vec()]);
            grudge.insert(bridge.clone(), Vec::new());
            let mut left = sorted(a);
            left.push(bridge.clone());
            let mut right = sorted(b);
            right.push(bridge);
            Ok(Fault::Partition {
                kind,
                groups: vec![left, right],
                grudge,
            })
        }
        PartitionKind::OneWay => {
            let (a, b) = shuffled.split_at(half);
            let grudge = b.iter().map(|n| (n.clone(), sorted(a))).collect();
            Ok(Fault::Partition {
                kind,
                groups: vec![sorted(a), sorted(b)],
                grudge,
            })
        }
        PartitionKind::Custom => Err(Error::InvalidFault(
            "custom partitions are built with Fault::partition".into(),
        )),
    }
}

fn sorted(nodes: &[String]) -> Vec<String> {
    let mut v = nodes.to_vec();
    v.sort_by_key(|n| (n.len(), n.clone()));
    v
}

/// `ring` is the ring order. See the module docs for the views.
fn majorities_ring(ring: &[String]) -> Fault {
    let n = ring.len();
    let m = n / 2 + 1;
    let (left, right) = if m % 2 == 1 {
        ((m - 1) / 2, (m - 1) / 2)
    } else {
        (m / 2 - 1, m / 2)
    };
    let mut groups = Vec::with_capacity(n);
    let mut grudge = BTreeMap::new();
    for i in 0..n {
        let view: BTreeSet<usize> = (0..=left + right).map(|d| (i + n - left + d) % n).collect();
        let heard: Vec<String> = ring
            .iter()
            .enumerate()
            .filter(|(j, _)| view.contains(j))
            .map(|(_, s)| s.clone())
            .collect();
        let deaf: Vec<String> = ring
            .iter()
            .enumerate()
            .filter(|(j, _)| !view.contains(j))
            .map(|(_, s)| s.clone())
            .collect();
        // The view of node i in ring order, starting with i itself.
        let mut group = vec![ring[i].clone()];
        group.extend(sorted(&heard).into_iter().filter(|s| *s != ring[i]));
        groups.push(group);
        grudge.insert(ring[i].clone(), sorted(&deaf));
    }
    Fault::Partition {
        kind: PartitionKind::MajoritiesRing,
        groups,
        grudge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(crate::names::node_name).collect()
    }

    /// Who node `a` hears under a grudge (itself always).
    fn hears(grudge: &BTreeMap<String, Vec<String>>, all: &[String], a: &str) -> BTreeSet<String> {
        let deaf = grudge.get(a).cloned().unwrap_or_default();
        all.iter().filter(|n| !deaf.contains(n)).cloned().collect()
    }

    #[test]
    fn majorities_ring_every_node_hears_a_distinct_majority() {
        for n in 3..=9 {
            let all = nodes(n);
            for seed in 0..20 {
                let mut rng = SmallRng::seed_from_u64(seed);
                let Fault::Partition { grudge, .. } =
                    shape(PartitionKind::MajoritiesRing, &all, None, &mut rng).unwrap()
                else {
                    panic!("not a partition")
                };
                let views: Vec<BTreeSet<String>> =
                    all.iter().map(|a| hears(&grudge, &all, a)).collect();
                for v in &views {
                    assert_eq!(v.len(), n / 2 + 1, "n={n} seed={seed}: {views:?}");
                }
                let distinct: BTreeSet<_> = views.iter().collect();
                assert_eq!(
                    distinct.len(),
                    n,
                    "n={n} seed={seed}: two nodes share a view"
                );
                if n == 5 {
                    // Symmetric for 5: a hears b iff b hears a.
                    for a in &all {
                        for b in &all {
                            assert_eq!(
                                hears(&grudge, &all, a).contains(b),
                                hears(&grudge, &all, b).contains(a)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bridge_and_one_way_shapes() {
        let all = nodes(5);
        let mut rng = SmallRng::seed_from_u64(7);
        let Fault::Partition { groups, grudge, .. } =
            shape(PartitionKind::Bridge, &all, None, &mut rng).unwrap()
        else {
            panic!()
        };
        let bridge = groups[0].last().unwrap();
        assert_eq!(groups[1].last().unwrap(), bridge);
        assert_eq!(hears(&grudge, &all, bridge).len(), 5);
        let Fault::Partition { groups, grudge, .. } =
            shape(PartitionKind::OneWay, &all, None, &mut rng).unwrap()
        else {
            panic!()
        };
        let (a, b) = (&groups[0], &groups[1]);
        for x in a {
            assert!(!grudge.contains_key(x), "A hears everyone");
        }
        for y in b {
            assert_eq!(&grudge[y], a, "B does not hear A");
        }
    }

    #[test]
    fn rules_cut_both_ends_and_loss_is_probabilistic() {
        let all = nodes(3);
        let f = Fault::partition(
            PartitionKind::Custom,
            vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]],
        );
        let r = f.network_rules(&all).unwrap();
        assert_eq!(r["n1"].drop_from.len(), 2);
        assert_eq!(r["n1"].drop_to.len(), 2);
        assert_eq!(r["n2"].drop_from, vec![("n1".to_string(), None)]);
        let loss = Fault::Loss {
            nodes: vec!["n2".into()],
            percent: 50,
        };
        let r = loss.network_rules(&all).unwrap();
        assert_eq!(r["n2"].drop_from.len(), 2);
        assert_eq!(r["n2"].drop_from[0].1, Some(0.5));
        assert!(r["n1"].drop_from.is_empty());
        assert!(Fault::Kill { nodes: vec![] }.network_rules(&all).is_err());
        let bad = Fault::Loss {
            nodes: vec!["n9".into()],
            percent: 5,
        };
        assert!(matches!(
            bad.network_rules(&all),
            Err(Error::UnknownNode(_))
        ));
    }

    #[test]
    fn filters_hold_back_what_the_senders_send() {
        let all = nodes(3);
        let f = Fault::Filter {
            nodes: vec!["n2".into(), "n3".into()],
            pattern: "{\"Append\":".into(),
        };
        assert!(f.is_network());
        assert_eq!(f.f(), "start-filter");
        let r = f.network_rules(&all).unwrap();
        assert!(r["n1"].drop_out_matching.is_empty());
        assert_eq!(r["n2"].drop_out_matching, vec!["{\"Append\":".to_string()]);
        assert!(r["n3"].drop_from.is_empty() && r["n3"].drop_to.is_empty());
        for pattern in [String::new(), "x".repeat(FILTER_PATTERN_MAX + 1)] {
            let bad = Fault::Filter {
                nodes: vec!["n1".into()],
                pattern,
            };
            assert!(matches!(
                bad.network_rules(&all),
                Err(Error::InvalidFault(_))
            ));
        }
        let unknown = Fault::Filter {
            nodes: vec!["n7".into()],
            pattern: "x".into(),
        };
        assert!(matches!(
            unknown.network_rules(&all),
            Err(Error::UnknownNode(_))
        ));
    }

    #[test]
    fn details_drop_the_tag() {
        let f = Fault::Kill {
            nodes: vec!["n1".into()],
        };
        assert_eq!(f.details(), serde_json::json!({"nodes": ["n1"]}));
        assert_eq!(Fault::Heal.details(), serde_json::Value::Null);
        let back: Fault = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
