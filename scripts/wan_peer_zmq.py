#!/usr/bin/env python3
"""benches/src/bin/wan-peer.rs on libzmq (pyzmq): same options, same JSON lines.

    wan_peer_zmq.py send|recv --type push|pull|pub|sub (--bind EP | --connect EP)
        [--count N] [--interval-ms MS] [--seconds S] [--size BYTES] [--hb-ivl MS]
        [--hb-timeout MS] [--trace]
"""
import argparse
import json
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

EVENTS = {
    zmq.EVENT_ACCEPTED: "accepted",
    zmq.EVENT_CONNECTED: "connected",
    zmq.EVENT_CONNECT_RETRIED: "retried",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed",
}


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["send", "recv"])
    ap.add_argument("--type", required=True, choices=["push", "pull", "pub", "sub"])
    ap.add_argument("--bind")
    ap.add_argument("--connect")
    ap.add_argument("--count", type=int, default=1 << 62)
    ap.add_argument("--interval-ms", type=float, default=0)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--hb-ivl", type=int)
    ap.add_argument("--hb-timeout", type=int)
    ap.add_argument("--trace", action="store_true")
    a = ap.parse_args()

    ctx = zmq.Context()
    s = ctx.socket(getattr(zmq, a.type.upper()))
    if a.hb_ivl:
        s.setsockopt(zmq.HEARTBEAT_IVL, a.hb_ivl)
    if a.hb_timeout:
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, a.hb_timeout)
    s.setsockopt(zmq.LINGER, 30000)
    mon = s.get_monitor_socket()
    if a.bind:
        s.bind(a.bind)
    else:
        s.connect(a.connect)
    if a.type == "sub":
        s.setsockopt(zmq.SUBSCRIBE, b"")
    start = time.monotonic()
    end = start + a.seconds
    emit(ev="start", t=time.time())
    poller = zmq.Poller()
    poller.register(mon, zmq.POLLIN)
    poller.register(s, zmq.POLLOUT if a.role == "send" else zmq.POLLIN)

    def events():
        while mon.poll(0):
            m = recv_monitor_message(mon)
            name = EVENTS.get(m["event"])
            if name:
                emit(ev=name, t=time.time(), detail=str(m["value"]))

    seq = received = missing = disorder = 0
    expected = 0
    first = last = 0.0
    next_t = time.monotonic()
    while time.monotonic() < end and (seq if a.role == "send" else received) < a.count:
        if a.role == "send" and a.interval_ms > 0:
            wait = next_t - time.monotonic()
            while wait > 0:
                poller.poll(wait * 1000)
                events()
                wait = next_t - time.monotonic()
        ready = dict(poller.poll(max(0, min(100, (end - time.monotonic()) * 1000))))
        events()
        if s not in ready:
            continue
        if a.role == "send":
            s.send(str(seq).encode().ljust(a.size), zmq.NOBLOCK)
            seq += 1
            next_t = max(next_t + a.interval_ms / 1000, time.monotonic())
        else:
            while received < a.count:
                try:
                    body = s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                t = time.time()
                n = int(body.strip())
                if n >= expected:
                    missing += n - expected
                    expected = n + 1
                else:
                    disorder += 1
                if received == 0:
                    first = t
                last = t
                received += 1
                if a.trace:
                    emit(ev="msg", t=t, seq=n)
    events()
    s.disable_monitor()
    events()
    s.close()
    mon.close(linger=0)
    if a.role == "send":
        emit(ev="summary", t=time.time(), sent=seq, send_s=time.monotonic() - start)
    else:
        emit(ev="summary", t=time.time(), received=received, missing=missing,
             out_of_order=disorder, first_t=first, last_t=last)
    ctx.term()


if __name__ == "__main__":
    main()
