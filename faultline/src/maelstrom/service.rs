//! Maelstrom's services, run by the harness for the nodes of a run: `lin-kv`, `seq-kv`,
//! `lww-kv` (key-value stores: `read`, `write`, `cas` with `create_if_not_exists`) and
//! `lin-tso` (`ts`: a strictly increasing timestamp).
//!
//! The relays connect to one TCP listener in the clients' namespace (partitions cut only node
//! addresses, so services stay reachable, as in Maelstrom) and send whole envelopes; replies go
//! back on the same connection, `src` the service, `dest` the node.
//!
//! Every store here is linearizable, one map behind a lock. Maelstrom's `seq-kv` and `lww-kv`
//! promise less (a read may be stale), so a linearizable store is a valid implementation of
//! them, but it never shows a node the staleness Maelstrom's would: a node that is only correct
//! because `seq-kv` happened to be fresh passes here. That is a choice of simplicity, written
//! down so nobody reads a pass here as proof against stale `seq-kv` reads.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

/// The state of every service.
#[derive(Debug, Default)]
pub struct Services {
    stores: Mutex<HashMap<String, HashMap<String, Value>>>,
    tso: Mutex<u64>,
}

impl Services {
    /// Empty services.
    pub fn new() -> Arc<Services> {
        Arc::new(Services::default())
    }

    /// Answers one envelope; `None` for a message that is not a request to a service.
    pub fn answer(&self, msg: &Value) -> Option<Value> {
        let service = msg.get("dest")?.as_str()?;
        let src = msg.get("src")?.as_str()?;
        let body = msg.get("body")?.as_object()?;
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let msg_id = body.get("msg_id").cloned().unwrap_or(Value::Null);
        let reply = |mut b: Map<String, Value>| {
            b.insert("in_reply_to".into(), msg_id.clone());
            json!({"src": service, "dest": src, "body": b})
        };
        let error = |code: u32, text: String| {
            let mut b = Map::new();
            b.insert("type".into(), json!("error"));
            b.insert("code".into(), json!(code));
            b.insert("text".into(), json!(text));
            reply(b)
        };
        let ok = |kind: &str, extra: Option<(&str, Value)>| {
            let mut b = Map::new();
            b.insert("type".into(), json!(kind));
            if let Some((k, v)) = extra {
                b.insert(k.into(), v);
            }
            reply(b)
        };
        if service == "lin-tso" {
            return Some(match kind {
                "ts" => {
                    let mut t = self.tso.lock().unwrap_or_else(|p| p.into_inner());
                    *t += 1;
                    ok("ts_ok", Some(("ts", json!(*t))))
                }
                other => error(10, format!("lin-tso does not support {other:?}")),
            });
        }
        if !super::SERVICES.contains(&service) {
            return None;
        }
        let key = body.get("key").map(canonical).unwrap_or_default();
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let store = stores.entry(service.to_string()).or_default();
        Some(match kind {
            "read" => match store.get(&key) {
                Some(v) => ok("read_ok", Some(("value", v.clone()))),
                None => error(20, format!("key {key} does not exist")),
            },
            "write" => {
                let value = body.get("value").cloned().unwrap_or(Value::Null);
                store.insert(key, value);
                ok("write_ok", None)
            }
            "cas" => {
                let from = body.get("from").cloned().unwrap_or(Value::Null);
                let to = body.get("to").cloned().unwrap_or(Value::Null);
                let create = body
                    .get("create_if_not_exists")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                match store.get(&key) {
                    Some(v) if *v == from => {
                        store.insert(key, to);
                        ok("cas_ok", None)
                    }
                    Some(v) => error(22, format!("expected {from}, but had {v}")),
                    None if create => {
                        store.insert(key, to);
                        ok("cas_ok", None)
                    }
                    None => error(20, format!("key {key} does not exist")),
                }
            }
            other => error(10, format!("{service} does not support {other:?}")),
        })
    }
}

/// A key as the map key: its canonical JSON text (`1` and `"1"` are different keys).
fn canonical(key: &Value) -> String {
    key.to_string()
}

/// Serves the relays' connections on `listener` until the task is dropped.
pub async fn serve(services: Arc<Services>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or the like: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(serve_relay(Arc::clone(&services), stream));
    }
}

async fn serve_relay(services: Arc<Services>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut w = BufWriter::new(w);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(msg) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if let Some(reply) = services.answer(&msg) {
            if w.write_all(reply.to_string().as_bytes()).await.is_err()
                || w.write_all(b"\n").await.is_err()
                || w.flush().await.is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(s: &Services, dest: &str, body: Value) -> Value {
        let reply = s
            .answer(&json!({"src": "n1", "dest": dest, "body": body}))
            .unwrap();
        assert_eq!(reply["dest"], "n1");
        assert_eq!(reply["src"], dest);
        reply["body"].clone()
    }

    #[test]
    fn lin_kv_reads_writes_and_cas_as_maelstrom_does() {
        let s = Services::default();
        let r = ask(&s, "lin-kv", json!({"type": "read", "key": 1, "msg_id": 4}));
        assert_eq!(
            (r["type"].clone(), r["code"].clone()),
            (json!("error"), json!(20))
        );
        assert_eq!(r["in_reply_to"], 4);
        let r = ask(
            &s,
            "lin-kv",
            json!({"type": "cas", "key": 1, "from": 0, "to": 1, "create_if_not_exists": true, "msg_id": 5}),
        );
        assert_eq!(r["type"], "cas_ok");
        let r = ask(
            &s,
            "lin-kv",
            json!({"type": "cas", "key": 1, "from": 0, "to": 2, "msg_id": 6}),
        );
        assert_eq!(r["code"], 22);
        let r = ask(
            &s,
            "lin-kv",
            json!({"type": "write", "key": 1, "value": [1, 2], "msg_id": 7}),
        );
        assert_eq!(r["type"], "write_ok");
        let r = ask(&s, "lin-kv", json!({"type": "read", "key": 1, "msg_id": 8}));
        assert_eq!(r["value"], json!([1, 2]));
        // Each service has its own store, and "1" is not 1.
        let r = ask(&s, "seq-kv", json!({"type": "read", "key": 1, "msg_id": 9}));
        assert_eq!(r["code"], 20);
        let r = ask(
            &s,
            "lin-kv",
            json!({"type": "read", "key": "1", "msg_id": 10}),
        );
        assert_eq!(r["code"], 20);
        let r = ask(
            &s,
            "lin-kv",
            json!({"type": "cas", "key": 3, "from": 0, "to": 1, "msg_id": 11}),
        );
        assert_eq!(r["code"], 20);
        let r = ask(&s, "lww-kv", json!({"type": "frob", "msg_id": 12}));
        assert_eq!(r["code"], 10);
    }

    #[test]
    fn lin_tso_is_strictly_increasing() {
        let s = Services::default();
        let a = ask(&s, "lin-tso", json!({"type": "ts", "msg_id": 1}))["ts"]
            .as_u64()
            .unwrap();
        let b = ask(&s, "lin-tso", json!({"type": "ts", "msg_id": 2}))["ts"]
            .as_u64()
            .unwrap();
        assert!(b > a);
        assert!(s
            .answer(&json!({"src": "n1", "dest": "n2", "body": {"type": "read"}}))
            .is_none());
    }
}
