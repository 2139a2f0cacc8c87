#!/usr/bin/env python3
"""A real libzmq peer (through pyzmq) for tests/interop_libzmq.rs.

Usage: peer.py SCENARIO bind            -> binds 127.0.0.1:*, prints "PORT <n>"
       peer.py SCENARIO connect PORT    -> connects to 127.0.0.1:PORT

Scenarios (the Rust side plays the other end):
  router  libzmq ROUTER; expects our DEALER's routing id "rust-dealer"
  dealer  libzmq DEALER with routing id "py-dealer"; our side is a ROUTER
  pull    libzmq PULL; our side is a PUSH
  push    libzmq PUSH; our side is a PULL

Heartbeats are on (ZMQ_HEARTBEAT_IVL 100 ms, TIMEOUT 500 ms, TTL 1 s). Each scenario exchanges
multipart messages (with empty frames), stays idle across several heartbeat intervals, then
exchanges again. The socket monitor must show exactly one handshake and no disconnect, i.e.
our PONGs kept libzmq happy. Prints "OK" and exits 0 on success; any failure exits non-zero
with the reason on stderr. Everything has a timeout.
"""

import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

IDLE_S = 1.2
HEARTBEAT_IVL_MS = 100


def batch():
    """The messages the PUSH side sends; both ends build the same list."""
    msgs = []
    for i in range(50):
        msgs.append([b"m%d" % i, b"", bytes([i % 256]) * (i * 37 % 400)])
    msgs.append([b"big", b"x" * 70000])
    msgs.append([b""])
    return msgs


def fail(why):
    sys.stderr.write("peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def expect(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, [f[:40] for f in got], [f[:40] for f in want]))


class Monitor:
    def __init__(self, sock):
        self.mon = sock.get_monitor_socket()
        self.counts = {}

    def drain(self):
        while self.mon.poll(0):
            ev = recv_monitor_message(self.mon)
            self.counts[ev["event"]] = self.counts.get(ev["event"], 0) + 1

    def check_one_healthy_connection(self):
        # Give the monitor a moment to deliver events already emitted.
        time.sleep(0.05)
        self.drain()
        handshakes = self.counts.get(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
        disconnects = self.counts.get(zmq.EVENT_DISCONNECTED, 0)
        if handshakes != 1 or disconnects != 0:
            fail("monitor: %d handshakes, %d disconnects (want 1, 0): %r"
                 % (handshakes, disconnects, self.counts))


def main():
    signal.alarm(30)  # never outlive a stuck test
    scenario, mode = sys.argv[1], sys.argv[2]
    kind = {"router": zmq.ROUTER, "dealer": zmq.DEALER, "pull": zmq.PULL, "push": zmq.PUSH}[scenario]
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 5000)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.setsockopt(zmq.SNDTIMEO, 10000)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 500)
    sock.setsockopt(zmq.HEARTBEAT_TTL, 1000)
    if scenario == "dealer":
        sock.setsockopt(zmq.ROUTING_ID, b"py-dealer")
    monitor = Monitor(sock)

    if mode == "bind":
        sock.bind("tcp://127.0.0.1:*")
        port = sock.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1]
        print("PORT %s" % port, flush=True)
    else:
        sock.connect("tcp://127.0.0.1:%s" % sys.argv[3])

    try:
        if scenario == "router":
            msg = sock.recv_multipart()
            ident = msg[0]
            expect(ident, b"rust-dealer", "ROUTER identity of our DEALER")
            expect(msg[1:], [b"hello", b"", b"world"], "first message")
            sock.send_multipart([ident, b"ROUTER saw", ident, b"", b"reply"])
            # Our side idles across several heartbeat intervals before this one.
            msg = sock.recv_multipart()
            expect(msg, [ident, b"after-idle", b""], "message after idle")
            monitor.check_one_healthy_connection()
            sock.send_multipart([ident, b"bye", b""])
        elif scenario == "dealer":
            sock.send_multipart([b"hello", b"", b"from-py"])
            expect(sock.recv_multipart(), [b"ROUTER saw", b"py-dealer", b"", b"reply"], "reply")
            time.sleep(IDLE_S)
            sock.send_multipart([b"after-idle", b""])
            expect(sock.recv_multipart(), [b"bye", b""], "reply after idle")
            monitor.check_one_healthy_connection()
        elif scenario == "pull":
            for i, want in enumerate(batch()):
                expect(sock.recv_multipart(), want, "message %d" % i)
            expect(sock.recv_multipart(), [b"after-idle", b""], "message after idle")
            monitor.check_one_healthy_connection()
        elif scenario == "push":
            for m in batch():
                sock.send_multipart(m)
            time.sleep(IDLE_S)
            monitor.check_one_healthy_connection()
            sock.send_multipart([b"after-idle", b""])
    except zmq.Again:
        fail("timed out waiting for the Rust side (%s)" % scenario)

    sock.close()  # LINGER lets queued messages go out first
    monitor.mon.close()
    ctx.term()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
