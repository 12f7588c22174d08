//! The longest linearizable order, drawn as Porcupine draws it.
//!
//! Porcupine shows the failing part of a history as bars (one row per client, call to return)
//! and the longest partial linearization it found as points joined in order, one point inside
//! each linearized op's bar. We draw the same from the checker's [`Counterexample`]: the last
//! [`PREFIX_DRAWN_MAX`] ops of the longest linearizable prefix, the op that cannot be linearized
//! (red), the ops of the shrunk sub-history when it is small, and a few ops concurrent with the
//! failing one.
//!
//! The x axis is the order of calls and returns (ranks of event positions), which is all
//! linearizability depends on; wall-clock gaps would squeeze concurrent ops into slivers. A
//! linearization point is placed greedily at the earliest rank after both its op's call and the
//! previous point, so the points increase and each lies inside its bar (such a placement exists
//! because the prefix is linearizable).

use super::html::esc;
use checker::explain::{describe_op, Counterexample};
use histories::{History, Op, Outcome, F};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Prefix ops drawn (the list below the drawing has more).
pub const PREFIX_DRAWN_MAX: usize = 20;
/// The shrunk sub-history is drawn only when it has at most this many ops.
const MINIMAL_DRAWN_MAX: usize = 30;
/// Ops concurrent with the failing op added to the drawing.
const CONCURRENT_DRAWN_MAX: usize = 10;

const LEFT_PX: f64 = 92.0;
const TOP_PX: f64 = 16.0;
const LANE_PX: f64 = 34.0;
const WIDTH_MIN_PX: f64 = 720.0;

/// Where things go: ranks of calls and returns across, processes down.
struct Layout {
    /// Every call and return of the drawn ops, sorted.
    points: Vec<u64>,
    /// Row of each process.
    lanes: BTreeMap<u64, usize>,
    col_px: f64,
}

impl Layout {
    fn new(ops: &[&Op]) -> Layout {
        let mut points: Vec<u64> = ops
            .iter()
            .flat_map(|o| [Some(o.call), o.ret])
            .flatten()
            .collect();
        points.sort_unstable();
        points.dedup();
        let procs: BTreeSet<u64> = ops.iter().map(|o| o.process).collect();
        let col_px = (760.0 / (points.len() as f64 + 1.0)).clamp(18.0, 70.0);
        Layout {
            lanes: procs.into_iter().enumerate().map(|(i, p)| (p, i)).collect(),
            points,
            col_px,
        }
    }
    fn rank(&self, p: u64) -> usize {
        self.points.partition_point(|&q| q < p)
    }
    /// The rank of "never returned".
    fn end_rank(&self) -> usize {
        self.points.len()
    }
    fn x(&self, rank: f64) -> f64 {
        LEFT_PX + rank * self.col_px
    }
    fn y(&self, process: u64) -> f64 {
        TOP_PX + self.lanes.get(&process).copied().unwrap_or(0) as f64 * LANE_PX
    }
    fn size(&self) -> (f64, f64) {
        let width = (self.x(self.end_rank() as f64 + 1.0) + 16.0).max(WIDTH_MIN_PX);
        (width, TOP_PX + self.lanes.len() as f64 * LANE_PX + 40.0)
    }
}

/// A short label for a bar: `write 5`, `read 3`, `cas 1→2`, `read ?`.
fn short(op: &Op) -> String {
    let out = match &op.outcome {
        Outcome::Ok(v) => v.to_string(),
        Outcome::Fail => "fail".into(),
        Outcome::Info => "?".into(),
    };
    match op.f {
        F::Read | F::Get => format!("{} {out}", op.f),
        F::Cas => match op.input.as_list() {
            Some([a, b]) => format!("cas {a}\u{2192}{b}"),
            _ => format!("cas {}", op.input),
        },
        f => format!("{f} {}", op.input),
    }
}

/// The ops drawn: the prefix's tail, the failing op, a small shrunk sub-history, and a few ops
/// of the failing key concurrent with the failing op.
fn drawn<'h>(history: &'h History, c: &Counterexample, failing: &Op) -> Vec<&'h Op> {
    let tail = &c.longest_prefix[c.longest_prefix.len().saturating_sub(PREFIX_DRAWN_MAX)..];
    let mut ids: BTreeSet<usize> = tail.iter().map(|p| p.id).collect();
    ids.insert(failing.id);
    if c.minimal.len() <= MINIMAL_DRAWN_MAX {
        ids.extend(c.minimal.iter().map(|m| m.id));
    }
    let overlaps = |o: &&Op| {
        o.call < failing.ret.unwrap_or(u64::MAX) && o.ret.is_none_or(|r| r > failing.call)
    };
    ids.extend(
        history
            .ops
            .iter()
            .filter(|o| o.key == failing.key && o.id != failing.id)
            .filter(|o| o.outcome != Outcome::Fail)
            .filter(overlaps)
            .take(CONCURRENT_DRAWN_MAX)
            .map(|o| o.id),
    );
    ids.iter()
        .filter_map(|&i| history.ops.get(i).filter(|o| o.id == i))
        .collect()
}

