#!/usr/bin/env python3
"""A libzmq CURVE peer (libzmq 4.3.5 bundled with pyzmq) for conformance/src/cases/curve.rs.

Usage: curve_peer.py SCENARIO [ARGS...]; prints "PORT <n>" and "KEY <z85 public key>" when it
binds, "OK" and exit 0 when the scenario passed; any failure exits non-zero with the reason on
stderr. Everything has a timeout (SIGALRM).

Scenarios (our socket plays the other end):
  pipe-server N          DEALER, CURVE server, binds: receives N numbered messages and a
                         16 MiB one, sends the same back
  pipe-client N PORT KEY DEALER, CURVE client of our server at PORT with public key KEY: the
                         same exchange
  ping-server            DEALER, CURVE server with heartbeats, binds: idles past its heartbeat
                         timeout PINGing our client, which sends nothing but PONGs; must not
                         drop it
  ping-client PORT KEY   DEALER, CURVE client without heartbeats: idles while our server
                         PINGs it; its PONGs must keep our server from dropping it
  sub PORT KEY           SUB, CURVE client: subscribes to "A", takes 1000 "A" messages and
                         checks it never sees a "B" one
  pub                    PUB, CURVE server, binds: publishes "A<i>" and "B<i>" until killed
  refused PORT KEY       DEALER, CURVE client whose key our server does not allow: waits for
                         libzmq's EVENT_HANDSHAKE_FAILED_AUTH with status 400
  zap-refuses            DEALER, CURVE server whose ZAP handler refuses every client, binds:
                         waits for EVENT_HANDSHAKE_FAILED_AUTH
"""

import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

BIG = 16 << 20
# Idle longer than the heartbeat timeout: a peer that stopped answering PINGs is dropped.
HEARTBEAT_TIMEOUT_MS = 1500
IDLE_S = 2.5


def fail(why):
    sys.stderr.write("curve_peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def big_body():
    return bytes(range(256)) * (BIG // 256)


def server_socket(ctx, kind):
    public, secret = zmq.curve_keypair()
    sock = ctx.socket(kind)
    sock.curve_server = True
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    return sock, public


def client_socket(ctx, kind, server_key):
    public, secret = zmq.curve_keypair()
    sock = ctx.socket(kind)
    sock.curve_serverkey = server_key.encode()
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    return sock


def heartbeats(sock):
    sock.setsockopt(zmq.HEARTBEAT_IVL, 100)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)


def monitor_events(mon, until_s, stop=lambda e: False):
    """Monitor events seen until `until_s` (monotonic) or until one for which `stop` is true."""
    events = []
    while time.monotonic() < until_s:
        if mon.poll(50):
            events.append(recv_monitor_message(mon))
            if stop(events[-1]):
                break
    return events


def auth_failed(e):
    return e["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH


def recv(sock, mon):
    """The next message; on a timeout, fails with what the monitor saw."""
    try:
        return sock.recv()
    except zmq.Again:
        fail("timed out; monitor: %r" % monitor_events(mon, time.monotonic() + 0.1))


def pipe(sock, n):
    mon = sock.get_monitor_socket()
    big = big_body()
    for i in range(n):
        got = recv(sock, mon)
        if got != b"%d" % i:
            fail("message %d: got %r" % (i, got[:40]))
    got = recv(sock, mon)
    if got != big:
        fail("16 MiB message: got %d bytes" % len(got))
    for i in range(n):
        sock.send(b"%d" % i)
    sock.send(big)
    if recv(sock, mon) != b"bye":
        fail("no bye")
    say("OK")


def idle(sock):
    """Hellos both ways, then idles past the heartbeat timeout: must still be connected."""
    mon = sock.get_monitor_socket()
    sock.setsockopt(zmq.RCVTIMEO, 20000)
    sock.send(b"hello")
    if recv(sock, mon) != b"hello":
        fail("no hello")
    # PING/PONG travel inside MESSAGE (COMMAND flag); nothing else moves while idle.
    events = monitor_events(mon, time.monotonic() + IDLE_S)
    if any(e["event"] == zmq.EVENT_DISCONNECTED for e in events):
        fail("disconnected while idle: %r" % events)
    sock.send(b"still here")
    if recv(sock, mon) != b"bye":
        fail("no bye")
    say("OK")


def main():
    signal.alarm(60)
    scenario = sys.argv[1]
    ctx = zmq.Context()
    if scenario == "pipe-server":
        sock, public = server_socket(ctx, zmq.DEALER)
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        say("PORT %d" % port)
        say("KEY %s" % public.decode())
        pipe(sock, int(sys.argv[2]))
    elif scenario == "pipe-client":
        sock = client_socket(ctx, zmq.DEALER, sys.argv[4])
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        sock.connect("tcp://127.0.0.1:%s" % sys.argv[3])
        pipe(sock, int(sys.argv[2]))
    elif scenario == "ping-server":
        # libzmq PINGs; our client sends none, so only its PONGs keep libzmq from dropping it.
        sock, public = server_socket(ctx, zmq.DEALER)
        heartbeats(sock)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        say("PORT %d" % port)
        say("KEY %s" % public.decode())
        idle(sock)
    elif scenario == "ping-client":
        # No heartbeats of its own: our server PINGs, so only libzmq's PONGs keep it.
        sock = client_socket(ctx, zmq.DEALER, sys.argv[3])
        sock.connect("tcp://127.0.0.1:%s" % sys.argv[2])
        idle(sock)
    elif scenario == "sub":
        sock = client_socket(ctx, zmq.SUB, sys.argv[3])
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        sock.setsockopt(zmq.SUBSCRIBE, b"A")
        sock.connect("tcp://127.0.0.1:%s" % sys.argv[2])
        for _ in range(1000):
            got = sock.recv()
            if not got.startswith(b"A"):
                fail("unsubscribed message %r" % got[:40])
        say("OK")
    elif scenario == "pub":
        sock, public = server_socket(ctx, zmq.PUB)
        heartbeats(sock)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        say("PORT %d" % port)
        say("KEY %s" % public.decode())
        i = 0
        while True:
            sock.send(b"A%d" % i)
            sock.send(b"B%d" % i)
            i += 1
            if i % 100 == 0:
                time.sleep(0.001)
    elif scenario == "refused":
        sock = client_socket(ctx, zmq.DEALER, sys.argv[3])
        mon = sock.get_monitor_socket()
        sock.connect("tcp://127.0.0.1:%s" % sys.argv[2])
        events = monitor_events(mon, time.monotonic() + 10, auth_failed)
        for e in events:
            if e["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and e["value"] == 400:
                say("OK")
                return
            if e["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                fail("a refused client got in")
        fail("no EVENT_HANDSHAKE_FAILED_AUTH 400: %r" % events)
    elif scenario == "zap-refuses":
        from zmq.auth.thread import ThreadAuthenticator

        class Nobody:
            def callback(self, domain, key):
                return False

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve_callback(domain="*", credentials_provider=Nobody())
        sock, public = server_socket(ctx, zmq.DEALER)
        mon = sock.get_monitor_socket()
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        say("PORT %d" % port)
        say("KEY %s" % public.decode())
        events = monitor_events(mon, time.monotonic() + 10, auth_failed)
        auth.stop()
        if not any(e["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH for e in events):
            fail("no EVENT_HANDSHAKE_FAILED_AUTH: %r" % events)
        if any(e["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED for e in events):
            fail("a refused client got in")
        say("OK")
    else:
        fail("unknown scenario %r" % scenario)


if __name__ == "__main__":
    main()
