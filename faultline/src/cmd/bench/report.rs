//! `faultline bench report`: page size and render times of run-shaped histories, and (with
//! Chromium) the time until the page is drawn.

use crate::cmd::output;
use anyhow::{Context, Result};
use faultline::exit::ExitCode;
use faultline::report::{self, browser, ReportInput};
use std::time::Instant;

/// `faultline bench report`: page size and render times of run-shaped histories.
pub fn run(ops: &[usize], with_browser: bool, out: Option<&std::path::Path>) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("create a temporary directory")?;
    let dir = out.unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    for &n in ops {
        let started = Instant::now();
        let history = report::sample::run_shaped(n);
        let generated = started.elapsed();
        let opts = checker::Options {
            time_limit: Some(std::time::Duration::from_secs(10)),
            ..checker::Options::default()
        };
        let check = checker::check(&history, &opts);
        let rendering = Instant::now();
        let page = report::render(&ReportInput {
            history: &history,
            check: &check,
            election: None,
            leaders: &[],
            results: None,
            title: format!("bench report: {n} ops"),
            command: Some(format!("faultline bench report --ops {n}")),
        });
        let render_ms = rendering.elapsed().as_secs_f64() * 1e3;
        let path = dir.join(format!("report-{n}.html"));
        std::fs::write(&path, &page).with_context(|| format!("write {}", path.display()))?;
        let mut line = format!(
            "{n} ops: page {:.2} MB, generated in {:.0} ms, checked ({}) , rendered in {render_ms:.0} ms",
            page.len() as f64 / 1e6,
            generated.as_secs_f64() * 1e3,
            check.verdict.as_str()
        );
        if with_browser {
            let opened = Instant::now();
            let dom = browser::dump_dom(&path)?;
            let wall_ms = opened.elapsed().as_secs_f64() * 1e3;
            let ready = browser::attr(&dom, "fl-timeline", "data-ready-ms")
                .unwrap_or_else(|| "? (script did not finish)".into());
            let decode = browser::attr(&dom, "fl-timeline", "data-decode-ms").unwrap_or_default();
            line.push_str(&format!(
                "; Chromium: drawn {ready} ms after navigation start (decode+draw {decode} ms), \
                 whole headless run {wall_ms:.0} ms"
            ));
        }
        output::print(&format!("{line}\n"))?;
    }
    Ok(ExitCode::Valid)
}
