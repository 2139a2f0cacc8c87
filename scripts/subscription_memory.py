#!/usr/bin/env python3
"""Memory a publisher spends on subscriptions: ours (both drivers) next to libzmq, one run.

A raw ZMTP 3.1 subscriber (this script, over a plain TCP socket) sends N distinct random
32-byte SUBSCRIBE commands to a PUB socket in another process, and the publisher's resident
set size (VmRSS) is read before and after, once it has stopped growing. The publishers:

  ours-tokio, ours-compio   `zmtp cat pub --bind ...` (target/release/zmtp; build it first
                            with `cargo build --release -p zmtp-cli`)
  libzmq                    a pyzmq PUB (libzmq 4.3.5, bundled with pyzmq)

Usage: scripts/subscription_memory.py [N] [--json FILE] [--only NAME[,NAME]]
(N defaults to 1,000,000; NAME is ours-tokio, ours-compio or libzmq)
Prints one line per publisher: bytes per subscription, and the RSS growth in MB.
"""

import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZMTP = os.path.join(ROOT, "target", "release", "zmtp")
TOPIC_LEN = 32

LIBZMQ_PUB = r"""
import sys, time, zmq
ctx = zmq.Context()
pub = ctx.socket(zmq.PUB)
port = pub.bind_to_random_port("tcp://127.0.0.1")
print("bound tcp://127.0.0.1:%d" % port, file=sys.stderr, flush=True)
# libzmq processes subscriptions on the socket's own thread, when the application calls it:
# keep calling, or its I/O thread stops reading at the high-water mark.
while True:
    pub.getsockopt(zmq.EVENTS)
    time.sleep(0.001)
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settled_rss(pid, quiet_s=1.5, limit_s=300):
    """RSS once it has not grown for `quiet_s` seconds."""
    last, since, start = rss_kib(pid), time.monotonic(), time.monotonic()
    while time.monotonic() - start < limit_s:
        time.sleep(0.1)
        now = rss_kib(pid)
        if now > last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return last
    return last


def command(name, data):
    body = bytes([len(name)]) + name + data
    if len(body) <= 255:
        return bytes([0x04, len(body)]) + body
    return bytes([0x06]) + struct.pack(">Q", len(body)) + body


def subscriber(port, n, seed=1):
    greeting = b"\xff" + b"\0" * 8 + b"\x7f" + bytes([3, 1]) + b"NULL".ljust(20, b"\0")
    greeting += b"\0" + b"\0" * 31
    meta = bytes([11]) + b"Socket-Type" + struct.pack(">I", 3) + b"SUB"
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(greeting + command(b"READY", meta))
    rng = random.Random(seed)
    batch = []
    for i in range(n):
        batch.append(command(b"SUBSCRIBE", rng.randbytes(TOPIC_LEN)))
        if len(batch) == 10000:
            s.sendall(b"".join(batch))
            batch = []
    s.sendall(b"".join(batch))
    return s


def start(name):
    if name == "libzmq":
        proc = subprocess.Popen([sys.executable, "-c", LIBZMQ_PUB],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        driver = name.split("-")[1]
        proc = subprocess.Popen([ZMTP, "cat", "pub", "--bind", "tcp://127.0.0.1:*",
                                 "--driver", driver],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()
    if not line.startswith("bound "):
        raise RuntimeError("%s: %r" % (name, line))
    return proc, int(line.rsplit(":", 1)[1])


def measure(name, n):
    proc, port = start(name)
    try:
        time.sleep(0.5)
        before = settled_rss(proc.pid, quiet_s=0.5)
        started = time.monotonic()
        conn = subscriber(port, n)
        sent = time.monotonic() - started
        after = settled_rss(proc.pid, limit_s=1800)
        conn.close()
        return {"publisher": name, "subscriptions": n, "send_seconds": round(sent, 1),
                "rss_before_kib": before,
                "rss_after_kib": after,
                "bytes_per_subscription": (after - before) * 1024 / n}
    finally:
        proc.kill()
        proc.wait()


def main():
    args = sys.argv[1:]
    out = None
    if "--json" in args:
        i = args.index("--json")
        out = args[i + 1]
        del args[i:i + 2]
    names = ["ours-tokio", "ours-compio", "libzmq"]
    if "--only" in args:
        i = args.index("--only")
        names = args[i + 1].split(",")
        del args[i:i + 2]
    n = int(args[0]) if args else 1_000_000
    rows = []
    for name in names:
        row = measure(name, n)
        rows.append(row)
        print("%-12s %9d subscriptions: %7.0f bytes each (RSS %.0f -> %.0f MB; sent in %.0f s)"
              % (name, n, row["bytes_per_subscription"], row["rss_before_kib"] / 1024,
                 row["rss_after_kib"] / 1024, row["send_seconds"]), flush=True)
    if out:
        with open(out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
