#!/usr/bin/env python3
"""A primary/backup register with a split brain, for testing faultline's power to find one.

Standard library only. Speaks faultline's `jsonl-tcp` client protocol (Maelstrom lin-kv
bodies, one JSON object per line) on --client, and talks to its peers by UDP datagrams on
--listen.

How it works, and how it is wrong:
- The primary answers reads from its own state, and acknowledges a write or cas as soon as it
  has applied it locally; it then sends the write to the backups (asynchronous replication)
  and, every 100 ms, a heartbeat carrying its epoch, its whole state and how many writes it
  has applied.
- A backup answers every client request with error 11 ("not the primary") and a hint naming
  the primary it follows. A backup that hears no heartbeat for --takeover-ms (plus 200 ms per
  rank, so that n2 tries before n3) declares itself primary of the next epoch.
- Nothing asks a majority: a primary cut off from every other node keeps serving, while the
  nodes on the other side of the partition elect their own. When two primaries hear each
  other again, the one that applied more writes stays (and takes a higher epoch, so that the
  backups follow it) and the other steps down and takes its state: the writes the loser
  acknowledged while they were apart are lost.
Clients that stay with the node that answers them never see this: while the old primary is cut
off they all stay with it and nobody writes to the new one, which then loses the reunion with
nothing to lose. Clients spread over the nodes write on both sides, and their reads disagree
with writes acknowledged on the other side: the history is not linearizable.

It prints `{"node": ..., "event": "leader", "term": epoch}` when it becomes primary
(`json.dumps` order: "event" is not the first key).
"""

import argparse
import json
import socket
import socketserver
import sys
import threading
import time

HEARTBEAT_S = 0.1


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


