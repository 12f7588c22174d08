#!/usr/bin/env python3
"""A Maelstrom g-counter node backed by seq-kv (standard library only).

Protocol: one JSON message per line on stdin, replies on stdout, logs on stderr.

- init -> init_ok
- add {delta: int >= 0} -> add_ok
- read -> read_ok {value: int}

Design: each node owns one seq-kv key, its own node id, holding its running total. An add
raises the in-memory total and writes it to seq-kv; add_ok goes out only once a write of a total
that includes the delta is acknowledged. At most one write is in flight: adds that arrive
meanwhile are covered by the next write. If no write_ok comes within 1 s the add is answered
with error code 0 ("timeout", indefinite: the delta stays in the total and is written later).
Every second the node rewrites its current total anyway, so a total that missed seq-kv during a
fault (or was overwritten by a late, older write) is repaired.

A restarted node starts with an empty memory, so after init it first reads its own key back
from seq-kv (retrying every second); adds that arrive before that read succeeds wait, and if it
has not succeeded within 1 s they are refused with error code 11 (temporarily unavailable,
definite: the delta is not counted).

read asks seq-kv for every other node's key (a missing key counts as 0) and answers this
node's in-memory total plus the values read. If any of those reads gets no answer within 1 s,
the read is answered with error code 0 ("timeout"); last known values are never served, since
they can be older than adds already acknowledged.

Planted bug (--bug local-only): add answers add_ok at once without writing to seq-kv, and read
answers only this node's in-memory total, so reads never see the other nodes' adds.
"""

import argparse
import json
import os
import select
import sys
import time

