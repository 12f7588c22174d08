//! Wire formats: the `jsonl-tcp` client protocol and the peer frames.
//!
//! **Client protocol** (docs/design.md, "Client protocol"): one JSON object per line each way,
//! bodies shaped like Maelstrom's `lin-kv` workload:
//!
//! ```text
//! -> {"msg_id":7,"type":"read","key":"k1"}
//! <- {"in_reply_to":7,"type":"read_ok","value":5}
//! -> {"msg_id":8,"type":"write","key":"k1","value":6,"client":"c3","seq":41}
//! <- {"in_reply_to":8,"type":"write_ok"}
//! -> {"msg_id":9,"type":"cas","key":"k1","from":6,"to":7,"client":"c3","seq":42}
//! <- {"in_reply_to":9,"type":"error","code":22,"text":"expected 6, found 5"}
//! ```
//!
//! Error codes are Maelstrom's: 0 timeout, 11 not leader (with `"leader"` when known), 12
//! malformed request, 13 crash, 20 key does not exist, 22 precondition failed. A malformed line
//! gets code 12 and the connection stays open. `client`/`seq` are optional; without them a
//! retried write is not deduplicated. The core answers with typed [`Reply`]s; [`response_of`]
//! is the one place that turns them into codes and texts.
//!
//! **Peer frames**: newline-delimited JSON; the first line a peer sends is
//! `{"hello":"n2"}`, every later line is one Raft message, serialised by serde.

use crate::core::Reply;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Maelstrom error codes used by raft-node.
pub mod code {
    /// The request timed out: indefinite.
    pub const TIMEOUT: u32 = 0;
    /// Not the leader: definite; `leader` may hint where to go.
    pub const NOT_LEADER: u32 = 11;
    /// The request could not be parsed: definite.
    pub const MALFORMED: u32 = 12;
    /// The node failed while handling it: indefinite.
    pub const CRASH: u32 = 13;
    /// The key does not exist.
    pub const KEY_DOES_NOT_EXIST: u32 = 20;
    /// A cas whose `from` did not match.
    pub const PRECONDITION_FAILED: u32 = 22;
}

/// A client request, as parsed from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read a key.
    Read {
        /// The key.
        key: String,
    },
    /// Write a value.
    Write {
        /// The key.
        key: String,
        /// The value.
        value: i64,
        /// Client id for deduplication (may be empty).
        client: String,
        /// Sequence number for deduplication (0: none).
        seq: u64,
    },
    /// Compare-and-set.
    Cas {
        /// The key.
        key: String,
        /// Expected value.
        from: i64,
        /// New value.
        to: i64,
        /// Client id for deduplication (may be empty).
        client: String,
        /// Sequence number for deduplication (0: none).
        seq: u64,
    },
}

/// A reply to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The value read.
    ReadOk(i64),
    /// The write happened.
    WriteOk,
    /// The cas happened.
    CasOk,
    /// An error with a Maelstrom code.
    Error {
        /// The code (see [`code`]).
        code: u32,
        /// A human-readable reason.
        text: String,
        /// The leader, when known (code 11).
        leader: Option<String>,
    },
}

#[derive(Deserialize)]
struct RawRequest {
    msg_id: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    key: Option<String>,
    value: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
    client: Option<String>,
    seq: Option<u64>,
}

/// Parses one request line: the `msg_id` (if it could be read) and the request or the reason
/// it is malformed.
pub fn parse_request(line: &str) -> (Option<u64>, Result<Request, String>) {
    let raw: RawRequest = match serde_json::from_str(line) {
        Ok(raw) => raw,
        Err(e) => return (None, Err(format!("malformed request: {e}"))),
    };
    let missing = |f: &str| format!("malformed request: missing field `{f}`");
    let result = (|| {
        let kind = raw.kind.ok_or_else(|| missing("type"))?;
        let key = raw.key.ok_or_else(|| missing("key"))?;
        let client = raw.client.unwrap_or_default();
        let seq = raw.seq.unwrap_or(0);
        match kind.as_str() {
            "read" => Ok(Request::Read { key }),
            "write" => Ok(Request::Write {
                key,
                value: raw.value.ok_or_else(|| missing("value"))?,
                client,
                seq,
            }),
            "cas" => Ok(Request::Cas {
                key,
                from: raw.from.ok_or_else(|| missing("from"))?,
                to: raw.to.ok_or_else(|| missing("to"))?,
                client,
                seq,
            }),
            other => Err(format!(
                "malformed request: unknown type {other:?}; expected read, write or cas"
            )),
        }
    })();
    (raw.msg_id, result)
}

/// Renders a reply line (without the newline).
pub fn render_response(msg_id: Option<u64>, response: &Response) -> String {
    let body = match response {
        Response::ReadOk(v) => json!({"in_reply_to": msg_id, "type": "read_ok", "value": v}),
        Response::WriteOk => json!({"in_reply_to": msg_id, "type": "write_ok"}),
        Response::CasOk => json!({"in_reply_to": msg_id, "type": "cas_ok"}),
        Response::Error { code, text, leader } => {
            let mut body =
                json!({"in_reply_to": msg_id, "type": "error", "code": code, "text": text});
            if let Some(l) = leader {
                body["leader"] = json!(l);
            }
            body
        }
    };
    body.to_string()
}

