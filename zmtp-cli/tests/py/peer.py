#!/usr/bin/env python3
"""A pyzmq (libzmq) peer for the zmtp CLI interop tests.

Messages are written as lines of TAB-separated lower-case hex frames, on the command line
(--send) and on stdout (every received message). Stdout protocol, one line each, flushed:

    ready <endpoint>        after binding or connecting (the resolved endpoint when binding)
    <hex>\t<hex>...         each received message
    done                    when everything asked for is done

Every receive has a timeout, so the script never hangs; it exits 2 on a timeout.
"""

import argparse
import sys
import time

import zmq


def to_frames(line):
    return [bytes.fromhex(field) for field in line.split("\t")]


def to_line(frames):
    return "\t".join(frame.hex() for frame in frames)


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("type", help="socket type, e.g. PULL")
    p.add_argument("--bind")
    p.add_argument("--connect")
    p.add_argument("--identity", help="routing id, hex")
    p.add_argument("--subscribe", action="append", default=[], help="prefix, hex")
    p.add_argument("--send", action="append", default=[], help="message to send, hex frames")
    p.add_argument("--send-every", type=float, default=0.0,
                   help="resend the --send messages every this many seconds until --recv is done"
                   " (PUB: until --timeout)")
    p.add_argument("--recv", type=int, default=0, help="messages to receive and print")
    p.add_argument("--echo", type=int, default=0, help="messages to receive, print and send back")
    p.add_argument("--delay", type=float, default=0.0, help="seconds to wait before sending")
    p.add_argument("--heartbeat-ivl", type=int, default=0)
    p.add_argument("--zap-deny", action="store_true",
                   help="run a ZAP handler that refuses every client (NULL mechanism)")
    p.add_argument("--curve-server", action="store_true", help="CURVE server (ZMQ_CURVE_SERVER)")
    p.add_argument("--curve-secretkey", help="our CURVE secret key, Z85")
    p.add_argument("--curve-publickey", help="our CURVE public key, Z85")
    p.add_argument("--curve-serverkey", help="CURVE client: the server's public key, Z85")
    p.add_argument("--curve-allow", action="append", default=[],
                   help="CURVE server: run a ZAP handler that lets in only this client key (Z85);"
                   " repeatable")
    p.add_argument("--timeout", type=int, default=10000, help="receive timeout in ms")
    p.add_argument("--hold", type=float, default=0.0, help="seconds to stay up before exiting")
    a = p.parse_args()

    ctx = zmq.Context()
    auth = None
    if a.zap_deny or a.curve_allow:
        from zmq.auth.thread import ThreadAuthenticator

        auth = ThreadAuthenticator(ctx)
        auth.start()
    if a.zap_deny:
        auth.deny("127.0.0.1")
    if a.curve_allow:
        allowed = {key.encode() for key in a.curve_allow}

        class AllowList:
            def callback(self, domain, key):
                return key in allowed

        auth.configure_curve_callback("global", credentials_provider=AllowList())
    s = ctx.socket(getattr(zmq, a.type.upper()))
    s.linger = 1000
    s.rcvtimeo = a.timeout
    if a.zap_deny or a.curve_allow:
        s.zap_domain = b"global"
    if a.curve_server:
        s.curve_server = True
    if a.curve_secretkey:
        s.curve_secretkey = a.curve_secretkey.encode()
    if a.curve_publickey:
        s.curve_publickey = a.curve_publickey.encode()
    if a.curve_serverkey:
        s.curve_serverkey = a.curve_serverkey.encode()
    if a.identity is not None:
        s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(a.identity))
    for prefix in a.subscribe:
        s.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(prefix))
    if a.heartbeat_ivl:
        s.setsockopt(zmq.HEARTBEAT_IVL, a.heartbeat_ivl)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, a.heartbeat_ivl * 3)
    if a.bind:
        s.bind(a.bind)
        say("ready " + s.getsockopt(zmq.LAST_ENDPOINT).decode())
    else:
        s.connect(a.connect)
        say("ready " + a.connect)

    if a.delay:
        time.sleep(a.delay)
    try:
        if a.send_every:
            # Keep publishing until the subscriber has what it needs (slow joiners).
            poller = zmq.Poller()
            poller.register(s, zmq.POLLIN)
            deadline = time.monotonic() + a.timeout / 1000
            got = 0
            while s.type == zmq.PUB and time.monotonic() < deadline:
                # A publisher cannot tell when subscribers are done: the test stops it.
                for line in a.send:
                    s.send_multipart(to_frames(line))
                time.sleep(a.send_every)
            while got < a.recv:
                if time.monotonic() > deadline:
                    raise zmq.Again()
                for line in a.send:
                    s.send_multipart(to_frames(line))
                if dict(poller.poll(a.send_every * 1000)).get(s):
                    say(to_line(s.recv_multipart()))
                    got += 1
        else:
            for line in a.send:
                s.send_multipart(to_frames(line))
            for _ in range(a.recv):
                say(to_line(s.recv_multipart()))
        for _ in range(a.echo):
            frames = s.recv_multipart()
            say(to_line(frames))
            s.send_multipart(frames)
    except zmq.Again:
        say("timeout")
        sys.exit(2)
    if a.hold:
        time.sleep(a.hold)
    say("done")
    s.close()
    if auth is not None:
        auth.stop()
    ctx.term()


if __name__ == "__main__":
    main()
