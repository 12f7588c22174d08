//! `report.html`: one self-contained page per run (or per offline history) that shows why the
//! verdict is what it is.
//!
//! # The page, top to bottom
//! 1. **Verdict** (`#fl-verdict`): the worst of the checks, each checker's result (linearizability,
//!    election safety) and the counterexample in one sentence.
//! 2. **Run**: system, nemesis, nodes, seed and the exact command line to repeat the run.
//! 3. **Counterexample** (invalid histories): the op that cannot be linearized, the states
//!    possible just before it, the longest linearizable order drawn as Porcupine draws it (bars per
//!    process, points joined in linearization order; see [`order`]), and the smallest failing
//!    sub-history found by the checker's shrinker.
//! 4. **Timeline** (`#fl-timeline`): one lane per client process, one bar per op from invoke to
//!    completion coloured by outcome (ok green, fail red, info orange) or, when the history
//!    records nodes, by the node that answered (`#fl-colour-by`, with a legend of the nodes),
//!    nemesis intervals shaded with what they did, leader changes as labelled vertical lines; hover shows the op, the wheel
//!    zooms, dragging pans. For a violation the failing key's ops stay bright while the rest fade,
//!    the shrunk sub-history is outlined and the op that cannot be linearized is marked
//!    (`#fl-failing-marker`).
//! 5. **Plots**: latency over time (log scale, points by outcome) and throughput over time, with
//!    the nemesis bands, drawn by `plotters`' SVG backend ([`plots`]).
//! 6. **Figures**: op counts by function and outcome, latency quantiles, throughput, liveness.
//!
//! # Size and speed: why the timeline is drawn by script on a canvas
//! The page must open a 100,000-op run in under 3 s and stay under 20 MB for 1,000,000 ops.
//! An SVG or DOM element per op would be ~200 bytes and one layout object each: a million of
//! them is hundreds of MB and minutes of layout. So:
//! - the ops are embedded once, as a base64 varint stream ([`encode`]: ~8-12 bytes an op before
//!   base64), decoded by the page's script into typed arrays in one pass; values are decoded only
//!   for the op under the mouse;
//! - the timeline is a `<canvas>` redrawn for the visible time window and the visible lanes only
//!   (lanes are virtualised: the scroll container is as tall as all lanes, the canvas as tall as
//!   the viewport); when more than a few tens of thousands of ops fall in the window, each lane
//!   is summarised per pixel column (the worst outcome in that column wins), and zooming in
//!   brings back the individual bars, labels and hover details;
//! - the plots downsample to a bounded number of points ([`plots::LATENCY_POINTS_MAX`]), so
//!   their SVG is the same size for any history.
//!
//! Everything is inline (CSS, script, SVG): the page opens from a file, with no server and no
//! network. Without script the verdict, counterexample, plots and figures are still there.

pub mod browser;
mod encode;
mod html;
pub mod order;
pub mod plots;
mod run;
pub mod sample;
pub mod serve;
pub mod timeline;
pub mod verdict;

pub use encode::{base64, decode, encode, Axis, DecodedOp, Encoded};
pub use run::{load_run, write_run_report, Run};

use crate::store::Results;
use checker::election::{ElectionReport, LeaderEvent};
use histories::History;
use html::{esc, script_json};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The page's script and style, inlined.
const SCRIPT: &str = include_str!("report.js");
const STYLE: &str = include_str!("report.css");

/// Prefix ops listed in the page's data for highlighting (the drawing shows fewer).
const PREFIX_IDS_MAX: usize = 1_000;
/// Ops of the shrunk sub-history outlined on the timeline (an unfinished shrink may leave many).
const MINIMAL_IDS_MAX: usize = 10_000;

