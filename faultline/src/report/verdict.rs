//! The top of the page: the verdict, each checker's result, and for a violation the
//! counterexample in words and drawn as Porcupine draws it.
//!
//! **The drawing.** Porcupine shows the failing part of a history as bars (one row per client,
//! call to return) and the longest partial linearization it found as points joined in order, one
//! point inside each linearized op's bar. We draw the same from the checker's
//! [`Counterexample`]: the last [`PREFIX_DRAWN_MAX`] ops of the longest linearizable prefix, the
//! op that cannot be linearized (red) and the ops of the shrunk sub-history. The x axis is the
//! order of calls and returns (ranks of event positions), which is all linearizability depends on;
//! wall-clock gaps would squeeze concurrent ops into slivers. A linearization point is placed
//! greedily at the earliest rank after both its op's call and the previous point, so the points
//! are increasing and each lies inside its bar (which exists because the prefix is linearizable).

use super::html::esc;
use checker::election::ElectionReport;
use checker::explain::{Counterexample, OpView};
use checker::{Report, Verdict};
use histories::{History, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Prefix ops drawn (the list below the drawing has more).
pub const PREFIX_DRAWN_MAX: usize = 20;
/// Prefix ops listed.
const PREFIX_LISTED_MAX: usize = 50;
/// Ops of the shrunk sub-history listed (an unfinished shrink may leave a whole key's ops).
const MINIMAL_LISTED_MAX: usize = 200;
/// The shrunk sub-history is drawn only when it has at most this many ops.
const MINIMAL_DRAWN_MAX: usize = 30;
/// Lines of the text explanation shown.
const TEXT_LINES_MAX: usize = 200;
/// Ops concurrent with the failing op added to the drawing.
const CONCURRENT_DRAWN_MAX: usize = 10;

/// The run's verdict: the worst of linearizability and election safety.
pub fn overall(check: &Report, election: Option<&ElectionReport>) -> Verdict {
    let e = match election {
        Some(r) if !r.valid => Verdict::Invalid,
        _ => Verdict::Valid,
    };
    check.verdict.worst(e)
}

fn verdict_cell(v: Verdict) -> String {
    format!("<td class=\"v-{0}\">{0}</td>", v.as_str())
}

/// "On key k1, read of 1 at line 7 by process 2 cannot be linearized: the register could only
/// be 2."
pub fn in_words(c: &Counterexample) -> String {
    let states = match c.possible_states.as_slice() {
        [] => "no state at all".to_string(),
        [one] => format!("only {one}"),
        [rest @ .., last] => format!("only {} or {last}", rest.join(", ")),
    };
    format!(
        "On {}, the {} cannot be linearized: just before it, the state could be {states}.",
        key_name(&c.key),
        c.op.text
    )
}

/// `key k1`, or `the history` for unkeyed models.
fn key_name(key: &Option<String>) -> String {
    key.as_ref()
        .map_or_else(|| "the history".to_string(), |k| format!("key {k}"))
}

/// The verdict section.
pub fn section(
    check: &Report,
    election: Option<&ElectionReport>,
    election_note: Option<&str>,
) -> String {
    let v = overall(check, election);
    let mut s = format!(
        "<section id=\"verdict\" class=\"verdict verdict-{0}\">\n<h1 id=\"fl-verdict\" \
         data-verdict=\"{0}\">{1}</h1>\n",
        v.as_str(),
        v.as_str().to_uppercase()
    );
    let headline = match (&check.counterexample, check.verdict) {
        (Some(c), _) => in_words(c),
        (None, Verdict::Invalid) => "The history is not linearizable.".to_string(),
        (None, Verdict::Valid) => "Every operation fits a single sequential order \
             consistent with real time: the history is linearizable."
            .to_string(),
        (None, Verdict::Unknown) => "The checker could not decide.".to_string(),
    };
    let _ = writeln!(s, "<p class=\"headline\">{}</p>", esc(&headline));
    s.push_str("<table class=\"checks\"><tr><th>check</th><th>result</th><th>details</th></tr>\n");
    let _ = writeln!(
        s,
        "<tr><td>linearizability</td>{}<td>model {}, {} ops ({} ok, {} fail, {} info), {} part(s) \
         checked independently, {:.1} ms</td></tr>",
        verdict_cell(check.verdict),
        esc(&check.model),
        check.ops.total,
        check.ops.ok,
        check.ops.fail,
        check.ops.info,
        check.parts,
        check.elapsed_ms
    );
    match election {
        Some(e) => {
            let v = if e.valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            let mut details = format!("{} leader events over {} terms", e.leaders, e.terms);
            for x in &e.violations {
                let _ = write!(
                    details,
                    "; term {}: two leaders, {} ({}:{}) and {} ({}:{})",
                    x.term,
                    x.first.node,
                    x.first.source,
                    x.first.line,
                    x.second.node,
                    x.second.source,
                    x.second.line
                );
            }
            let _ = writeln!(
                s,
                "<tr><td>election safety</td>{}<td>{}</td></tr>",
                verdict_cell(v),
                esc(&details)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "<tr><td>election safety</td><td class=\"v-unknown\">not checked</td>\
                 <td>{}</td></tr>",
                esc(election_note.unwrap_or("no leader events"))
            );
        }
    }
    s.push_str("</table>\n");
    for r in &check.unknown_reasons {
        let _ = writeln!(s, "<p class=\"unknown\">unknown: {}</p>", esc(r));
    }
    s.push_str("</section>\n");
    s
}

/// The counterexample section (empty when there is none).
pub fn counterexample_section(history: &History, check: &Report) -> String {
    let Some(c) = &check.counterexample else {
        return String::new();
    };
    let mut s = String::from("<section id=\"counterexample\">\n<h2>Counterexample</h2>\n");
    let _ = writeln!(s, "<p>{}</p>", esc(&in_words(c)));
    s.push_str("<p>States possible just before it:</p>\n<ul class=\"states\">");
    for st in &c.possible_states {
        let _ = write!(s, "<li><code>{}</code></li>", esc(st));
    }
    if c.possible_states.is_empty() {
        s.push_str("<li>none</li>");
    }
    s.push_str("</ul>\n<h3>Longest linearizable order found</h3>\n");
    s.push_str(&linearization_svg(history, c));
    let skipped = c.longest_prefix.len().saturating_sub(PREFIX_LISTED_MAX);
    let _ = writeln!(
        s,
        "<p>{} ops linearized before it{}:</p>\n<ol class=\"prefix\" start=\"{}\">",
        c.longest_prefix.len(),
        if skipped > 0 {
            format!(", the last {PREFIX_LISTED_MAX} listed")
        } else {
            String::new()
        },
        skipped + 1
    );
    for p in &c.longest_prefix[skipped..] {
        let _ = write!(s, "{}", op_item(p));
    }
    s.push_str("</ol>\n");
    let _ = writeln!(
        s,
        "<h3>Smallest failing sub-history{} ({} ops)</h3>\n<ul class=\"minimal\">",
        if c.minimal_complete {
            ""
        } else {
            " found within the budget"
        },
        c.minimal.len()
    );
    for m in c.minimal.iter().take(MINIMAL_LISTED_MAX) {
        let _ = write!(s, "{}", op_item(m));
    }
    if c.minimal.len() > MINIMAL_LISTED_MAX {
        let _ = write!(
            s,
            "<li>... and {} more</li>",
            c.minimal.len() - MINIMAL_LISTED_MAX
        );
    }
    s.push_str("</ul>\n");
    let lines: Vec<&str> = c.text.lines().collect();
    let mut text = lines[..lines.len().min(TEXT_LINES_MAX)].join("\n");
    if lines.len() > TEXT_LINES_MAX {
        text.push_str(&format!(
            "\n... {} more lines",
            lines.len() - TEXT_LINES_MAX
        ));
    }
    let _ = writeln!(
        s,
        "<details><summary>as text</summary><pre>{}</pre></details>\n</section>",
        esc(&text)
    );
    s
}

fn op_item(o: &OpView) -> String {
    format!(
        "<li><a href=\"#timeline\" class=\"op-link\" data-op=\"{}\">op {}</a> {}</li>",
        o.id,
        o.id,
        esc(&o.text)
    )
}

/// A short label for a bar: `w 5`, `r 3`, `cas 1→2`, `r ?`.
fn short(op: &Op) -> String {
    let out = match &op.outcome {
        histories::Outcome::Ok(v) => v.to_string(),
        histories::Outcome::Fail => "fail".into(),
        histories::Outcome::Info => "?".into(),
    };
    match op.f {
        histories::F::Read | histories::F::Get => format!("{} {out}", op.f),
        histories::F::Cas => match op.input.as_list() {
            Some([a, b]) => format!("cas {a}\u{2192}{b}"),
            _ => format!("cas {}", op.input),
        },
        f => format!("{f} {}", op.input),
    }
}

/// The Porcupine-style drawing of the longest linearizable order and the failing op.
pub fn linearization_svg(history: &History, c: &Counterexample) -> String {
    let get = |id: usize| history.ops.get(id).filter(|o| o.id == id);
    let Some(failing) = get(c.op.id) else {
        return "<p>(the failing op is not in this history)</p>".to_string();
    };
    let tail = &c.longest_prefix[c.longest_prefix.len().saturating_sub(PREFIX_DRAWN_MAX)..];
    let mut ids: BTreeSet<usize> = tail.iter().map(|p| p.id).collect();
    ids.insert(failing.id);
    if c.minimal.len() <= MINIMAL_DRAWN_MAX {
        ids.extend(c.minimal.iter().map(|m| m.id));
    }
    let concurrent = history
        .ops
        .iter()
        .filter(|o| o.key == failing.key && o.id != failing.id)
        .filter(|o| o.outcome != histories::Outcome::Fail)
        .filter(|o| {
            o.call < failing.ret.unwrap_or(u64::MAX) && o.ret.is_none_or(|r| r > failing.call)
        })
        .take(CONCURRENT_DRAWN_MAX)
        .map(|o| o.id);
    ids.extend(concurrent);
    let ops: Vec<&Op> = ids.iter().filter_map(|&i| get(i)).collect();
    // Ranks of every call and return among the drawn ops; `None` returns go to the end.
    let mut points: Vec<u64> = ops
        .iter()
        .flat_map(|o| [Some(o.call), o.ret])
        .flatten()
        .collect();
    points.sort_unstable();
    points.dedup();
    let end_rank = points.len();
    let rank = |p: u64| points.partition_point(|&q| q < p);
    let lanes: BTreeMap<u64, usize> = {
        let procs: BTreeSet<u64> = ops.iter().map(|o| o.process).collect();
        procs.into_iter().enumerate().map(|(i, p)| (p, i)).collect()
    };
    let col_px = (760.0 / (end_rank as f64 + 1.0)).clamp(18.0, 70.0);
    let (left_px, top_px, lane_px) = (92.0, 16.0, 34.0);
    let x = |r: f64| left_px + r * col_px;
    let y = |p: u64| top_px + lanes.get(&p).copied().unwrap_or(0) as f64 * lane_px;
    let width = (x(end_rank as f64 + 1.0) + 16.0).max(720.0);
    let height = top_px + lanes.len() as f64 * lane_px + 40.0;
    let prefix_pos: BTreeMap<usize, usize> = c
        .longest_prefix
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    let minimal: BTreeSet<usize> = c.minimal.iter().map(|m| m.id).collect();
    let mut s = format!(
        "<svg id=\"fl-linearization\" class=\"linearization\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n"
    );
    for (p, i) in &lanes {
        let _ = writeln!(
            s,
            "<text x=\"4\" y=\"{:.1}\" class=\"lane\">process {p}</text>",
            top_px + *i as f64 * lane_px + 19.0
        );
    }
    for o in &ops {
        let x0 = x(rank(o.call) as f64);
        let x1 = x(o.ret.map_or(end_rank, rank) as f64);
        let class = if o.id == failing.id {
            "bar failing"
        } else if prefix_pos.contains_key(&o.id) {
            "bar linearized"
        } else if minimal.contains(&o.id) {
            "bar minimal"
        } else {
            "bar other"
        };
        let open = if o.ret.is_none() { " open" } else { "" };
        let _ = writeln!(
            s,
            "<g class=\"{class}{open}\" data-op=\"{}\"><title>op {}: {}</title>\
             <rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"22\" rx=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            o.id,
            o.id,
            esc(&checker::explain::describe_op(o)),
            y(o.process) + 4.0,
            (x1 - x0).max(4.0),
            x0 + 4.0,
            y(o.process) + 19.0,
            esc(&short(o))
        );
    }
    // Greedy linearization points: (rank, index among points at that rank).
    let mut placed: Vec<(usize, usize, &Op)> = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for p in tail {
        let Some(o) = get(p.id) else { continue };
        let r = rank(o.call);
        let pos = match cur {
            Some((cr, sub)) if cr >= r => (cr, sub + 1),
            _ => (r, 0),
        };
        cur = Some(pos);
        placed.push((pos.0, pos.1, o));
    }
    let mut per_rank: BTreeMap<usize, usize> = BTreeMap::new();
    for (r, _, _) in &placed {
        *per_rank.entry(*r).or_default() += 1;
    }
    let coords: Vec<(f64, f64)> = placed
        .iter()
        .map(|(r, sub, o)| {
            let n = per_rank.get(r).copied().unwrap_or(1) as f64;
            let px = x(*r as f64) + col_px * (*sub as f64 + 1.0) / (n + 1.0);
            (px, y(o.process) + 26.0)
        })
        .collect();
    if coords.len() > 1 {
        let pts: Vec<String> = coords
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            s,
            "<polyline class=\"order\" points=\"{}\"/>",
            pts.join(" ")
        );
    }
    let first = c.longest_prefix.len() - tail.len();
    for (i, (px, py)) in coords.iter().enumerate() {
        let _ = writeln!(
            s,
            "<circle class=\"point\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\"><title>linearized #{}</title></circle>",
            first + i + 1
        );
    }
    let fx = x(rank(failing.call) as f64);
    let fy = y(failing.process);
    let _ = writeln!(
        s,
        "<text class=\"cross\" x=\"{:.1}\" y=\"{:.1}\">\u{2717}</text>\n<text class=\"note\" \
         x=\"{left_px:.0}\" y=\"{:.1}\">red: cannot be linearized after the {} ops joined by the \
         line (state could be {})</text>\n</svg>",
        fx - 14.0,
        fy + 20.0,
        height - 14.0,
        c.longest_prefix.len(),
        esc(&c.possible_states.join(" or "))
    );
    s
}
