//! Election safety (Raft §5.2, Figure 3): at most one leader per term.
//!
//! Input: the JSON lines nodes print, `{"event":"leader","node":"n2","term":3}`, keys in any
//! order and with any spacing (docs/design.md, "System spec").
//! Node logs mix these with other output, so lines that are not leader events are skipped: a
//! line that is not a JSON object, or an object without `"event"`. A line that looks like an
//! event (it starts with `{` and holds `"event"`) but is not valid JSON, or a leader event
//! without a string `node` and an integer `term`, is an error naming `file:line`: a node whose
//! events cannot be read must not be taken for a node that announced nothing.
//!
//! A check over no leader events at all has nothing to check: its verdict is unknown, not
//! valid.

use crate::report::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

/// One node's claim to lead a term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderEvent {
    /// The node.
    pub node: String,
    /// The term.
    pub term: u64,
    /// Source line (1-based).
    pub line: u64,
    /// Time, if the line carried one.
    pub time: Option<u64>,
    /// The file it came from.
    pub source: String,
}

/// A line that looks like a leader event but is not one, or a log that cannot be read.
///
/// An error that comes from another one (an I/O error, the JSON parser's) keeps it as its
/// [`source`](std::error::Error::source); its text is in `message` too.
#[derive(Debug, Clone)]
pub struct ElectionError {
    /// The file.
    pub source_name: String,
    /// The line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
    /// The error this one comes from, if any.
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for ElectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: bad leader event: {}",
            self.source_name, self.line, self.message
        )
    }
}

impl std::error::Error for ElectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The cause itself, not the `Arc` around it, so that callers can downcast it.
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// A leader event read from a line: (node, term, time).
type LineEvent = (String, u64, Option<u64>);

/// The leader event on one line, if it holds one: `Ok(None)` for a log line, `Err` for a line
/// that looks like an event but cannot be read as one.
fn leader_on_line(
    text: &str,
) -> Result<Option<LineEvent>, Box<dyn std::error::Error + Send + Sync>> {
    if !text.starts_with('{') {
        return Ok(None);
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) if text.contains("\"event\"") => return Err(e.into()),
        Err(_) => return Ok(None),
    };
    let Some(event) = v.get("event") else {
        return Ok(None);
    };
    if event.as_str() != Some("leader") {
        return Ok(None);
    }
    let node = v.get("node").and_then(|n| n.as_str());
    let term = v.get("term").and_then(|t| t.as_u64());
    let (Some(node), Some(term)) = (node, term) else {
        return Err("expected a string \"node\" and a non-negative integer \"term\"".into());
    };
    let time = v.get("time").and_then(|t| t.as_u64());
    Ok(Some((node.to_string(), term, time)))
}

/// Reads the leader events of one log.
pub fn parse_leader_events<R: BufRead>(
    r: R,
    source: &str,
) -> Result<Vec<LeaderEvent>, ElectionError> {
    let mut events = Vec::new();
    for (i, line) in r.split(b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let err = |message: String| ElectionError {
            source_name: source.to_string(),
            line: line_no,
            message,
            cause: None,
        };
        let caused = |what: Option<&str>, e: Box<dyn std::error::Error + Send + Sync>| {
            let message = match what {
                Some(what) => format!("{what}: {e}"),
                None => e.to_string(),
            };
            ElectionError {
                cause: Some(Arc::from(e)),
                ..err(message)
            }
        };
        let bytes = line.map_err(|e| caused(Some("cannot read"), e.into()))?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let Some((node, term, time)) = leader_on_line(text).map_err(|e| caused(None, e))? else {
            continue;
        };
        events.push(LeaderEvent {
            node,
            term,
            line: line_no,
            time,
            source: source.to_string(),
        });
    }
    Ok(events)
}

/// Two leaders in one term.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The term.
    pub term: u64,
    /// The first leader seen, with where.
    pub first: LeaderEvent,
    /// Another leader of the same term.
    pub second: LeaderEvent,
}

/// Why an election check over no events is unknown.
pub const NO_LEADER_EVENTS: &str =
    "no leader event was seen, so nothing was checked: the nodes printed none that could be read";

/// The result of the election-safety check.
#[derive(Debug, Clone, Serialize)]
pub struct ElectionReport {
    /// At most one leader per term (valid), two in some term (invalid), or no leader event
    /// at all (unknown: nothing was checked). Serialised as `valid`, as the linearizability
    /// verdict is.
    #[serde(rename = "valid")]
    pub verdict: Verdict,
    /// Terms with a leader.
    pub terms: usize,
    /// Leader events seen.
    pub leaders: usize,
    /// Every violation.
    pub violations: Vec<Violation>,
}

/// Checks that no term has two different leaders.
pub fn check(events: &[LeaderEvent]) -> ElectionReport {
    let mut by_term: BTreeMap<u64, &LeaderEvent> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        match by_term.get(&e.term) {
            Some(first) if first.node != e.node => violations.push(Violation {
                term: e.term,
                first: (*first).clone(),
                second: e.clone(),
            }),
            Some(_) => {}
            None => {
                by_term.insert(e.term, e);
            }
        }
    }
    let verdict = if !violations.is_empty() {
        Verdict::Invalid
    } else if events.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    ElectionReport {
        verdict,
        terms: by_term.len(),
        leaders: events.len(),
        violations,
    }
}