class Node:
    def __init__(self, me, peers, takeover_ms, events):
        self.me = me
        self.peers = peers  # id -> (host, port)
        ids = sorted(peers, key=lambda n: int(n[1:]) if n[1:].isdigit() else n)
        self.rank = ids.index(me)
        self.lock = threading.Lock()
        self.state = {}
        self.writes = 0  # writes applied, the primary's claim at a reunion
        self.epoch = 1
        self.primary = ids[0]
        self.last_heard = time.monotonic()
        self.takeover_s = takeover_ms / 1000.0 + 0.2 * self.rank
        self.applied = {}  # client -> (seq, reply): a retried write is applied once
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.events = events
        if self.primary == me:
            self.announce()

    def announce(self):
        if not self.events:
            log(f"{self.me}: primary of epoch {self.epoch}")
            return
        print(json.dumps({"node": self.me, "event": "leader", "term": self.epoch}), flush=True)

    def send_all(self, msg):
        data = json.dumps(msg).encode()
        for peer, addr in self.peers.items():
            if peer != self.me:
                try:
                    self.sock.sendto(data, addr)
                except OSError:
                    pass  # unreachable during a partition: the message is lost

    def heartbeat(self):
        return {"t": "hb", "epoch": self.epoch, "from": self.me, "state": self.state,
                "writes": self.writes}

    def heartbeat_loop(self):
        while True:
            time.sleep(HEARTBEAT_S)
            with self.lock:
                now = time.monotonic()
                if self.primary == self.me:
                    msg = self.heartbeat()
                elif now - self.last_heard > self.takeover_s:
                    self.epoch += 1
                    self.primary = self.me
                    log(f"{self.me}: no heartbeat for {self.takeover_s:.1f} s, primary of epoch {self.epoch}")
                    self.announce()
                    msg = self.heartbeat()
                else:
                    msg = None
            if msg is not None:
                self.send_all(msg)

    def peer_loop(self):
        while True:
            data, _ = self.sock.recvfrom(1 << 20)
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            with self.lock:
                self.on_peer(msg)

    def on_peer(self, msg):
        epoch, sender = msg.get("epoch", 0), msg.get("from")
        if self.primary == self.me and sender != self.me:
            if msg["t"] != "hb":
                return  # another primary's write: its heartbeat decides who stays
            # Two primaries meet: the one that applied more writes stays.
            if (msg["writes"], -self.rank) <= (self.writes, -self.rank_of(sender)):
                if epoch >= self.epoch:
                    self.epoch = epoch + 1
                    log(f"{self.me}: {sender} also leads; staying primary as epoch {self.epoch}")
                    self.announce()
                return
            log(f"{self.me}: {sender} leads with more writes; stepping down")
        elif not (epoch > self.epoch or (epoch == self.epoch and sender == self.primary)):
            return  # a deposed primary's heartbeat or write: ignored
        self.epoch, self.primary = epoch, sender
        self.last_heard = time.monotonic()
        if msg["t"] == "hb":
            self.state = dict(msg["state"])
            self.writes = msg["writes"]
        elif msg["t"] == "w":
            self.state[msg["key"]] = msg["value"]
            self.writes += 1

    def rank_of(self, node):
        ids = sorted(self.peers, key=lambda n: int(n[1:]) if n[1:].isdigit() else n)
        return ids.index(node) if node in ids else len(ids)

    def on_client(self, req):
        kind = req.get("type")
        with self.lock:
            if self.primary != self.me:
                return {"type": "error", "code": 11, "text": "not the primary", "leader": self.primary}
            key = req.get("key")
            if kind == "read":
                if key not in self.state:
                    return {"type": "error", "code": 20, "text": "no such key"}
                return {"type": "read_ok", "value": self.state[key]}
            client, seq = req.get("client"), req.get("seq")
            done = self.applied.get(client)
            if client is not None and done is not None and done[0] == seq:
                return done[1]
            if kind == "write":
                self.state[key] = req["value"]
                reply = {"type": "write_ok"}
            elif kind == "cas":
                if key not in self.state:
                    return {"type": "error", "code": 20, "text": "no such key"}
                if self.state[key] != req["from"]:
                    return {"type": "error", "code": 22, "text": f"expected {req['from']}, found {self.state[key]}"}
                self.state[key] = req["to"]
                reply = {"type": "cas_ok"}
            else:
                return {"type": "error", "code": 10, "text": f"unsupported {kind!r}"}
            self.writes += 1
            if client is not None:
                self.applied[client] = (seq, reply)
            repl = {"t": "w", "epoch": self.epoch, "from": self.me, "key": key, "value": self.state[key]}
        self.send_all(repl)  # acknowledged before any backup has it
        return reply


def serve(node, host, port):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                try:
                    req = json.loads(line)
                except ValueError:
                    reply = {"type": "error", "code": 12, "text": "malformed request"}
                    req = {}
                else:
                    reply = node.on_client(req)
                if "msg_id" in req:
                    reply["in_reply_to"] = req["msg_id"]
                self.wfile.write((json.dumps(reply) + "\n").encode())
                self.wfile.flush()

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer((host, port), Handler) as server:
        server.serve_forever()


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--id", required=True)
    p.add_argument("--peers", required=True, help="n1=ip:port,n2=ip:port,...")
    p.add_argument("--listen", required=True, type=addr, help="UDP address for peers")
    p.add_argument("--client", required=True, type=addr, help="TCP address for clients")
    p.add_argument("--takeover-ms", type=int, default=1000)
    p.add_argument("--no-events", action="store_true", help="print no leader events")
    a = p.parse_args()
    peers = {}
    for item in a.peers.split(","):
        name, at = item.split("=", 1)
        peers[name] = addr(at)
    node = Node(a.id, peers, a.takeover_ms, events=not a.no_events)
    node.sock.bind(a.listen)
    threading.Thread(target=node.peer_loop, daemon=True).start()
    threading.Thread(target=node.heartbeat_loop, daemon=True).start()
    log(f"{a.id}: serving clients on {a.client[0]}:{a.client[1]}, primary {node.primary}")
    serve(node, *a.client)


if __name__ == "__main__":
    main()
