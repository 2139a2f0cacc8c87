#!/usr/bin/env python3
"""A real libzmq peer (through pyzmq) for tests/interop_sockets.rs (socket-level interop).

Usage: sock_peer.py SCENARIO bind            -> binds 127.0.0.1:*, prints "PORT <n>"
       sock_peer.py SCENARIO connect PORT    -> connects to 127.0.0.1:PORT

Scenarios (the Rust side plays the other end with a zmtp_proto Socket):
  rep          libzmq REP, bind: answers 5 requests with the request + "reply"
  req          libzmq REQ, connect: 5 requests [qN, ""], expects [qN, "", "ok"]
  router       libzmq ROUTER, bind: expects our DEALER's identity "rust-dealer", echoes
  dealer       libzmq DEALERs, connect: "py-dealer" and an anonymous one, 3 requests each
  subscribers  libzmq SUB (subscribes "A") and XSUB (sends \\x01A), connect: every message
               must start with "A" (XSUB does not filter locally, so this checks the
               publisher's filtering); done after 6 messages on each
  publisher    libzmq PUB, bind: publishes rounds A/B/AB every 10 ms until its subscriber
               disconnects

Prints "OK" and exits 0 on success; any failure exits non-zero with the reason on stderr.
Everything has a timeout; an alarm kills the script after 20 s whatever happens.
"""

import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

TIMEOUT_MS = 10000


def fail(why):
    sys.stderr.write("sock_peer.py: " + why + "\n")
    sys.exit(1)


def recv(sock):
    if not sock.poll(TIMEOUT_MS):
        fail("timed out waiting for a message on %s" % sock.type)
    return sock.recv_multipart()


def place(sock, mode, port):
    if mode == "bind":
        p = sock.bind_to_random_port("tcp://127.0.0.1")
        print("PORT %d" % p, flush=True)
    else:
        sock.connect("tcp://127.0.0.1:%d" % port)


def rep(ctx, mode, port):
    s = ctx.socket(zmq.REP)
    place(s, mode, port)
    for _ in range(5):
        msg = recv(s)
        s.send_multipart(msg + [b"reply"])
    # Let the last reply leave before closing.
    s.close(linger=2000)


def req(ctx, mode, port):
    s = ctx.socket(zmq.REQ)
    place(s, mode, port)
    for i in range(5):
        q = b"q%d" % i
        s.send_multipart([q, b""])
        got = recv(s)
        if got != [q, b"", b"ok"]:
            fail("req: reply %r to %r" % (got, q))
    s.close(linger=0)


def router(ctx, mode, port):
    s = ctx.socket(zmq.ROUTER)
    place(s, mode, port)
    for i in range(5):
        msg = recv(s)
        if msg[0] != b"rust-dealer":
            fail("router: identity %r" % msg[0])
        if msg[1:] != [b"hello", b"%d" % i]:
            fail("router: message %r" % msg)
        s.send_multipart([msg[0], b"echo"] + msg[1:])
    s.close(linger=2000)


def dealer(ctx, mode, port):
    named = ctx.socket(zmq.DEALER)
    named.setsockopt(zmq.ROUTING_ID, b"py-dealer")
    anonymous = ctx.socket(zmq.DEALER)
    for s in (named, anonymous):
        place(s, mode, port)
    for i in range(3):
        for s in (named, anonymous):
            s.send_multipart([b"hello", b"%d" % i])
    for s in (named, anonymous):
        for i in range(3):
            got = recv(s)
            if got != [b"world", b"%d" % i]:
                fail("dealer: got %r" % got)
    for s in (named, anonymous):
        s.close(linger=0)


def subscribers(ctx, mode, port):
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"A")
    xsub = ctx.socket(zmq.XSUB)
    for s in (sub, xsub):
        place(s, mode, port)
    xsub.send(b"\x01A")
    counts = {sub: 0, xsub: 0}
    deadline = time.time() + TIMEOUT_MS / 1000
    while min(counts.values()) < 6:
        if time.time() > deadline:
            fail("subscribers: only %r messages" % list(counts.values()))
        for s in (sub, xsub):
            while s.poll(0):
                msg = s.recv_multipart()
                if not msg[0].startswith(b"A"):
                    fail("subscribers: %s received %r" % (s.type, msg))
                counts[s] += 1
        time.sleep(0.005)
    for s in (sub, xsub):
        s.close(linger=0)


def publisher(ctx, mode, port):
    s = ctx.socket(zmq.PUB)
    mon = s.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
    place(s, mode, port)
    seen_accept = False
    deadline = time.time() + TIMEOUT_MS / 1000
    r = 0
    while True:
        if time.time() > deadline:
            fail("publisher: the subscriber never left")
        for topic in (b"A", b"B", b"AB"):
            s.send_multipart([topic, b"%d" % r])
        r += 1
        while mon.poll(0):
            ev = recv_monitor_message(mon)["event"]
            if ev == zmq.EVENT_ACCEPTED:
                seen_accept = True
            elif ev == zmq.EVENT_DISCONNECTED and seen_accept:
                mon.close()
                s.close(linger=0)
                return
        time.sleep(0.01)


SCENARIOS = {
    "rep": rep,
    "req": req,
    "router": router,
    "dealer": dealer,
    "subscribers": subscribers,
    "publisher": publisher,
}


def main():
    signal.alarm(20)
    scenario, mode = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if mode == "connect" else None
    ctx = zmq.Context()
    SCENARIOS[scenario](ctx, mode, port)
    ctx.term()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
