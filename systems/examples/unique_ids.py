#!/usr/bin/env python3
"""A Maelstrom unique-ids node (standard library only).

Protocol: one JSON message per line on stdin, replies on stdout, logs on stderr.

- init -> init_ok
- generate -> generate_ok {id}

Design: id = "<node id>-<boot>-<counter>", a string. The counter counts generates in this
process. A killed and restarted node starts its counter from 0 again, so the boot part tells
its lives apart without any disk: it is the wall clock in nanoseconds when the process started,
joined with the process id ("<time_ns>.<pid>"). Two lives of one node would repeat an id only
if they started in the same nanosecond with the same pid. Different nodes never clash because
the node id comes first.

Planted bug (--bug counter-only): id = the counter alone, an int. Every node counts 1, 2, 3...
so different nodes hand out the same ids (and a restarted node repeats its own).
"""

import argparse
import json
import os
import sys
import time

BOOT = f"{time.time_ns()}.{os.getpid()}"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bug", choices=["counter-only"],
                    help="planted bug: counter-only = the id is a bare per-process counter")
    args = ap.parse_args()
    counter_only = args.bug == "counter-only"

    node_id = None
    counter = 0

    def send(dest, body):
        sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            log(f"bad line: {line[:200]!r}")
            continue
        body = msg.get("body", {})
        t = body.get("type")
        out = None
        if t == "init":
            node_id = body["node_id"]
            out = {"type": "init_ok"}
            log(f"{node_id}: init, boot {BOOT}, counter_only={counter_only}")
        elif t == "generate":
            counter += 1
            out = {"type": "generate_ok", "id": counter if counter_only else f"{node_id}-{BOOT}-{counter}"}
        elif "in_reply_to" in body:
            continue
        else:
            out = {"type": "error", "code": 10, "text": f"unsupported type {t!r}"}
        if "msg_id" in body:
            out["in_reply_to"] = body["msg_id"]
        send(msg["src"], out)


if __name__ == "__main__":
    main()