KV = "seq-kv"
TIMEOUT = 1.0
REFRESH = 1.0


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Node:
    def __init__(self, local_only):
        self.local_only = local_only
        self.node_id = None
        self.node_ids = []
        self.total = 0
        self.recovered = False
        self.written = 0            # highest total known to be acknowledged by seq-kv
        self.write_in_flight = None  # (msg_id, total)
        self.adds = []              # [(deadline, request msg, total that covers it)]
        self.waiting = []           # adds held until recovery: [(deadline, msg)]
        self.calls = {}             # msg_id -> (deadline, callback(body or None))
        self.next_msg_id = 0
        self.next_refresh = 0.0

    # -- I/O
    def send(self, dest, body):
        sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()

    def reply(self, msg, body):
        if "msg_id" in msg["body"]:
            body["in_reply_to"] = msg["body"]["msg_id"]
        self.send(msg["src"], body)

    def call(self, dest, body, callback):
        self.next_msg_id += 1
        body["msg_id"] = self.next_msg_id
        self.calls[self.next_msg_id] = (time.monotonic() + TIMEOUT, callback)
        self.send(dest, body)
        return self.next_msg_id

    # -- recovery
    def recover(self):
        def done(body):
            if body is None:
                return  # retried by timers()
            if body.get("type") == "read_ok":
                self.total = max(self.total, int(body["value"]))
            elif not (body.get("type") == "error" and body.get("code") == 20):
                return
            self.recovered = True
            self.written = self.total
            log(f"{self.node_id}: recovered total {self.total}")
            for _, msg in self.waiting:
                self.add(msg)
            self.waiting = []
        self.recover_call = self.call(KV, {"type": "read", "key": self.node_id}, done)

    # -- writes
    def flush_write(self):
        if self.write_in_flight is not None or not self.recovered:
            return
        total = self.total
        def done(body):
            self.write_in_flight = None
            if body is not None and body.get("type") == "write_ok":
                self.written = max(self.written, total)
                still = []
                for deadline, msg, need in self.adds:
                    if need <= total:
                        self.reply(msg, {"type": "add_ok"})
                    else:
                        still.append((deadline, msg, need))
                self.adds = still
            if any(need > self.written for _, _, need in self.adds):
                self.flush_write()
        mid = self.call(KV, {"type": "write", "key": self.node_id, "value": total}, done)
        self.write_in_flight = (mid, total)

    def add(self, msg):
        delta = msg["body"].get("delta", 0)
        if not isinstance(delta, int) or delta < 0:
            self.reply(msg, {"type": "error", "code": 12, "text": "delta must be an int >= 0"})
            return
        if self.local_only:
            self.total += delta
            self.reply(msg, {"type": "add_ok"})
            return
        if not self.recovered:
            self.waiting.append((time.monotonic() + TIMEOUT, msg))
            return
        self.total += delta
        self.adds.append((time.monotonic() + TIMEOUT, msg, self.total))
        self.flush_write()

    # -- reads
    def read(self, msg):
        if self.local_only:
            self.reply(msg, {"type": "read_ok", "value": self.total})
            return
        others = [n for n in self.node_ids if n != self.node_id]
        state = {"left": len(others), "sum": self.total, "failed": False}

        def finish_one(body):
            if state["failed"]:
                return
            if body is None:
                state["failed"] = True
                self.reply(msg, {"type": "error", "code": 0, "text": "timeout reading seq-kv"})
                return
            if body.get("type") == "read_ok":
                state["sum"] += int(body["value"])
            elif not (body.get("type") == "error" and body.get("code") == 20):
                state["failed"] = True
                self.reply(msg, {"type": "error", "code": 0,
                                 "text": f"seq-kv read failed: {body.get('text')}"})
                return
            state["left"] -= 1
            if state["left"] == 0:
                self.reply(msg, {"type": "read_ok", "value": state["sum"]})

        if not others:
            self.reply(msg, {"type": "read_ok", "value": self.total})
        for n in others:
            self.call(KV, {"type": "read", "key": n}, finish_one)

    # -- dispatch
    def handle(self, msg):
        body = msg.get("body", {})
        if "in_reply_to" in body:
            entry = self.calls.pop(body["in_reply_to"], None)
            if entry:
                entry[1](body)
            return
        t = body.get("type")
        if t == "init":
            self.node_id = body["node_id"]
            self.node_ids = list(body.get("node_ids", []))
            self.reply(msg, {"type": "init_ok"})
            log(f"{self.node_id}: init, nodes {self.node_ids}, local_only={self.local_only}")
            if self.local_only:
                self.recovered = True
            else:
                self.recover()
        elif t == "add":
            self.add(msg)
        elif t == "read":
            self.read(msg)
        else:
            self.reply(msg, {"type": "error", "code": 10, "text": f"unsupported type {t!r}"})

    def timers(self):
        now = time.monotonic()
        for mid, (deadline, cb) in list(self.calls.items()):
            if now >= deadline:
                del self.calls[mid]
                cb(None)
        still = []
        for deadline, msg, need in self.adds:
            if now >= deadline:
                self.reply(msg, {"type": "error", "code": 0, "text": "timeout writing seq-kv"})
            else:
                still.append((deadline, msg, need))
        self.adds = still
        still = []
        for deadline, msg in self.waiting:
            if now >= deadline:
                self.reply(msg, {"type": "error", "code": 11,
                                 "text": "own total not yet recovered from seq-kv"})
            else:
                still.append((deadline, msg))
        self.waiting = still
        if self.node_id is None or self.local_only:
            return
        if not self.recovered and self.recover_call not in self.calls:
            self.recover()
        if self.recovered and now >= self.next_refresh:
            self.next_refresh = now + REFRESH
            if self.total > 0:
                self.flush_write()

    def next_deadline(self):
        ds = [d for d, _ in self.calls.values()]
        ds += [d for d, _, _ in self.adds] + [d for d, _ in self.waiting]
        if self.recovered and not self.local_only and self.node_id is not None:
            ds.append(self.next_refresh)
        return min(ds) if ds else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bug", choices=["local-only"],
                    help="planted bug: local-only = add_ok without seq-kv, read answers the local count")
    args = ap.parse_args()
    node = Node(local_only=args.bug == "local-only")

    buf = b""
    while True:
        d = node.next_deadline()
        timeout = None if d is None else max(0.0, d - time.monotonic())
        ready, _, _ = select.select([0], [], [], timeout)
        if ready:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    log(f"bad line: {line[:200]!r}")
                    continue
                node.handle(msg)
        node.timers()


if __name__ == "__main__":
    main()
