//! report.html in a real browser (headless Chromium), `faultline report RUN_DIR`, and
//! `faultline serve` over real HTTP, path-escape attempts included.
//!
//! The browser tests need Debian's `chromium`: a plain `cargo test` skips them (`#[ignore]`, run
//! them with `--include-ignored`); when it is missing they install it (as root) or fail saying
//! what to run: they never pass without a browser.

use crate::support::{bin, faultline, fixture};
use faultline::report::browser;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `target/` (wherever CARGO_TARGET_DIR put it): the test binary is `target/debug/deps/x`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn out_dir() -> PathBuf {
    let d = target_dir().join("report-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lanes_of(file: &Path) -> usize {
    let h = histories::load(file, histories::Format::Auto)
        .unwrap()
        .history;
    let procs: std::collections::BTreeSet<u64> = h.ops.iter().map(|o| o.process).collect();
    procs.len()
}

fn screenshot(page: &Path, name: &str) {
    let png = target_dir()
        .join("report-screenshots")
        .join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    browser::screenshot(page, &png, (1280, 1600)).unwrap_or_else(|e| panic!("{e:#}"));
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        png.display()
    );
    eprintln!("screenshot: {}", png.display());
}

#[test]
#[ignore = "needs chromium"]
fn check_html_in_a_browser_shows_verdict_lanes_and_the_failing_op() {
    for (name, valid) in [
        ("jsonl-kv-valid.jsonl", true),
        ("jsonl-kv-invalid.jsonl", false),
        ("jsonl-cas-register-invalid.jsonl", false),
    ] {
        let file = fixture(name);
        let page = out_dir().join(format!("{name}.html"));
        let o = faultline(&[
            "check",
            file.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(if valid { 0 } else { 1 }), "{name}");
        let dom = browser::dump_dom(&page).unwrap_or_else(|e| panic!("{e:#}"));
        // The script ran and drew: it sets these only after the first draw.
        let lanes = browser::attr(&dom, "fl-timeline", "data-lanes");
        assert_eq!(lanes, Some(lanes_of(&file).to_string()), "{name}: lanes");
        assert!(browser::attr(&dom, "fl-timeline", "data-ready-ms").is_some());
        let verdict = browser::attr(&dom, "fl-verdict", "data-verdict");
        let marker = browser::attr(&dom, "fl-failing-marker", "data-op");
        if valid {
            assert_eq!(verdict.as_deref(), Some("valid"), "{name}");
            assert!(dom.contains(">VALID</h1>"));
            assert_eq!(marker, None, "{name}: a valid history has no failing op");
        } else {
            assert_eq!(verdict.as_deref(), Some("invalid"), "{name}");
            assert!(dom.contains(">INVALID</h1>"));
            let json = faultline(&["check", "--json", file.to_str().unwrap()]);
            let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
            let op = v["result"]["counterexample"]["op"]["id"].to_string();
            assert_eq!(marker, Some(op.clone()), "{name}: the failing op is marked");
            assert!(dom.contains(&format!("class=\"bar failing\" data-op=\"{op}\"")));
            assert!(dom.contains("cannot be linearized"));
            hover_shows_the_failing_op(&page, &op);
        }
        screenshot(&page, name.trim_end_matches(".jsonl"));
    }
}

/// Moves the mouse onto the failing op's bar (just under its marker) and reads the tooltip.
fn hover_shows_the_failing_op(page: &Path, op: &str) {
    let probe = page.with_extension("hover.html");
    let html = std::fs::read_to_string(page).unwrap().replace(
        "</body></html>",
        "<script>(function(){var m=document.getElementById('fl-failing-marker'),\
         c=document.getElementById('fl-canvas'),r=m.getBoundingClientRect();\
         c.dispatchEvent(new MouseEvent('mousemove',{clientX:r.left+3,clientY:r.bottom+6,\
         bubbles:true}));var o=document.createElement('pre');o.id='hover-out';\
         o.textContent=document.getElementById('fl-tooltip').textContent;\
         document.body.appendChild(o);})();</script></body></html>",
    );
    std::fs::write(&probe, html).unwrap();
    let dom = browser::dump_dom(&probe).unwrap_or_else(|e| panic!("{e:#}"));
    let at = dom.find("<pre id=\"hover-out\">").expect("probe ran");
    let tip = &dom[at..at + dom[at..].find("</pre>").unwrap()];
    assert!(tip.contains(&format!("op {op} ")), "{tip}");
    assert!(tip.contains("cannot be linearized"), "{tip}");
}

const HISTORY: &str = r#"{"faultline":1,"system":"raft-register","nemesis":"partition","seed":42,"command":["faultline","test","--seed","42"]}
{"type":"invoke","process":0,"time":1000000,"f":"write","key":"k1","value":1}
{"type":"ok","process":0,"time":3000000,"f":"write","key":"k1","value":1}
{"type":"invoke","process":1,"time":4000000,"f":"read","key":"k1","value":null}
{"type":"info","process":"nemesis","time":5000000,"f":"start-partition","value":{"kind":"isolate-leader","groups":[["n1"],["n2","n3"]]}}
{"type":"ok","process":1,"time":6000000,"f":"read","key":"k1","value":1}
{"type":"invoke","process":2,"time":7000000,"f":"cas","key":"k1","value":[1,2]}
{"type":"info","process":2,"time":9000000,"f":"cas","key":"k1","value":[1,2],"error":"timeout"}
{"type":"info","process":"nemesis","time":10000000,"f":"heal","value":null}
{"type":"invoke","process":3,"time":11000000,"f":"read","key":"k1","value":null}
{"type":"fail","process":3,"time":12000000,"f":"read","key":"k1","value":null,"error":"not leader"}
"#;

fn make_run(dir: &Path) {
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    std::fs::write(dir.join("history.jsonl"), HISTORY).unwrap();
    std::fs::write(
        dir.join("leaders.jsonl"),
        "{\"event\":\"leader\",\"node\":\"n1\",\"term\":1,\"time\":500000}\n\
         {\"event\":\"leader\",\"node\":\"n2\",\"term\":2,\"time\":8000000}\n",
    )
    .unwrap();
    // Fields missing on purpose: only some of `run`, no figures.
    std::fs::write(
        dir.join("results.json"),
        r#"{"faultline":1,"valid":true,"run":{"id":"r1","nodes":["n1","n2","n3"],"duration_s":0.012}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("nodes/n1.log"), "started\n").unwrap();
}

#[test]
#[ignore = "needs chromium"]
fn report_regenerates_a_run_and_the_browser_draws_bands_and_leaders() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    make_run(&run);
    let o = faultline(&["report", run.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(PathBuf::from(&printed), run.join("report.html"));
    let page = std::fs::read_to_string(&printed).unwrap();
    assert!(page.contains("<code id=\"fl-command\">faultline test --seed 42</code>"));
    assert!(page.contains("<td id=\"fl-run-seed\">42</td>"));
    assert!(page.contains("<td id=\"fl-run-system\">raft-register</td>"));
    assert!(page.contains("<tr><td>election safety</td><td class=\"v-valid\">valid</td>"));
    assert!(page.contains("id=\"fl-latency\"") && page.contains("id=\"fl-throughput\""));
    let dom = browser::dump_dom(Path::new(&printed)).unwrap_or_else(|e| panic!("{e:#}"));
    let at = |name| browser::attr(&dom, "fl-timeline", name);
    assert_eq!(at("data-lanes").as_deref(), Some("4"));
    assert_eq!(at("data-bands").as_deref(), Some("1"));
    assert_eq!(at("data-leaders").as_deref(), Some("2"));
    assert_eq!(
        browser::attr(&dom, "fl-verdict", "data-verdict").as_deref(),
        Some("valid")
    );
    let copy = out_dir().join("run-report.html");
    std::fs::copy(&printed, &copy).unwrap();
    screenshot(&copy, "run-report");
}

#[test]
fn a_bad_run_dir_exits_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = faultline(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("history.jsonl"), "{err}");
    let run = tmp.path().join("run");
    make_run(&run);
    std::fs::write(run.join("results.json"), "{not json").unwrap();
    let o = faultline(&["report", run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("results.json: not JSON"));
    std::fs::write(run.join("results.json"), "{}").unwrap();
    std::fs::write(
        run.join("history.jsonl"),
        "{\"type\":\"ok\",\"process\":1,\"f\":\"read\"}\n",
    )
    .unwrap();
    let o = faultline(&["report", run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("history.jsonl:1"));
    let o = faultline(&[
        "check",
        fixture("jsonl-kv-valid.jsonl").to_str().unwrap(),
        fixture("jsonl-kv-invalid.jsonl").to_str().unwrap(),
        "--html",
        "/tmp/x.html",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Kills the server it holds, by PID, when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_string())
}

#[test]
fn serve_lists_runs_serves_files_and_refuses_to_leave_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "root:x:0:0:secret").unwrap();
    let store = tmp.path().join("store");
    let run = store.join("raft-register-partition/20260101T000000Z");
    make_run(&run);
    std::fs::write(
        run.join("results.json"),
        r#"{"faultline":1,"valid":false,"run":{"system":"raft-register","nemesis":"partition"},"figures":{"ops":{"total":5}}}"#,
    )
    .unwrap();
    std::fs::write(run.join("report.html"), "<html>the report</html>").unwrap();
    std::os::unix::fs::symlink(
        "raft-register-partition/20260101T000000Z",
        store.join("latest"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", store.join("etc")).unwrap();
    std::os::unix::fs::symlink("../../../secret.txt", run.join("leak.txt")).unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--store", store.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start faultline serve");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let (code, index) = get(&addr, "/");
    assert_eq!(code, 200);
    assert_eq!(index.matches("<tr class=\"run\">").count(), 1, "{index}");
    for needle in [
        "<td>raft-register</td><td>partition</td>",
        "<td class=\"invalid\">invalid</td><td>5</td>",
        "href=\"/raft-register-partition/20260101T000000Z/report.html\"",
        "href=\"/raft-register-partition/20260101T000000Z/nodes/n1.log\"",
    ] {
        assert!(index.contains(needle), "{needle} in {index}");
    }
    let (code, body) = get(
        &addr,
        "/raft-register-partition/20260101T000000Z/report.html",
    );
    assert_eq!((code, body.as_str()), (200, "<html>the report</html>"));
    assert_eq!(
        get(&addr, "/latest/nodes/n1.log"),
        (200, "started\n".into())
    );
    for bad in [
        "/../etc/passwd",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/raft-register-partition/..%2f..%2f..%2fsecret.txt",
        "/raft-register-partition%2f20260101T000000Z%2freport.html",
        "/etc/passwd",
        "/latest/leak.txt",
        "/raft-register-partition/20260101T000000Z/leak.txt",
        "/nope",
    ] {
        let (code, body) = get(&addr, bad);
        assert_eq!(code, 404, "{bad}: {body}");
        assert!(!body.contains("root:"), "{bad}");
    }
    drop(server);
}

#[test]
#[ignore = "needs chromium"]
fn a_100k_op_page_is_summarised_zoomed_out_and_shows_bars_zoomed_in() {
    use faultline::report::{render, sample, ReportInput};
    let h = sample::run_shaped(100_000);
    let check = checker::check(&h, &checker::Options::default());
    let page = render(&ReportInput {
        history: &h,
        check: &check,
        election: None,
        leaders: &[],
        results: None,
        title: "100k".into(),
        command: None,
    });
    let path = out_dir().join("sample-100k.html");
    std::fs::write(&path, &page).unwrap();
    let dom = browser::dump_dom(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let at = |dom: &str, name| browser::attr(dom, "fl-timeline", name);
    assert_eq!(at(&dom, "data-mode").as_deref(), Some("summary"));
    assert_eq!(at(&dom, "data-ops").as_deref(), Some("100000"));
    if let Some(ms) = at(&dom, "data-ready-ms") {
        println!(
            "100,000-op page ({:.1} MB) drawn {ms} ms after navigation start",
            page.len() as f64 / 1e6
        );
    }
    screenshot(&path, "sample-100k");
    // Eight wheel steps in: few enough ops in view to draw each one.
    let probe = path.with_extension("zoom.html");
    // Animation frames are timers here: headless Chromium's virtual time always runs timers,
    // while a frame on a loaded machine could come after the DOM was dumped.
    let html = page.replacen(
        "<head>",
        "<head><script>window.requestAnimationFrame=function(f){return setTimeout(f,16);};</script>",
        1,
    );
    assert!(
        html.contains("requestAnimationFrame=function"),
        "the page has a <head>"
    );
    let html = html.replace(
        "</body></html>",
        "<script>window.addEventListener('load',function(){\
         var c=document.getElementById('fl-canvas'),r=c.getBoundingClientRect();\
         for(var k=0;k<8;k++)c.dispatchEvent(new WheelEvent('wheel',{deltaY:-600,\
         clientX:r.left+400,clientY:r.top+100,bubbles:true,cancelable:true}));});</script>\
         </body></html>",
    );
    std::fs::write(&probe, html).unwrap();
    // The wheel steps wait for the page's load (its layout gives the canvas its size); the
    // probe is tried again with a longer budget should the machine be slower still.
    let mut mode = None;
    for budget_ms in [2_000, 4_000, 8_000] {
        let dom = browser::dump_dom_after(&probe, budget_ms).unwrap_or_else(|e| panic!("{e:#}"));
        mode = at(&dom, "data-mode");
        if mode.as_deref() == Some("bars") {
            break;
        }
    }
    assert_eq!(mode.as_deref(), Some("bars"), "zoomed in");
}

/// Figures, not a check: `cargo test -p faultline --test main -- report::print_render --ignored
/// --nocapture`.
#[test]
#[ignore = "needs chromium"]
fn print_render_figures_of_100k_and_1m_op_pages() {
    let o = faultline(&["bench", "report", "--ops", "100000,1000000"]);
    println!("{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Three nodes, every op answered: ok writes and reads on n1, n2 and n3 in turn.
fn history_with_nodes() -> String {
    let mut s = String::new();
    for i in 0..12u64 {
        let (p, node) = (i % 4, format!("n{}", i % 3 + 1));
        let (t0, t1) = (i * 10_000_000 + 1_000_000, i * 10_000_000 + 8_000_000);
        s += &format!(
            "{{\"type\":\"invoke\",\"process\":{p},\"time\":{t0},\"f\":\"write\",\"key\":\"k\",\"value\":{i},\"node\":\"{node}\"}}\n\
             {{\"type\":\"ok\",\"process\":{p},\"time\":{t1},\"f\":\"write\",\"key\":\"k\",\"value\":{i},\"node\":\"{node}\"}}\n"
        );
    }
    s
}

/// Counts the canvas's opaque pixels by colour before and after choosing "colour by node".
const COLOUR_PROBE: &str = "<script>(function(){\
    var c=document.getElementById('fl-canvas'),x=c.getContext('2d');\
    function count(){var d=x.getImageData(0,0,c.width,c.height).data,m={};\
    for(var i=0;i<d.length;i+=4){if(d[i+3]!==255)continue;\
    var k='#'+[d[i],d[i+1],d[i+2]].map(function(v){return(v<16?'0':'')+v.toString(16);}).join('');\
    m[k]=(m[k]||0)+1;}return m;}\
    var before=count(),s=document.getElementById('fl-colour-by');\
    s.value='node';s.dispatchEvent(new Event('change'));\
    var after=count(),o=document.createElement('pre');o.id='colour-out';\
    o.textContent=JSON.stringify({before:before,after:after,\
    mode:document.getElementById('fl-timeline').getAttribute('data-colour-by'),\
    legend:!document.getElementById('fl-node-legend').hidden});\
    document.body.appendChild(o);})();</script></body></html>";

#[test]
#[ignore = "needs chromium"]
fn colour_by_node_paints_each_op_in_its_nodes_colour() {
    use faultline::report::node_colour;
    let dir = out_dir();
    let file = dir.join("nodes.jsonl");
    std::fs::write(&file, history_with_nodes()).unwrap();
    let page = dir.join("nodes.html");
    let o = faultline(&[
        "check",
        file.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let probe = page.with_extension("colour.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("id=\"fl-colour-by\""),
        "the control is on the page"
    );
    std::fs::write(&probe, html.replace("</body></html>", COLOUR_PROBE)).unwrap();
    let dom = browser::dump_dom(&probe).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        browser::attr(&dom, "fl-timeline", "data-nodes").as_deref(),
        Some("3")
    );
    let at =
        dom.find("<pre id=\"colour-out\">").expect("probe ran") + "<pre id=\"colour-out\">".len();
    let out: serde_json::Value =
        serde_json::from_str(&dom[at..at + dom[at..].find("</pre>").unwrap()]).unwrap();
    let pixels = |when: &str, colour: &str| out[when][colour].as_u64().unwrap_or(0);
    const OK_GREEN: &str = "#9bd89b";
    let nodes: Vec<String> = (0..3).map(node_colour).collect();
    // By outcome (the default): every op is ok, so green, and no node's colour.
    assert!(pixels("before", OK_GREEN) > 500, "{out}");
    for c in &nodes {
        assert_eq!(pixels("before", c), 0, "{c} before: {out}");
    }
    // By node: each node's colour, and no outcome green left.
    assert_eq!(out["mode"], "node");
    assert_eq!(out["legend"], true, "the legend of nodes is shown");
    assert_eq!(pixels("after", OK_GREEN), 0, "{out}");
    for c in &nodes {
        assert!(pixels("after", c) > 100, "{c} after: {out}");
    }
    screenshot(&page, "nodes");
}
