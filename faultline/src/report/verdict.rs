//! The top of the page: the verdict, each checker's result, and for a violation the
//! counterexample in words, its possible states, lists, and the drawing of [`super::order`].

use super::html::esc;
use checker::election::ElectionReport;
use checker::explain::{Counterexample, OpView};
use checker::{Report, Verdict};
use histories::History;
use std::fmt::Write;

/// Prefix ops listed.
const PREFIX_LISTED_MAX: usize = 50;
/// Ops of the shrunk sub-history listed (an unfinished shrink may leave a whole key's ops).
const MINIMAL_LISTED_MAX: usize = 200;
/// Lines of the text explanation shown.
const TEXT_LINES_MAX: usize = 200;

/// The run's verdict: the worst of linearizability and election safety.
pub fn overall(check: &Report, election: Option<&ElectionReport>) -> Verdict {
    let e = match election {
        Some(r) => r.verdict,
        None => Verdict::Valid,
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
    let place = match &c.key {
        Some(k) => format!("On key {k}"),
        None => "In the history".to_string(),
    };
    format!(
        "{place}, the {} cannot be linearized: just before it, the state could be {states}.",
        c.op.text
    )
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
    s.push_str(&election_row(election, election_note));
    s.push_str("</table>\n");
    for r in &check.unknown_reasons {
        let _ = writeln!(s, "<p class=\"unknown\">unknown: {}</p>", esc(r));
    }
    s.push_str("</section>\n");
    s
}

/// The election-safety row of the checks table.
fn election_row(election: Option<&ElectionReport>, note: Option<&str>) -> String {
    let mut s = String::new();
    match election {
        Some(e) => {
            let v = e.verdict;
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
                esc(note.unwrap_or("no leader events"))
            );
        }
    }
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
    s.push_str(&super::order::linearization_svg(history, c));
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
