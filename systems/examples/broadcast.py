#!/usr/bin/env python3
"""A Maelstrom broadcast node (standard library only).

Protocol: one JSON message per line on stdin, replies on stdout, logs on stderr.

- init -> init_ok
- topology {topology: {node: [neighbours]}} -> topology_ok; the node gossips to the
  neighbours listed for itself (before any topology arrives: to every other node).
- broadcast {message: int} -> broadcast_ok, sent as soon as the value is stored.
- read -> read_ok {messages: [every value seen, any order]}

Gossip: a value new to this node is queued for every neighbour except the one it came from.
Every 200 ms the node sends each neighbour one "gossip" message carrying all values queued for
it; the neighbour answers "gossip_ok" naming the values it got, and only those leave the queue.
Unacknowledged values are therefore sent again on every tick until a partition heals. Every
second the node also sends a full-set "gossip" to one neighbour in turn (anti-entropy), so values
that reached a node by some path still spread if a queue was lost to a restart.

Planted bug (--no-retry): each queued value is sent once, on the next tick, and then dropped
from the queue whatever happens; acks are ignored and there is no anti-entropy. A value sent
across a partition is lost for every node on the far side, so final reads miss it.
"""

import argparse
import json
import os
import select
import sys
import time

TICK = 0.2
ANTI_ENTROPY = 1.0


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Node:
    def __init__(self, retry):
        self.retry = retry
        self.node_id = None
        self.node_ids = []
        self.neighbours = None
        self.messages = set()
        self.pending = {}  # neighbour -> set of values not yet acknowledged by it
        self.next_msg_id = 0
        self.ae_index = 0

    def send(self, dest, body):
        line = json.dumps({"src": self.node_id, "dest": dest, "body": body})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def reply(self, msg, body):
        req = msg["body"]
        if "msg_id" in req:
            body["in_reply_to"] = req["msg_id"]
        self.send(msg["src"], body)

    def msg_id(self):
        self.next_msg_id += 1
        return self.next_msg_id

    def peers(self):
        if self.neighbours is not None:
            return self.neighbours
        return [n for n in self.node_ids if n != self.node_id]

    def store(self, values, came_from):
        for v in values:
            if v in self.messages:
                continue
            self.messages.add(v)
            for nb in self.peers():
                if nb != came_from:
                    self.pending.setdefault(nb, set()).add(v)

    def handle(self, msg):
        body = msg.get("body", {})
        t = body.get("type")
        if t == "init":
            self.node_id = body["node_id"]
            self.node_ids = list(body.get("node_ids", []))
            self.reply(msg, {"type": "init_ok"})
            log(f"{self.node_id}: init, nodes {self.node_ids}, retry={self.retry}")
        elif t == "topology":
            topo = body.get("topology", {})
            self.neighbours = [n for n in topo.get(self.node_id, []) if n != self.node_id]
            self.reply(msg, {"type": "topology_ok"})
            log(f"{self.node_id}: neighbours {self.neighbours}")
        elif t == "broadcast":
            self.store([body["message"]], msg["src"])
            self.reply(msg, {"type": "broadcast_ok"})
        elif t == "read":
            self.reply(msg, {"type": "read_ok", "messages": sorted(self.messages)})
        elif t == "gossip":
            values = body.get("messages", [])
            self.store(values, msg["src"])
            self.reply(msg, {"type": "gossip_ok", "messages": values})
        elif t == "gossip_ok":
            if self.retry:
                queued = self.pending.get(msg["src"])
                if queued:
                    queued.difference_update(body.get("messages", []))
        elif t == "error" or "in_reply_to" in body:
            pass
        else:
            self.reply(msg, {"type": "error", "code": 10, "text": f"unsupported type {t!r}"})

    def tick(self):
        for nb, queued in self.pending.items():
            if not queued:
                continue
            self.send(nb, {"type": "gossip", "msg_id": self.msg_id(), "messages": sorted(queued)})
            if not self.retry:
                queued.clear()

    def anti_entropy(self):
        peers = self.peers()
        if not self.retry or not peers or not self.messages:
            return
        nb = peers[self.ae_index % len(peers)]
        self.ae_index += 1
        self.send(nb, {"type": "gossip", "msg_id": self.msg_id(), "messages": sorted(self.messages)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-retry", action="store_true",
                    help="planted bug: send each gossip once and never resend it")
    args = ap.parse_args()
    node = Node(retry=not args.no_retry)

    buf = b""
    now = time.monotonic()
    next_tick = now + TICK
    next_ae = now + ANTI_ENTROPY
    while True:
        timeout = max(0.0, min(next_tick, next_ae) - time.monotonic())
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
        now = time.monotonic()
        if node.node_id is None:
            next_tick, next_ae = now + TICK, now + ANTI_ENTROPY
            continue
        if now >= next_tick:
            node.tick()
            next_tick = now + TICK
        if now >= next_ae:
            node.anti_entropy()
            next_ae = now + ANTI_ENTROPY


if __name__ == "__main__":
    main()
