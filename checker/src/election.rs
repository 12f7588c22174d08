//! Election safety (Raft §5.2, Figure 3): at most one leader per term.
//!
//! Input: the JSON lines nodes print, `{"event":"leader","node":"n2","term":3}`
//! (docs/design.md, "System spec").
//! Node logs mix these with other output, so lines that are not leader events are skipped; a
//! line that starts like a leader event but does not parse is an error naming `file:line`.

use serde::{Deserialize, Serialize};
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

#[derive(Deserialize)]
struct Raw {
    event: String,
    node: Option<String>,
    term: Option<u64>,
    time: Option<u64>,
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
        if !text.starts_with("{\"event\"") {
            continue;
        }
        let raw: Raw = serde_json::from_str(text).map_err(|e| caused(None, e.into()))?;
        if raw.event != "leader" {
            continue;
        }
        let (Some(node), Some(term)) = (raw.node, raw.term) else {
            return Err(err("expected fields \"node\" and \"term\"".into()));
        };
        events.push(LeaderEvent {
            node,
            term,
            line: line_no,
            time: raw.time,
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

/// The result of the election-safety check.
#[derive(Debug, Clone, Serialize)]
pub struct ElectionReport {
    /// At most one leader per term?
    pub valid: bool,
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
    ElectionReport {
        valid: violations.is_empty(),
        terms: by_term.len(),
        leaders: events.len(),
        violations,
    }
}

impl ElectionReport {
    /// The result for a terminal.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "election safety: {} ({} leader events over {} terms)\n",
            if self.valid { "valid" } else { "INVALID" },
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
        assert!(check(&ev).valid);
        ev.extend(
            parse_leader_events(&b.as_bytes()[..b.find('\n').unwrap() + 1], "n2.log").unwrap(),
        );
        assert!(check(&ev).valid);
        ev.extend(parse_leader_events(b.as_bytes(), "n2.log").unwrap());
        let r = check(&ev);
        assert!(!r.valid);
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
}