fn bars(s: &mut String, layout: &Layout, ops: &[&Op], c: &Counterexample) {
    let prefix: BTreeSet<usize> = c.longest_prefix.iter().map(|p| p.id).collect();
    let minimal: BTreeSet<usize> = c.minimal.iter().map(|m| m.id).collect();
    for o in ops {
        let x0 = layout.x(layout.rank(o.call) as f64);
        let x1 = layout.x(o.ret.map_or(layout.end_rank(), |r| layout.rank(r)) as f64);
        let class = if o.id == c.op.id {
            "bar failing"
        } else if prefix.contains(&o.id) {
            "bar linearized"
        } else if minimal.contains(&o.id) {
            "bar minimal"
        } else {
            "bar other"
        };
        let open = if o.ret.is_none() { " open" } else { "" };
        let y = layout.y(o.process);
        let _ = writeln!(
            s,
            "<g class=\"{class}{open}\" data-op=\"{}\"><title>op {}: {}</title>\
             <rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"22\" rx=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            o.id,
            o.id,
            esc(&describe_op(o)),
            y + 4.0,
            (x1 - x0).max(4.0),
            x0 + 4.0,
            y + 19.0,
            esc(&short(o))
        );
    }
}

/// Greedy linearization points of `tail` (in order): `(x, y)` per op.
fn order_points(layout: &Layout, tail: &[&Op]) -> Vec<(f64, f64)> {
    // (rank, index among the points placed at that rank)
    let mut placed: Vec<(usize, usize, u64)> = Vec::with_capacity(tail.len());
    let mut cur: Option<(usize, usize)> = None;
    for o in tail {
        let r = layout.rank(o.call);
        let pos = match cur {
            Some((cr, sub)) if cr >= r => (cr, sub + 1),
            _ => (r, 0),
        };
        cur = Some(pos);
        placed.push((pos.0, pos.1, o.process));
    }
    let mut per_rank: BTreeMap<usize, usize> = BTreeMap::new();
    for (r, _, _) in &placed {
        *per_rank.entry(*r).or_default() += 1;
    }
    placed
        .iter()
        .map(|&(r, sub, process)| {
            let n = per_rank.get(&r).copied().unwrap_or(1) as f64;
            let x = layout.x(r as f64) + layout.col_px * (sub as f64 + 1.0) / (n + 1.0);
            (x, layout.y(process) + 26.0)
        })
        .collect()
}

/// The drawing, as inline SVG.
pub fn linearization_svg(history: &History, c: &Counterexample) -> String {
    let Some(failing) = history.ops.get(c.op.id).filter(|o| o.id == c.op.id) else {
        return "<p>(the failing op is not in this history)</p>".to_string();
    };
    let ops = drawn(history, c, failing);
    let layout = Layout::new(&ops);
    let (width, height) = layout.size();
    let mut s = format!(
        "<svg id=\"fl-linearization\" class=\"linearization\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n"
    );
    for (p, i) in &layout.lanes {
        let _ = writeln!(
            s,
            "<text x=\"4\" y=\"{:.1}\" class=\"lane\">process {p}</text>",
            TOP_PX + *i as f64 * LANE_PX + 19.0
        );
    }
    bars(&mut s, &layout, &ops, c);
    let first = c.longest_prefix.len().saturating_sub(PREFIX_DRAWN_MAX);
    let tail: Vec<&Op> = c.longest_prefix[first..]
        .iter()
        .filter_map(|p| history.ops.get(p.id).filter(|o| o.id == p.id))
        .collect();
    let coords = order_points(&layout, &tail);
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
    for (i, (px, py)) in coords.iter().enumerate() {
        let _ = writeln!(
            s,
            "<circle class=\"point\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\"><title>linearized \
             #{}</title></circle>",
            first + i + 1
        );
    }
    let _ = writeln!(
        s,
        "<text class=\"cross\" x=\"{:.1}\" y=\"{:.1}\">\u{2717}</text>\n<text class=\"note\" \
         x=\"{LEFT_PX:.0}\" y=\"{:.1}\">red: cannot be linearized after the {} ops joined by the \
         line (state could be {})</text>\n</svg>",
        layout.x(layout.rank(failing.call) as f64) - 14.0,
        layout.y(failing.process) + 20.0,
        height - 14.0,
        c.longest_prefix.len(),
        esc(&c.possible_states.join(" or "))
    );
    s
}
