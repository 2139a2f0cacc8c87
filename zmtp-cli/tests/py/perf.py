#!/usr/bin/env python3
"""pyzmq equivalents of libzmq's perf tools, for the `zmtp perf` interop tests.

    perf.py local_lat  <bind-to>    <message-size> <roundtrip-count>
    perf.py remote_lat <connect-to> <message-size> <roundtrip-count>
    perf.py local_thr  <bind-to>    <message-size> <message-count>
    perf.py remote_thr <connect-to> <message-size> <message-count>

The measurements and output lines are those of libzmq's C tools. Additions for scripting:
the binding tools print `bound <endpoint>` on stderr (so `tcp://127.0.0.1:*` can be used),
and every receive times out after 20 s (exit 2) instead of waiting forever.
"""

import sys
import time

import zmq

TIMEOUT_MS = 20000


def fail(text):
    print(text)
    sys.exit(1)


def check(msg, size):
    if len(msg) != size:
        fail("message of incorrect size received")


def main():
    if len(sys.argv) != 5:
        fail("usage: perf.py local_lat|remote_lat|local_thr|remote_thr <endpoint> <size> <count>")
    tool, endpoint = sys.argv[1], sys.argv[2]
    size, count = int(sys.argv[3]), int(sys.argv[4])
    ctx = zmq.Context()
    kind = {"local_lat": zmq.REP, "remote_lat": zmq.REQ,
            "local_thr": zmq.PULL, "remote_thr": zmq.PUSH}[tool]
    s = ctx.socket(kind)
    s.rcvtimeo = TIMEOUT_MS
    if tool.startswith("local"):
        s.bind(endpoint)
        sys.stderr.write("bound " + s.getsockopt(zmq.LAST_ENDPOINT).decode() + "\n")
        sys.stderr.flush()
    else:
        s.connect(endpoint)

    try:
        if tool == "local_lat":
            for _ in range(count):
                msg = s.recv(copy=False)
                check(msg, size)
                s.send(msg)
        elif tool == "remote_lat":
            payload = b"\0" * size
            start = time.perf_counter()
            for _ in range(count):
                s.send(payload)
                check(s.recv(copy=False), size)
            elapsed = int((time.perf_counter() - start) * 1e6)
            latency = elapsed / (count * 2.0)
            print("message size: %d [B]" % size)
            print("roundtrip count: %d" % count)
            print("average latency: %.3f [us]" % latency)
        elif tool == "local_thr":
            check(s.recv(copy=False), size)
            start = time.perf_counter()
            for _ in range(count - 1):
                check(s.recv(copy=False), size)
            elapsed = int((time.perf_counter() - start) * 1e6) or 1
            throughput = int(count / elapsed * 1000000)
            megabits = throughput * size * 8 / 1000000
            print("message size: %d [B]" % size)
            print("message count: %d" % count)
            print("mean throughput: %d [msg/s]" % throughput)
            print("mean throughput: %.3f [Mb/s]" % megabits)
        else:
            payload = b"\0" * size
            for _ in range(count):
                s.send(payload)
    except zmq.Again:
        fail("timed out")
    # Like the C tools: closing delivers everything queued (linger -1).
    s.close()
    ctx.term()


if __name__ == "__main__":
    main()
