//! Unit tests of the page: verdict text, lanes, the failing op's marker, the page's size.

use super::*;
use histories::Format;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../histories/testdata")
        .join(name)
}

fn page_of(history: &History) -> (String, checker::Report) {
    let check = checker::check(history, &checker::Options::default());
    let page = render(&ReportInput {
        history,
        check: &check,
        election: None,
        leaders: &[],
        results: None,
        title: "t".into(),
        command: Some("faultline check x".into()),
    });
    (page, check)
}

fn meta_of(page: &str) -> serde_json::Value {
    let start = page.find("id=\"fl-meta\">").expect("meta") + "id=\"fl-meta\">".len();
    let end = start + page[start..].find("</script>").expect("end of meta");
    serde_json::from_str(&page[start..end]).expect("meta is JSON")
}

#[test]
fn a_valid_history_says_valid_and_has_a_lane_per_process() {
    let h = histories::load(&fixture("jsonl-kv-valid.jsonl"), Format::Auto)
        .unwrap()
        .history;
    let (page, _) = page_of(&h);
    assert!(page.contains("data-verdict=\"valid\">VALID</h1>"));
    assert!(!page.contains("id=\"counterexample\""));
    let lanes: std::collections::BTreeSet<u64> = h.ops.iter().map(|o| o.process).collect();
    let meta = meta_of(&page);
    assert_eq!(meta["lanes"], lanes.len());
    assert_eq!(meta["n"], h.ops.len());
    assert!(meta["failing"].is_null());
    assert!(page.contains("<code id=\"fl-command\">faultline check x</code>"));
    // Self-contained: nothing is fetched.
    for needle in ["src=\"http", "href=\"http", "<link ", "@import"] {
        assert!(!page.contains(needle), "{needle}");
    }
}

#[test]
fn an_invalid_history_marks_the_failing_op_and_draws_the_order() {
    let h = histories::load(&fixture("jsonl-kv-invalid.jsonl"), Format::Auto)
        .unwrap()
        .history;
    let (page, check) = page_of(&h);
    let c = check.counterexample.as_ref().expect("counterexample");
    assert!(page.contains("data-verdict=\"invalid\">INVALID</h1>"));
    assert!(
        page.contains("On key k1, the read of null (absent) at line 7"),
        "words"
    );
    let meta = meta_of(&page);
    assert_eq!(meta["failing"]["op"], c.op.id);
    assert_eq!(meta["failing"]["key"], "k1");
    // The Porcupine drawing has the failing op in red and the order as a line.
    let svg_start = page.find("<svg id=\"fl-linearization\"").expect("drawing");
    let svg = &page[svg_start..svg_start + page[svg_start..].find("</svg>").unwrap()];
    assert!(svg.contains(&format!("class=\"bar failing\" data-op=\"{}\"", c.op.id)));
    assert_eq!(
        svg.matches("class=\"point\"").count(),
        c.longest_prefix.len().min(order::PREFIX_DRAWN_MAX)
    );
    // The states that were possible are listed.
    for s in &c.possible_states {
        assert!(page.contains(&format!("<li><code>{s}</code></li>")), "{s}");
    }
}

#[test]
fn the_order_points_increase_and_lie_inside_their_bars() {
    let mut h = checker::synth::random_register(60, 4, 0.0, 11);
    assert!(checker::synth::inject_stale_read(&mut h));
    let check = checker::check(&h, &checker::Options::default());
    let c = check.counterexample.as_ref().expect("invalid");
    let svg = order::linearization_svg(&h, c);
    let xs: Vec<f64> = svg
        .match_indices("class=\"point\" cx=\"")
        .map(|(i, m)| {
            let rest = &svg[i + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert!(!xs.is_empty());
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
}

#[test]
fn a_million_op_page_stays_under_20_mb() {
    let h = sample::run_shaped(1_000_000);
    // With the counterexample: a shrink cut short by the budget leaves a large sub-history,
    // which the page must list and draw only in part.
    let opts = checker::Options {
        time_limit: Some(std::time::Duration::from_secs(1)),
        ..checker::Options::default()
    };
    let check = checker::check(&h, &opts);
    assert!(
        check.counterexample.is_some(),
        "the sample has a stale read"
    );
    let page = render(&ReportInput {
        history: &h,
        check: &check,
        election: None,
        leaders: &[],
        results: None,
        title: "1M".into(),
        command: None,
    });
    println!("1,000,000-op page: {:.2} MB", page.len() as f64 / 1e6);
    assert!(page.len() < 20_000_000, "{} bytes", page.len());
    // and the ops are all there: the stream decodes to the same count.
    let enc = encode(&h, Axis::MICROS);
    assert_eq!(decode(&enc).unwrap().len(), 1_000_000);
}
