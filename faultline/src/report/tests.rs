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

/// Three nodes; process 1's read was sent to n1 and answered by n3 (a not-leader hint followed).
const WITH_NODES: &str = r#"{"type":"invoke","process":0,"time":1000000,"f":"write","key":"k1","value":1,"node":"n1"}
{"type":"ok","process":0,"time":3000000,"f":"write","key":"k1","value":1,"node":"n1"}
{"type":"invoke","process":1,"time":4000000,"f":"read","key":"k1","value":null,"node":"n1"}
{"type":"ok","process":1,"time":6000000,"f":"read","key":"k1","value":1,"node":"n3"}
{"type":"invoke","process":2,"time":7000000,"f":"cas","key":"k1","value":[1,2],"node":"n2"}
{"type":"info","process":2,"time":9000000,"f":"cas","key":"k1","value":[1,2],"node":"n2","error":"timeout"}
{"type":"invoke","process":3,"time":11000000,"f":"read","key":"k1","value":null}
{"type":"fail","process":3,"time":12000000,"f":"read","key":"k1","value":null,"error":"no route"}
"#;

#[test]
fn the_encoded_ops_carry_their_nodes_and_the_page_offers_colour_by_node() {
    let h = histories::parse_reader(WITH_NODES.as_bytes(), "n", Format::Jsonl)
        .unwrap()
        .history;
    let enc = encode(&h, Axis::of(&h));
    assert_eq!(enc.nodes, ["n1", "n2", "n3"]);
    let ops = decode(&enc).unwrap();
    let got: Vec<(Option<&str>, Option<&str>)> = ops
        .iter()
        .map(|o| (o.sent_to.as_deref(), o.served_by.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("n1"), Some("n1")),
            (Some("n1"), Some("n3")),
            (Some("n2"), Some("n2")),
            (None, None),
        ]
    );
    // Two bytes an op with nodes; the others cost what they did.
    let mut plain = h.clone();
    for o in &mut plain.ops {
        o.sent_to = None;
        o.served_by = None;
    }
    let plain_enc = encode(&plain, Axis::of(&plain));
    assert_eq!(enc.bytes.len(), plain_enc.bytes.len() + 2 * 3);
    assert!(plain_enc.nodes.is_empty());
    assert!(decode(&plain_enc)
        .unwrap()
        .iter()
        .all(|o| o.served_by.is_none()));

    let (page, _) = page_of(&h);
    let meta = meta_of(&page);
    assert_eq!(meta["nodes"], serde_json::json!(["n1", "n2", "n3"]));
    assert_eq!(
        meta["node_colours"],
        serde_json::json!([node_colour(0), node_colour(1), node_colour(2)])
    );
    assert!(page.contains("<select id=\"fl-colour-by\">"));
    for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
        let swatch = format!(
            "<span data-node=\"{n}\"><i style=\"background:{}\"></i>{n}</span>",
            node_colour(i)
        );
        assert!(page.contains(&swatch), "{swatch}");
    }
    // Without nodes there is nothing to colour by: neither the control nor the legend (the
    // page's script names both ids, and does nothing when they are absent).
    let (page, _) = page_of(&plain);
    assert!(!page.contains("id=\"fl-colour-by\"") && !page.contains("id=\"fl-node-legend\""));
    assert_eq!(meta_of(&page)["nodes"], serde_json::json!([]));
}

#[test]
fn node_colours_differ_and_are_css_hex() {
    let colours: Vec<String> = (0..40).map(node_colour).collect();
    let distinct: std::collections::BTreeSet<&String> = colours.iter().collect();
    assert_eq!(distinct.len(), colours.len());
    for c in &colours {
        assert!(
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()),
            "{c}"
        );
    }
}