/// The colours of the first nodes on the timeline (Tableau 10); later nodes get colours spread
/// around the hue circle ([`node_colour`]).
const NODE_COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of the `i`-th node of the node table, as `#rrggbb`.
pub fn node_colour(i: usize) -> String {
    if let Some(c) = NODE_COLOURS.get(i) {
        return c.to_string();
    }
    // Golden-angle hues at 55% saturation and lightness, so that neighbours differ.
    let h = (i as f64 * 137.508) % 360.0;
    let (s, l) = (0.55, 0.55);
    let c = (1.0 - (2.0 * l - 1.0f64).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

/// Everything one page is drawn from.
pub struct ReportInput<'a> {
    /// The history (ops and nemesis events).
    pub history: &'a History,
    /// The linearizability check of it.
    pub check: &'a checker::Report,
    /// The election-safety check, if leader events were available.
    pub election: Option<&'a ElectionReport>,
    /// Leader events, drawn as leader changes on the timeline.
    pub leaders: &'a [LeaderEvent],
    /// The run's `results.json`, for the run's metadata (may lack any field).
    pub results: Option<&'a Results>,
    /// The page's title.
    pub title: String,
    /// The command line that produced the history, if known (overrides the recorded one).
    pub command: Option<String>,
}

/// An argv as one shell line (arguments quoted where needed), for the page's command line.
pub fn command_line(argv: &[String]) -> Option<String> {
    (!argv.is_empty()).then(|| html::command_line(&json!(argv)))?
}

/// Renders the page.
pub fn render(input: &ReportInput) -> String {
    let history = input.history;
    let axis = Axis::of(history);
    let end = timeline::end_of(history, axis);
    let bands = timeline::bands(history, axis, end);
    let election_note = input.results.and_then(Results::election_note);
    let mut page = String::with_capacity(history.ops.len() * 14 + 200_000);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header><h1 class=\"title\">{}</h1>\
         <p class=\"source\">{}</p></header>\n",
        esc(&input.title),
        esc(&input.title),
        esc(&history.source)
    );
    page.push_str(&verdict::section(
        input.check,
        input.election,
        election_note,
    ));
    page.push_str(&run_section(input));
    page.push_str(&verdict::counterexample_section(history, input.check));
    page.push_str(&timeline_section(input, axis, end, &bands));
    page.push_str(&plots_section(history, axis, end, &bands));
    page.push_str(&figures_section(history, axis, end));
    page.push_str("<footer>faultline report · self-contained: no network needed</footer>\n");
    page.push_str("<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body></html>\n");
    page
}

