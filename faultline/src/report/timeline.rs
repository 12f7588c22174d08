//! The timeline's data: nemesis intervals, leader marks, lanes, and what to highlight.
//!
//! Nemesis events are instants in the history (`start-partition`, `heal`, `kill`, `restart`,
//! `pause`, `resume`, or any `start-X`/`stop-X` pair); the timeline shades *intervals*, so they
//! are paired here: a network fault lasts until `heal`, the next network fault or `stop-X`; a kill
//! of a node until its `restart`; a pause until its `resume`. An interval never closed runs to the
//! end of the run.

use super::encode::Axis;
use checker::election::LeaderEvent;
use histories::{History, NemesisEvent};
use serde::Serialize;
use std::collections::BTreeMap;

/// A shaded fault interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// Start on the axis.
    pub start: u64,
    /// End on the axis.
    pub end: u64,
    /// `network`, `kill`, `pause` or another fault's name.
    pub kind: String,
    /// What it did, in words ("partition isolate-leader: n1 | n2 n3").
    pub label: String,
}

/// A leader change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderMark {
    /// When, on the axis.
    pub time: u64,
    /// The node.
    pub node: String,
    /// Its term.
    pub term: u64,
}

fn nodes_of(value: &serde_json::Value) -> Vec<String> {
    value
        .get("nodes")
        .and_then(|n| n.as_array())
        .map(|a| {
            a.iter()
                .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// "partition isolate-leader: n1 | n2 n3", "loss 20% n1 n2", or the event's JSON.
pub fn describe_fault(f: &str, value: &serde_json::Value) -> String {
    let name = f.strip_prefix("start-").unwrap_or(f);
    if let Some(groups) = value.get("groups").and_then(|g| g.as_array()) {
        let groups: Vec<String> = groups
            .iter()
            .map(|g| nodes_of(&serde_json::json!({ "nodes": g })).join(" "))
            .collect();
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        return format!("{name} {kind}: {}", groups.join(" | "))
            .replace("  ", " ")
            .replace(" :", ":");
    }
    let nodes = nodes_of(value);
    let percent = value
        .get("percent")
        .and_then(|p| p.as_u64())
        .map(|p| format!(" {p}%"))
        .unwrap_or_default();
    if nodes.is_empty() && value.is_null() {
        name.to_string()
    } else if nodes.is_empty() {
        format!("{name} {value}")
    } else if let Some(pattern) = value.get("pattern").and_then(|p| p.as_str()) {
        format!(
            "{name} {}: packets with {pattern:?} held back",
            nodes.join(" ")
        )
    } else {
        format!("{name}{percent} {}", nodes.join(" "))
    }
}

fn at(axis: Axis, e: &NemesisEvent, history: &History) -> u64 {
    match axis {
        Axis::Time { .. } => axis.from_ns(e.time.unwrap_or(0)),
        // Without times, place the event after the last op invoked before its line.
        Axis::Events => {
            let i = history.ops.partition_point(|o| o.call_line < e.line);
            i.checked_sub(1)
                .and_then(|i| history.ops.get(i))
                .map_or(0, |o| o.call + 1)
        }
    }
}

/// Pairs the nemesis events of `history` into intervals; `end` closes those left open. One pass
/// over the events with one arm per kind of event, kept together so that the pairing rules read
/// side by side.
pub fn bands(history: &History, axis: Axis, end: u64) -> Vec<Band> {
    let mut bands = Vec::new();
    let mut network: Option<(u64, String)> = None;
    let mut per_node: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut generic: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let close_network = |bands: &mut Vec<Band>, open: &mut Option<(u64, String)>, t: u64| {
        if let Some((start, label)) = open.take() {
            bands.push(Band {
                start,
                end: t,
                kind: "network".into(),
                label,
            });
        }
    };
    for e in &history.nemesis {
        let t = at(axis, e, history);
        let f = e.f.as_str();
        match f {
            "start-partition" | "start-loss" | "start-filter" => {
                close_network(&mut bands, &mut network, t);
                network = Some((t, describe_fault(f, &e.value)));
            }
            "heal" | "stop-partition" | "stop-loss" => close_network(&mut bands, &mut network, t),
            "kill" | "pause" => {
                for n in nodes_of(&e.value) {
                    per_node.entry((f.to_string(), n)).or_insert(t);
                }
            }
            "restart" | "resume" => {
                let opener = if f == "restart" { "kill" } else { "pause" };
                for n in nodes_of(&e.value) {
                    if let Some(start) = per_node.remove(&(opener.to_string(), n.clone())) {
                        bands.push(Band {
                            start,
                            end: t,
                            kind: opener.into(),
                            label: format!("{opener} {n}"),
                        });
                    }
                }
            }
            _ => {
                if let Some(name) = f.strip_prefix("start-") {
                    generic.insert(name.to_string(), (t, describe_fault(f, &e.value)));
                } else if let Some(name) = f.strip_prefix("stop-") {
                    if let Some((start, label)) = generic.remove(name) {
                        bands.push(Band {
                            start,
                            end: t,
                            kind: name.into(),
                            label,
                        });
                    }
                }
            }
        }
    }
    close_network(&mut bands, &mut network, end);
    for ((kind, n), start) in per_node {
        bands.push(Band {
            start,
            end,
            kind: kind.clone(),
            label: format!("{kind} {n}"),
        });
    }
    for (kind, (start, label)) in generic {
        bands.push(Band {
            start,
            end,
            kind,
            label,
        });
    }
    bands.sort_by_key(|b| (b.start, b.end));
    bands
}

/// Leader changes on the axis: the first event of each (node, term), with a time. Events
/// without times cannot be placed on a time axis and are left out (they still count in the
/// election-safety verdict).
pub fn leader_marks(leaders: &[LeaderEvent], axis: Axis) -> Vec<LeaderMark> {
    if !axis.is_time() {
        return Vec::new();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut marks: Vec<LeaderMark> = leaders
        .iter()
        .filter_map(|e| {
            let time = axis.from_ns(e.time?);
            seen.insert((e.node.clone(), e.term)).then(|| LeaderMark {
                time,
                node: e.node.clone(),
                term: e.term,
            })
        })
        .collect();
    marks.sort_by_key(|m| m.time);
    marks
}

/// The end of the run on the axis: the latest call or completion.
pub fn end_of(history: &History, axis: Axis) -> u64 {
    let ops = history.ops.iter().map(|o| {
        let (c, r) = axis.span(o);
        r.unwrap_or(c)
    });
    let nemesis = history.nemesis.iter().map(|e| at(axis, e, history));
    ops.chain(nemesis).max().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use histories::Format;

    #[test]
    fn faults_pair_into_intervals() {
        let text = "\
{\"type\":\"invoke\",\"process\":1,\"time\":1000000,\"f\":\"read\",\"value\":null}
{\"type\":\"info\",\"process\":\"nemesis\",\"time\":2000000,\"f\":\"start-partition\",\"value\":{\"kind\":\"isolate-leader\",\"groups\":[[\"n1\"],[\"n2\",\"n3\"]]}}
{\"type\":\"info\",\"process\":\"nemesis\",\"time\":3000000,\"f\":\"kill\",\"value\":{\"nodes\":[\"n2\"]}}
{\"type\":\"info\",\"process\":\"nemesis\",\"time\":4000000,\"f\":\"heal\",\"value\":null}
{\"type\":\"info\",\"process\":\"nemesis\",\"time\":5000000,\"f\":\"pause\",\"value\":{\"nodes\":[\"n3\"]}}
{\"type\":\"info\",\"process\":\"nemesis\",\"time\":6000000,\"f\":\"restart\",\"value\":{\"nodes\":[\"n2\"]}}
{\"type\":\"ok\",\"process\":1,\"time\":7000000,\"f\":\"read\",\"value\":null}
";
        let h = histories::parse_reader(text.as_bytes(), "t", Format::Jsonl)
            .unwrap()
            .history;
        let end = end_of(&h, Axis::MICROS);
        assert_eq!(end, 7001);
        let b = bands(&h, Axis::MICROS, end);
        let got: Vec<(u64, u64, &str)> = b
            .iter()
            .map(|b| (b.start, b.end, b.label.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2000, 4000, "partition isolate-leader: n1 | n2 n3"),
                (3000, 6000, "kill n2"),
                (5000, 7001, "pause n3"),
            ]
        );
    }
}
