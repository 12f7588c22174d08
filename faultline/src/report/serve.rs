//! `faultline serve`: the store over HTTP, for looking at runs from a browser.
//!
//! `/` lists the runs (`store/<system>-<nemesis>/<timestamp>/`), newest first, with their
//! verdict, op count and links to `report.html`, `history.jsonl`, `results.json` and node logs;
//! every other path is a file or directory inside the store.
//!
//! **Only the store is served.** A request path is percent-decoded one segment at a time; an
//! encoded separator (`%2f`, `%5c`) or NUL, a `.` or `..` segment, or a backslash is refused
//! before the file system is touched; the remaining path is canonicalized (symlinks resolved) and
//! must still lie under the canonical store, so a symlink that leaves the store is refused too
//! (`store/latest`, which points inside, works). Every refusal is a plain 404, the same as a
//! missing file, so a probe learns nothing about what exists outside.
//!
//! Loopback by default (`--bind 127.0.0.1`): reports can hold anything the system under test
//! printed. Files are read whole into memory per request (a store's files are at most a few
//! hundred MB; this is a local viewer, not a file server).

use crate::store::{self, Results, RunDir};
use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use checker::Verdict;
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Most runs listed on the index page (newest first).
pub const RUNS_LISTED_MAX: usize = 2_000;

/// The canonical store directory.
#[derive(Debug)]
struct Store {
    root: PathBuf,
}

/// Builds the router for `store` (which must exist).
pub fn router(store: &Path) -> Result<Router> {
    let root = store
        .canonicalize()
        .with_context(|| format!("{}: cannot open the store", store.display()))?;
    if !root.is_dir() {
        anyhow::bail!("{}: the store is not a directory", store.display());
    }
    Ok(Router::new()
        .route("/", get(index))
        .fallback(file)
        .with_state(Arc::new(Store { root })))
}

/// Serves `store` on `listener` until the process ends.
pub async fn run(listener: tokio::net::TcpListener, store: &Path) -> Result<()> {
    let app = router(store)?;
    axum::serve(listener, app).await.context("serve")?;
    Ok(())
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file `raw_path` (a request path, still percent-encoded) names inside `root` (canonical),
/// or `None` if it does not exist or is not inside `root`.
pub fn resolve(root: &Path, raw_path: &str) -> Option<PathBuf> {
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return None;
    }
    let mut rel = PathBuf::new();
    for segment in raw_path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_decode(segment)?;
        if decoded == "." || decoded == ".." || decoded.contains(['/', '\\', '\0']) {
            return None;
        }
        rel.push(decoded);
    }
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = root.join(rel).canonicalize().ok()?;
    path.starts_with(root).then_some(path)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 not found\n").into_response()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "jsonl" | "log" | "txt" | "edn" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

