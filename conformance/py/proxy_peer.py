#!/usr/bin/env python3
"""libzmq peers (libzmq 4.3.5 bundled with pyzmq) on both ends of our proxy, for
conformance/src/cases/proxy.rs and zmtp-cli's `zmtp proxy` tests.

Usage: proxy_peer.py SCENARIO FRONT BACK [ARGS...]; prints "OK" and exits 0 when the scenario
passed; any failure exits non-zero with the reason on stderr. Everything has a timeout.

Scenarios (FRONT and BACK are the endpoints our proxy's frontend and backend bound):
  queue FRONT BACK N          three REQ clients connect to FRONT (our ROUTER), a REP worker
                              to BACK (our DEALER); each client sends N multipart requests
                              and checks every reply
  forwarder FRONT BACK N      a PUB connects to FRONT (our XSUB), a SUB subscribed to "A" to
                              BACK (our XPUB); the subscription travels through the proxy;
                              the SUB takes N "A" messages in order and never sees a "B" one
  streamer FRONT BACK N       a PUSH connects to FRONT (our PULL), a PULL to BACK (our PUSH);
                              N messages of growing sizes and frame counts arrive in order
  steer FRONT BACK CONTROL    streamer peers plus a REQ on CONTROL (our REP): PAUSE holds
                              messages back, STATISTICS reports the eight counters, RESUME
                              lets them through, an unknown command is ignored, TERMINATE
                              gets its reply
  hwm FRONT BACK SIZE         streamer peers with high-water marks of 10: the producer sends
                              SIZE-byte messages without blocking while the consumer reads
                              nothing; it must block (prints "BLOCKED <n>"); then the
                              consumer takes all n, in order
"""

import signal
import struct
import sys
import threading
import time

import zmq

LIMIT_S = 30


