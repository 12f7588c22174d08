//! A trivially correct in-memory `jsonl-tcp` register: the known-good system.
//!
//! One process, one mutex-protected map: every operation is atomic at the moment the lock is
//! held, so every history it produces is linearizable. It exists (1) so that `faultline bench
//! harness` measures faultline's clients and recorder rather than a database, and (2) as a
//! known-good and a known-bad (`--bug stale-read`: reads sometimes answer an older value) system
//! for end-to-end tests of the harness that need no namespaces.

use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Most connections served at once.
const CONNECTIONS_MAX: usize = 1024;

#[derive(Debug, Deserialize)]
struct Body {
    msg_id: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    key: Option<String>,
    value: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
}

/// The bug `faultline mem-register --bug` plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bug {
    /// Every 7th read answers the previous value.
    StaleRead,
}

/// Per key: the current value and the one before it (for the planted stale read).
#[derive(Default)]
struct Cell {
    value: Option<i64>,
    previous: Option<i64>,
}

/// The register's state and its planted bug.
pub struct MemRegister {
    cells: Mutex<HashMap<String, Cell>>,
    stale_reads: bool,
    reads: std::sync::atomic::AtomicU64,
}

impl MemRegister {
    /// A register; with `stale_reads`, every 7th read answers the previous value.
    pub fn new(stale_reads: bool) -> Arc<MemRegister> {
        Arc::new(MemRegister {
            cells: Mutex::new(HashMap::new()),
            stale_reads,
            reads: Default::default(),
        })
    }

    /// Serves connections from `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let limit = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
        loop {
            let (stream, _) = listener.accept().await?;
            let permit = Arc::clone(&limit).acquire_owned().await;
            let me = Arc::clone(&self);
            tokio::spawn(async move {
                let _ = me.connection(stream).await;
                drop(permit);
            });
        }
    }

    async fn connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Some(line) = lines.next_line().await? {
            let mut reply = self.handle(&line).to_string();
            reply.push('\n');
            w.write_all(reply.as_bytes()).await?;
        }
        Ok(())
    }

    fn handle(&self, line: &str) -> serde_json::Value {
        let body: Body = match serde_json::from_str(line) {
            Ok(b) => b,
            Err(e) => return error(None, 12, &format!("malformed request: {e}")),
        };
        let id = body.msg_id;
        let Some(key) = body.key else {
            return error(id, 12, "missing field key");
        };
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        let cell = cells.entry(key).or_default();
        match (body.kind.as_str(), body.value, body.from, body.to) {
            ("read", ..) => {
                let n = self
                    .reads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let value = if self.stale_reads && n % 7 == 6 && cell.previous.is_some() {
                    cell.previous
                } else {
                    cell.value
                };
                match value {
                    Some(v) => json!({"in_reply_to": id, "type": "read_ok", "value": v}),
                    None => error(id, 20, "key does not exist"),
                }
            }
            ("write", Some(v), ..) => {
                cell.previous = cell.value.replace(v);
                json!({"in_reply_to": id, "type": "write_ok"})
            }
            ("cas", _, Some(from), Some(to)) => match cell.value {
                None => error(id, 20, "key does not exist"),
                Some(cur) if cur != from => error(id, 22, &format!("expected {from}, found {cur}")),
                Some(_) => {
                    cell.previous = cell.value.replace(to);
                    json!({"in_reply_to": id, "type": "cas_ok"})
                }
            },
            (kind, ..) => error(
                id,
                12,
                &format!("unsupported or incomplete request {kind:?}"),
            ),
        }
    }
}

fn error(id: Option<u64>, code: u32, text: &str) -> serde_json::Value {
    json!({"in_reply_to": id, "type": "error", "code": code, "text": text})
}

/// Serves the register on `listen` until the process is killed; prints the bound address.
pub fn run(listen: &str, stale_reads: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let rt = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    rt.block_on(async {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("--listen {listen}: cannot bind"))?;
        println!("{}", listener.local_addr()?);
        MemRegister::new(stale_reads).serve(listener).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_lin_kv() {
        let reg = MemRegister::new(false);
        let r = |l: &str| reg.handle(l);
        assert_eq!(r(r#"{"msg_id":1,"type":"read","key":"a"}"#)["code"], 20);
        assert_eq!(
            r(r#"{"msg_id":2,"type":"write","key":"a","value":3}"#)["type"],
            "write_ok"
        );
        assert_eq!(r(r#"{"msg_id":3,"type":"read","key":"a"}"#)["value"], 3);
        assert_eq!(
            r(r#"{"msg_id":4,"type":"cas","key":"a","from":2,"to":5}"#)["code"],
            22
        );
        assert_eq!(
            r(r#"{"msg_id":5,"type":"cas","key":"a","from":3,"to":5}"#)["type"],
            "cas_ok"
        );
        assert_eq!(
            r(r#"{"msg_id":6,"type":"read","key":"a"}"#)["in_reply_to"],
            6
        );
        assert_eq!(r("not json")["code"], 12);
    }
}