impl ElectionReport {
    /// The result for a terminal.
    pub fn render_text(&self) -> String {
        if self.verdict == Verdict::Unknown {
            return format!("election safety: unknown ({NO_LEADER_EVENTS})\n");
        }
        let mut out = format!(
            "election safety: {} ({} leader events over {} terms)\n",
            if self.verdict == Verdict::Valid {
                "valid"
            } else {
                "INVALID"
            },
            self.leaders,
            self.terms
        );
        for v in &self.violations {
            out.push_str(&format!(
                "  term {}: two leaders, {} ({}:{}) and {} ({}:{})\n",
                v.term,
                v.first.node,
                v.first.source,
                v.first.line,
                v.second.node,
                v.second.source,
                v.second.line
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leader_per_term_both_ways() {
        let a = "noise\n{\"event\":\"leader\",\"node\":\"n1\",\"term\":1}\n{\"event\":\"role\",\"node\":\"n1\"}\n{\"event\":\"leader\",\"node\":\"n1\",\"term\":1}\n";
        let b = "{\"event\":\"leader\",\"node\":\"n2\",\"term\":2}\n{\"event\":\"leader\",\"node\":\"n2\",\"term\":1}\n";
        let mut ev = parse_leader_events(a.as_bytes(), "n1.log").unwrap();
        assert_eq!(check(&ev).verdict, Verdict::Valid);
        ev.extend(
            parse_leader_events(&b.as_bytes()[..b.find('\n').unwrap() + 1], "n2.log").unwrap(),
        );
        assert_eq!(check(&ev).verdict, Verdict::Valid);
        ev.extend(parse_leader_events(b.as_bytes(), "n2.log").unwrap());
        let r = check(&ev);
        assert_eq!(r.verdict, Verdict::Invalid);
        let text = r.render_text();
        assert!(
            text.contains("term 1: two leaders, n1 (n1.log:2) and n2 (n2.log:2)"),
            "{text}"
        );
    }

    #[test]
    fn a_garbled_leader_line_names_the_line() {
        let e = parse_leader_events(
            "x\n{\"event\":\"leader\",\"node\":1}\n".as_bytes(),
            "n3.log",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("n3.log:2: bad leader event"),
            "{e}"
        );
    }

    #[test]
    fn a_garbled_leader_line_keeps_the_json_error_as_its_source() {
        use std::error::Error as _;
        let e = parse_leader_events("{\"event\":\"leader\",".as_bytes(), "n1.log").unwrap_err();
        let json = e
            .source()
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .expect("the JSON error is the source");
        assert!(e.to_string().ends_with(&json.to_string()), "{e}");
    }

    #[test]
    fn events_are_read_in_any_key_order_and_spacing() {
        let log = concat!(
            "{\"node\":\"n1\",\"event\":\"leader\",\"term\":3}\n",
            "  { \"term\" : 4 , \"event\" : \"leader\", \"node\": \"n2\", \"time\": 9 }\n",
            "{\"level\":\"info\",\"msg\":\"a JSON log line, no event\"}\n",
            "{not json and no event key}\n",
            "{\"node\":\"n1\",\"event\":\"role\",\"role\":\"follower\",\"term\":4}\n",
        );
        let ev = parse_leader_events(log.as_bytes(), "n.log").unwrap();
        let got: Vec<_> = ev
            .iter()
            .map(|e| (e.node.as_str(), e.term, e.time))
            .collect();
        assert_eq!(got, [("n1", 3, None), ("n2", 4, Some(9))]);
        assert_eq!(check(&ev).verdict, Verdict::Valid);
        let two = "{\"term\":4,\"node\":\"n1\",\"event\":\"leader\"}\n";
        let mut more = ev.clone();
        more.extend(parse_leader_events(two.as_bytes(), "m.log").unwrap());
        assert_eq!(check(&more).verdict, Verdict::Invalid);
    }

    #[test]
    fn an_event_line_in_another_key_order_that_does_not_parse_is_an_error() {
        let e = parse_leader_events("{\"node\":\"n1\",\"event\":\"leader\",\n".as_bytes(), "a")
            .unwrap_err();
        assert!(e.to_string().starts_with("a:1: bad leader event"), "{e}");
        let e = parse_leader_events(
            "{\"term\":-1,\"event\":\"leader\",\"node\":\"n1\"}".as_bytes(),
            "b",
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"term\""), "{e}");
    }

    #[test]
    fn no_events_is_unknown_not_valid() {
        let ev = parse_leader_events("INFO started\nINFO serving\n".as_bytes(), "n1.log").unwrap();
        let r = check(&ev);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(r.render_text().contains("unknown"), "{}", r.render_text());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["valid"], "unknown");
    }
}