def fail(why):
    sys.stderr.write("proxy_peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def socket(ctx, kind, endpoint, **options):
    sock = ctx.socket(kind)
    sock.linger = 2000
    sock.rcvtimeo = 10000
    sock.sndtimeo = 10000
    for name, value in options.items():
        setattr(sock, name, value)
    sock.connect(endpoint)
    return sock


def queue(ctx, front, back, n):
    worker = socket(ctx, zmq.REP, back)
    done = threading.Event()

    def serve():
        worker.rcvtimeo = 200
        while not done.is_set():
            try:
                request = worker.recv_multipart()
            except zmq.Again:
                continue
            worker.send_multipart([b"re:" + request[0]] + request[1:])

    server = threading.Thread(target=serve)
    server.start()
    errors = []

    def client(c):
        try:
            req = socket(ctx, zmq.REQ, front)
            for i in range(n):
                body = b"c%d-%d" % (c, i)
                req.send_multipart([body, b"", b"x" * (i % 300)])
                reply = req.recv_multipart()
                if reply != [b"re:" + body, b"", b"x" * (i % 300)]:
                    errors.append("client %d: reply %r to request %d" % (c, reply[:2], i))
                    return
            req.close()
        except zmq.ZMQError as e:
            errors.append("client %d: %s" % (c, e))

    clients = [threading.Thread(target=client, args=(c,)) for c in range(3)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    done.set()
    server.join()
    worker.close()
    if errors:
        fail("; ".join(errors))


def forwarder(ctx, front, back, n):
    pub = socket(ctx, zmq.PUB, front)
    sub = socket(ctx, zmq.SUB, back)
    sub.setsockopt(zmq.SUBSCRIBE, b"A")
    sub.rcvtimeo = 50
    # Publish until the subscription has made it through the proxy to the PUB.
    i = 0
    first = None
    deadline = time.time() + 10
    while first is None:
        if time.time() > deadline:
            fail("no message reached the SUB through the proxy")
        pub.send_multipart([b"B", b"%d" % i])
        pub.send_multipart([b"A", b"%d" % i])
        i += 1
        try:
            first = sub.recv_multipart()
        except zmq.Again:
            pass
    if first[0] != b"A":
        fail("SUB got %r" % first)
    expected = int(first[1]) + 1
    sub.rcvtimeo = 10000

    def take_until(end):
        nonlocal expected
        while expected < end:
            got = sub.recv_multipart()
            if got != [b"A", b"%d" % expected]:
                fail("SUB got %r, expected A %d" % (got, expected))
            expected += 1

    # Those published while the subscription travelled, then chunks of 100 (taken before the
    # next chunk is published: no hop reaches its high-water mark, so nothing is dropped).
    take_until(i)
    for chunk in range(i, i + n, 100):
        for j in range(chunk, chunk + 100):
            pub.send_multipart([b"B", b"%d" % j])
            pub.send_multipart([b"A", b"%d" % j])
        take_until(chunk + 100)


def streamer_peers(ctx, front, back, **options):
    return socket(ctx, zmq.PUSH, front, **options), socket(ctx, zmq.PULL, back, **options)


def message(i):
    return [b"%d" % i] + [bytes([i % 256]) * ((i * 37) % 5000)] * (i % 4)


def streamer(ctx, front, back, n):
    push, pull = streamer_peers(ctx, front, back)
    for i in range(n):
        push.send_multipart(message(i))
    for i in range(n):
        got = pull.recv_multipart()
        if got != message(i):
            fail("message %d arrived as %r" % (i, [f[:16] for f in got]))


def expect_nothing(pull, ms):
    pull.rcvtimeo = ms
    try:
        got = pull.recv_multipart()
        fail("paused proxy let %r through" % got)
    except zmq.Again:
        pass
    pull.rcvtimeo = 10000


def command(req, text):
    req.send(text)
    return req.recv_multipart()


def steer(ctx, front, back, control):
    push, pull = streamer_peers(ctx, front, back)
    req = socket(ctx, zmq.REQ, control)
    for i in range(10):
        push.send(b"m%02d" % i)
    for i in range(10):
        if pull.recv() != b"m%02d" % i:
            fail("before PAUSE: message %d" % i)
    if command(req, b"PAUSE") != [b""]:
        fail("PAUSE: a REP control socket replies with one empty frame")
    for i in range(10, 20):
        push.send(b"m%02d" % i)
    expect_nothing(pull, 500)
    stats = command(req, b"STATISTICS")
    if len(stats) != 8 or any(len(f) != 8 for f in stats):
        fail("STATISTICS: %r" % stats)
    values = [struct.unpack("=Q", f)[0] for f in stats]
    if values != [10, 30, 0, 0, 0, 0, 10, 30]:
        fail("STATISTICS while paused: %r" % values)
    if command(req, b"RESUME") != [b""]:
        fail("RESUME reply")
    for i in range(10, 20):
        if pull.recv() != b"m%02d" % i:
            fail("after RESUME: message %d" % i)
    if command(req, b"NONSENSE") != [b""]:
        fail("an unknown command gets an empty reply from a REP control socket")
    push.send(b"m20")
    if pull.recv() != b"m20":
        fail("the proxy stopped after an unknown command")
    stats = command(req, b"STATISTICS")
    values = [struct.unpack("=Q", f)[0] for f in stats]
    if values != [21, 63, 0, 0, 0, 0, 21, 63]:
        fail("STATISTICS after RESUME: %r" % values)
    if command(req, b"TERMINATE") != [b""]:
        fail("TERMINATE reply")


def hwm(ctx, front, back, size):
    push, pull = streamer_peers(ctx, front, back, sndhwm=10, rcvhwm=10)
    # A consumer that reads nothing: the proxy must stop taking from the producer, which then
    # blocks once its own queue and the kernel's buffers are full.
    body = b"h" * size
    sent = 0
    idle_since = time.time()
    while time.time() - idle_since < 1.0:
        try:
            push.send(b"%08d" % sent + body, zmq.NOBLOCK)
            sent += 1
            idle_since = time.time()
        except zmq.Again:
            time.sleep(0.01)
        if sent > 2000:
            fail("the producer never blocked: the proxy ignores the high-water marks")
    say("BLOCKED %d" % sent)
    for i in range(sent):
        got = pull.recv()
        if got[:8] != b"%08d" % i or len(got) != 8 + size:
            fail("message %d arrived as %r" % (i, got[:8]))


def main():
    signal.alarm(LIMIT_S)
    scenario, front, back = sys.argv[1:4]
    rest = sys.argv[4:]
    ctx = zmq.Context()
    if scenario == "queue":
        queue(ctx, front, back, int(rest[0]))
    elif scenario == "forwarder":
        forwarder(ctx, front, back, int(rest[0]))
    elif scenario == "streamer":
        streamer(ctx, front, back, int(rest[0]))
    elif scenario == "steer":
        steer(ctx, front, back, rest[0])
    elif scenario == "hwm":
        hwm(ctx, front, back, int(rest[0]))
    else:
        fail("unknown scenario %s" % scenario)
    say("OK")
    ctx.destroy(linger=2000)


if __name__ == "__main__":
    main()