async fn file(State(store): State<Arc<Store>>, uri: Uri) -> Response {
    let Some(path) = resolve(&store.root, uri.path()) else {
        return not_found();
    };
    if path.is_dir() {
        return Html(listing(&store.root, &path)).into_response();
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(_) => not_found(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `a/b c` as a URL path (each segment percent-encoded where needed).
fn href(rel: &Path) -> String {
    let mut out = String::new();
    for c in rel.components() {
        out.push('/');
        for b in c.as_os_str().to_string_lossy().bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn listing(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut s = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{0}</title><h1>/{0}</h1><ul>",
        esc(&rel.display().to_string())
    );
    for n in names {
        let _ = write!(
            s,
            "<li><a href=\"{}\">{}</a></li>",
            href(&rel.join(&n)),
            esc(&n)
        );
    }
    s.push_str("</ul><p><a href=\"/\">all runs</a></p>");
    s
}

/// One run in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// The run's directory, relative to the store.
    pub rel: PathBuf,
    /// System.
    pub system: String,
    /// Nemesis.
    pub nemesis: String,
    /// The timestamp directory's name (UTC, sortable), or `run.started`.
    pub date: String,
    /// `valid`, `invalid`, `unknown`, or `-` without results.
    pub verdict: String,
    /// Ops, if known.
    pub ops: Option<u64>,
    /// Files present among the ones linked.
    pub files: Vec<String>,
}

/// The runs of the store, newest first (at most [`RUNS_LISTED_MAX`]). Symlinks (`latest`) and
/// hidden entries are skipped; unreadable `results.json` files just lack the figures.
pub fn runs(root: &Path) -> Vec<RunRow> {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(p) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect()
    };
    let mut rows = Vec::new();
    for group in dirs(root) {
        for run in dirs(&group) {
            let dir = RunDir::open(&run);
            if !dir.history().exists() && !dir.results().exists() {
                continue;
            }
            rows.push(row(root, &group, &run));
        }
    }
    rows.sort_by(|a, b| b.date.cmp(&a.date).then(a.rel.cmp(&b.rel)));
    rows.truncate(RUNS_LISTED_MAX);
    rows
}

fn row(root: &Path, group: &Path, run: &Path) -> RunRow {
    let dir = RunDir::open(run);
    let results: Results = std::fs::read_to_string(dir.results())
        .ok()
        .and_then(|text| Results::parse(&text).ok())
        .unwrap_or_default();
    let info = results.run.clone().unwrap_or_default();
    let group_name = group
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let verdict = match results.valid {
        Some(Verdict::Valid) => "valid",
        Some(Verdict::Invalid) => "invalid",
        Some(Verdict::Unknown) => "unknown",
        None => "-",
    };
    let mut files: Vec<String> = store::LINKED
        .iter()
        .filter(|f| run.join(f).exists())
        .map(|f| f.to_string())
        .collect();
    if let Ok(rd) = std::fs::read_dir(dir.nodes()) {
        let mut logs: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| store::node_of_log_file(&n).map(store::node_log_name))
            .collect();
        logs.sort();
        files.extend(logs);
    }
    RunRow {
        rel: run.strip_prefix(root).unwrap_or(run).to_path_buf(),
        system: info.system.unwrap_or_else(|| group_name.clone()),
        nemesis: info.nemesis.unwrap_or_default(),
        date: run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .or(info.started)
            .unwrap_or_default(),
        verdict: verdict.to_string(),
        ops: results.ops_total(),
        files,
    }
}

async fn index(State(store): State<Arc<Store>>) -> Html<String> {
    let root = store.root.clone();
    let rows = tokio::task::spawn_blocking(move || runs(&root))
        .await
        .unwrap_or_default();
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>faultline runs</title><style>\
         body{{font:14px system-ui,sans-serif;margin:20px}} td,th{{padding:3px 12px 3px 0;\
         text-align:left}} .valid{{color:#1e7a1e}} .invalid{{color:#b51f1f;font-weight:600}}\
         .unknown{{color:#9a6b00}}</style></head><body><h1>faultline runs</h1><p>{} run(s) in \
         <code>{}</code></p><table id=\"runs\"><tr><th>system</th><th>nemesis</th><th>date</th>\
         <th>verdict</th><th>ops</th><th>files</th></tr>",
        rows.len(),
        esc(&store.root.display().to_string())
    );
    for r in rows {
        let links: Vec<String> = r
            .files
            .iter()
            .map(|f| format!("<a href=\"{}\">{}</a>", href(&r.rel.join(f)), esc(f)))
            .collect();
        let _ = write!(
            s,
            "<tr class=\"run\"><td>{}</td><td>{}</td><td><a href=\"{}/\">{}</a></td>\
             <td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.system),
            esc(&r.nemesis),
            href(&r.rel),
            esc(&r.date),
            esc(&r.verdict),
            esc(&r.verdict),
            r.ops.map_or("-".to_string(), |o| o.to_string()),
            links.join(" · ")
        );
    }
    s.push_str("</table></body></html>");
    Html(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_store_resolve_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/x.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        std::os::unix::fs::symlink("a", root.join("in")).unwrap();
        assert_eq!(resolve(&root, "/a/b/x.txt"), Some(root.join("a/b/x.txt")));
        assert_eq!(
            resolve(&root, "/in/b/x%2Etxt"),
            Some(root.join("a/b/x.txt"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/%2E%2E/%2e%2e/etc/passwd",
            "/a%2fb/x.txt",
            "/..%2fetc%2fpasswd",
            "/a%5cb",
            "/out/passwd",
            "/a/b/missing",
            "/a/b/x.txt%00",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }
}