/// A field of the run: `results.run.<name>`, else the history header's `<name>`.
fn run_field(input: &ReportInput, name: &str) -> Option<Json> {
    let from_results = input
        .results
        .and_then(|r| r.run.as_ref())
        .and_then(|r| r.field(name));
    let from_header = || input.history.header.as_ref()?.get(name).cloned();
    from_results.or_else(from_header).filter(|v| !v.is_null())
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn run_section(input: &ReportInput) -> String {
    let mut s = String::from("<section id=\"run\"><h2>Run</h2>\n<table class=\"kv\">\n");
    for (name, label) in [
        ("id", "run"),
        ("system", "system"),
        ("nemesis", "nemesis"),
        ("nodes", "nodes"),
        ("seed", "seed"),
        ("started", "started"),
        ("duration_s", "duration (s)"),
    ] {
        if let Some(v) = run_field(input, name) {
            let _ = writeln!(
                s,
                "<tr><th>{label}</th><td id=\"fl-run-{name}\">{}</td></tr>",
                esc(&text_of(&v))
            );
        }
    }
    let command = input
        .command
        .clone()
        .or_else(|| run_field(input, "command").and_then(|c| html::command_line(&c)));
    let _ = writeln!(
        s,
        "<tr><th>command</th><td><code id=\"fl-command\">{}</code></td></tr>",
        esc(command.as_deref().unwrap_or("(not recorded)"))
    );
    s.push_str("</table></section>\n");
    s
}

fn timeline_section(input: &ReportInput, axis: Axis, end: u64, bands: &[timeline::Band]) -> String {
    let history = input.history;
    let enc = encode(history, axis);
    let failing = input.check.counterexample.as_ref().map(|c| {
        let tail = c.longest_prefix.len().saturating_sub(PREFIX_IDS_MAX);
        json!({
            "op": c.op.id,
            "key": c.key,
            "minimal": c.minimal.iter().take(MINIMAL_IDS_MAX).map(|m| m.id).collect::<Vec<_>>(),
            "prefix": c.longest_prefix[tail..].iter().map(|m| m.id).collect::<Vec<_>>(),
            "states": c.possible_states,
            "text": c.op.text,
        })
    });
    let lanes: BTreeSet<u64> = history.ops.iter().map(|o| o.process).collect();
    let node_colours: Vec<String> = (0..enc.nodes.len()).map(node_colour).collect();
    let meta = json!({
        "unit": axis.unit(),
        "ns_per_unit": axis.ns_per_unit(),
        "end": end,
        "n": history.ops.len(),
        "lanes": lanes.len(),
        "strings": enc.strings,
        "bands": bands,
        "leaders": timeline::leader_marks(input.leaders, axis),
        "failing": failing,
        "fcodes": encode::F_CODES.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "nodes": enc.nodes,
        "node_colours": node_colours,
    });
    let (colour_by, node_legend) = node_controls(&enc.nodes, &node_colours);
    let unit_note = match axis {
        Axis::Time { .. } => "time since the start of the run",
        Axis::Events => "this history has no times: the axis is the order of events",
    };
    format!(
        "<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"hint\">One lane per client \
         process ({} lanes, {} ops); {unit_note}. Wheel: zoom · drag: pan · shift+wheel or \
         scrollbar: lanes · hover: details.</p>\n<div class=\"controls\">\
         <button type=\"button\" id=\"fl-zoom-in\">zoom in</button>\
         <button type=\"button\" id=\"fl-zoom-out\">zoom out</button>\
         <button type=\"button\" id=\"fl-zoom-reset\">whole run</button>{}{colour_by}</div>\n\
         <p class=\"legend\"><span><i style=\"background:#9bd89b\"></i>ok</span>\
         <span><i style=\"background:#f4a9a9\"></i>fail</span><span><i style=\"background:#ffd27f\">\
         </i>info (unknown)</span><span><i style=\"background:#d62728\"></i>cannot be linearized\
         </span><span><i style=\"background:rgba(148,103,189,.3)\"></i>network fault</span>\
         <span><i style=\"background:rgba(214,39,40,.25)\"></i>kill</span><span><i \
         style=\"background:rgba(31,119,180,.25)\"></i>pause</span><span>- - leader change</span></p>\n\
         {node_legend}\
         <div id=\"fl-timeline\" class=\"timeline\"><div class=\"scroll\" id=\"fl-scroll\">\
         <canvas id=\"fl-canvas\"></canvas><div class=\"spacer\" id=\"fl-spacer\"></div></div>\
         <div class=\"tooltip\" id=\"fl-tooltip\"></div></div>\n\
         <noscript><p>The timeline is drawn by script; everything else on this page is static.</p></noscript>\n\
         <script type=\"application/json\" id=\"fl-meta\">{}</script>\n\
         <script type=\"text/plain\" id=\"fl-ops\">{}</script>\n</section>\n",
        lanes.len(),
        history.ops.len(),
        if failing.is_some() {
            "<button type=\"button\" id=\"fl-goto-failing\">show the failing op</button>\
             <label><input type=\"checkbox\" id=\"fl-highlight\" checked> highlight the failing \
             key</label>"
        } else {
            ""
        },
        script_json(&meta),
        base64(&enc.bytes)
    )
}

/// The colour-by control and the legend of nodes, for a history that records nodes (both
/// empty otherwise: an outcome is then the only colouring there is).
fn node_controls(nodes: &[String], colours: &[String]) -> (String, String) {
    if nodes.is_empty() {
        return (String::new(), String::new());
    }
    let control = "<label class=\"colour-by\">colour by <select id=\"fl-colour-by\">\
                   <option value=\"outcome\" selected>outcome</option>\
                   <option value=\"node\">node</option></select></label>"
        .to_string();
    let mut legend = String::from(
        "<p class=\"legend\" id=\"fl-node-legend\" hidden><span>node that answered (for \
         info ops, the last one tried; the outline still shows the outcome):</span>",
    );
    for (n, c) in nodes.iter().zip(colours) {
        let _ = write!(
            legend,
            "<span data-node=\"{}\"><i style=\"background:{c}\"></i>{}</span>",
            esc(n),
            esc(n)
        );
    }
    legend.push_str("</p>\n");
    (control, legend)
}

fn plots_section(history: &History, axis: Axis, end: u64, bands: &[timeline::Band]) -> String {
    let mut s = String::from("<section id=\"plots\"><h2>Latency and throughput</h2>\n");
    if !axis.is_time() {
        s.push_str("<p>This history records no times, so there is no latency or rate to plot.</p>");
    } else {
        let points = plots::points(history);
        let t_end_s = end as f64 / axis.per_second();
        for (id, plot) in [
            (
                "fl-latency",
                plots::latency_svg(&points, bands, axis.per_second(), t_end_s),
            ),
            (
                "fl-throughput",
                plots::throughput_svg(&points, bands, axis.per_second(), t_end_s),
            ),
        ] {
            match plot {
                Ok(svg) => {
                    let _ = writeln!(s, "<figure id=\"{id}\" class=\"plot\">{svg}</figure>");
                }
                Err(e) => {
                    let _ = writeln!(s, "<p>plot {id} failed: {}</p>", esc(&e));
                }
            }
        }
    }
    s.push_str("</section>\n");
    s
}

fn figures_section(history: &History, axis: Axis, end: u64) -> String {
    let marks: Vec<crate::stats::Mark> = history
        .nemesis
        .iter()
        .filter_map(|e| {
            Some(crate::stats::Mark {
                time_ns: e.time?,
                f: e.f.clone(),
            })
        })
        .collect();
    let duration_ns = if axis.is_time() {
        end * axis.ns_per_unit()
    } else {
        0
    };
    let fig = crate::stats::figures(&history.ops, &marks, duration_ns);
    let mut s = String::from(
        "<section id=\"figures\"><h2>Figures</h2>\n<table class=\"counts\" id=\"fl-counts\">\
         <tr><th>f</th><th>total</th><th>ok</th><th>fail</th><th>info</th></tr>\n",
    );
    let rows = fig
        .ops_by_f
        .iter()
        .map(|(f, c)| (f.as_str(), c))
        .chain([("all", &fig.ops)]);
    for (f, c) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(f),
            c.total,
            c.ok,
            c.fail,
            c.info
        );
    }
    s.push_str("</table>\n");
    if axis.is_time() {
        let l = &fig.latency;
        let heal = fig
            .liveness
            .max_heal_to_first_ok_ms
            .map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let _ = writeln!(
            s,
            "<table class=\"kv\" id=\"fl-latency-quantiles\"><tr><th>latency of ok ops</th>\
             <td>p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms</td></tr>\
             <tr><th>throughput</th><td>{:.1} ok ops/s</td></tr>\
             <tr><th>ok ops while healthy / faulty</th><td>{} / {}</td></tr>\
             <tr><th>worst heal to first ok op</th><td>{heal}</td></tr></table>",
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            fig.throughput_ok_per_s,
            fig.liveness.ok_while_healthy,
            fig.liveness.ok_while_faulty
        );
    }
    s.push_str("</section>\n");
    s
}

#[cfg(test)]
mod tests;