/// The wire form of the core's answer: Maelstrom's codes, with the texts `raft-node` has
/// always sent.
pub fn response_of(reply: Reply) -> Response {
    let error = |code, text: String, leader| Response::Error { code, text, leader };
    match reply {
        Reply::ReadOk(v) => Response::ReadOk(v),
        Reply::WriteOk => Response::WriteOk,
        Reply::CasOk => Response::CasOk,
        Reply::NotLeader { leader } => error(code::NOT_LEADER, "not leader".into(), leader),
        Reply::KeyMissing => error(code::KEY_DOES_NOT_EXIST, "key does not exist".into(), None),
        Reply::PreconditionFailed { expected } => error(
            code::PRECONDITION_FAILED,
            format!("expected {expected}"),
            None,
        ),
        Reply::LeadershipLost => error(
            code::TIMEOUT,
            "leadership lost; the write may or may not apply".into(),
            None,
        ),
        Reply::EntryReplaced => error(
            code::TIMEOUT,
            "the entry was replaced by another leader's".into(),
            None,
        ),
    }
}

/// The first line on a peer connection.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// The sender's node id.
    pub hello: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_requests() {
        let (id, r) = parse_request(r#"{"msg_id":7,"type":"read","key":"k1"}"#);
        assert_eq!((id, r), (Some(7), Ok(Request::Read { key: "k1".into() })));
        let (_, r) = parse_request(
            r#"{"msg_id":8,"type":"write","key":"k1","value":6,"client":"c3","seq":41}"#,
        );
        assert_eq!(
            r,
            Ok(Request::Write {
                key: "k1".into(),
                value: 6,
                client: "c3".into(),
                seq: 41
            })
        );
        let (_, r) = parse_request(r#"{"msg_id":9,"type":"cas","key":"k1","from":6,"to":7}"#);
        assert!(matches!(r, Ok(Request::Cas { from: 6, to: 7, .. })));
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        assert!(parse_request("nope").1.unwrap_err().contains("malformed"));
        let (id, r) = parse_request(r#"{"msg_id":3,"type":"write","key":"k"}"#);
        assert_eq!(id, Some(3));
        assert!(r.unwrap_err().contains("`value`"));
        let (_, r) = parse_request(r#"{"msg_id":3,"type":"delete","key":"k"}"#);
        assert!(r.unwrap_err().contains("delete"));
    }

    #[test]
    fn renders_replies() {
        assert_eq!(
            render_response(Some(7), &Response::ReadOk(5)),
            r#"{"in_reply_to":7,"type":"read_ok","value":5}"#
        );
        let e = Response::Error {
            code: code::NOT_LEADER,
            text: "not leader".into(),
            leader: Some("n2".into()),
        };
        let line = render_response(Some(9), &e);
        assert!(line.contains(r#""code":11"#) && line.contains(r#""leader":"n2""#));
    }

    /// The lines each reply of the core becomes (as before the core's replies were typed).
    #[test]
    fn replies_keep_their_codes_and_texts() {
        let cases = [
            (
                Reply::ReadOk(5),
                r#"{"in_reply_to":1,"type":"read_ok","value":5}"#,
            ),
            (Reply::WriteOk, r#"{"in_reply_to":1,"type":"write_ok"}"#),
            (Reply::CasOk, r#"{"in_reply_to":1,"type":"cas_ok"}"#),
            (
                Reply::NotLeader {
                    leader: Some("n2".into()),
                },
                r#"{"code":11,"in_reply_to":1,"leader":"n2","text":"not leader","type":"error"}"#,
            ),
            (
                Reply::NotLeader { leader: None },
                r#"{"code":11,"in_reply_to":1,"text":"not leader","type":"error"}"#,
            ),
            (
                Reply::KeyMissing,
                r#"{"code":20,"in_reply_to":1,"text":"key does not exist","type":"error"}"#,
            ),
            (
                Reply::PreconditionFailed { expected: 6 },
                r#"{"code":22,"in_reply_to":1,"text":"expected 6","type":"error"}"#,
            ),
            (
                Reply::LeadershipLost,
                r#"{"code":0,"in_reply_to":1,"text":"leadership lost; the write may or may not apply","type":"error"}"#,
            ),
            (
                Reply::EntryReplaced,
                r#"{"code":0,"in_reply_to":1,"text":"the entry was replaced by another leader's","type":"error"}"#,
            ),
        ];
        for (reply, line) in cases {
            let got: serde_json::Value =
                serde_json::from_str(&render_response(Some(1), &response_of(reply))).unwrap();
            let want: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_line(line in ".{0,200}") {
            let _ = parse_request(&line);
        }
    }
}
