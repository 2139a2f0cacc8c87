#!/usr/bin/env python3
"""Raw TCP peers for our STREAM socket (conformance/src/cases/stream.rs): plain Python sockets,
and libzmq 4.3.5's STREAM (pyzmq).

Usage: stream_peer.py SCENARIO [ARGS...]; prints "OK" and exits 0 when the scenario passed;
any failure exits non-zero with the reason on stderr. Everything has a timeout.

Scenarios (SIZE bytes of data follow the pattern of conformance's `big_body`):
  client PORT SIZE   a TCP client of our STREAM: sends "hello from python", reads "hello from
                     stream", sends SIZE bytes, reads SIZE bytes back, then closes
  server SIZE        a TCP server (prints "PORT n"): accepts our STREAM, reads "request", sends
                     "response", reads SIZE bytes, then reads until our STREAM closes (EOF)
  lz_server SIZE     a libzmq STREAM bound (prints "PORT n"): our STREAM connects; on its
                     connect notification waits for "ping", sends SIZE bytes, then closes the
                     connection ([id, ""])
  lz_client PORT SIZE  a libzmq STREAM connected to our STREAM: sends SIZE bytes, reads
                     "thanks", then waits for the disconnect notification of our close
"""

import socket
import sys

LIMIT_S = 30


def fail(why):
    sys.stderr.write("stream_peer.py: %s\n" % why)
    sys.stderr.flush()
    sys.exit(1)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def big_body(n):
    return bytes(((i % 251) ^ (i >> 16)) & 0xFF for i in range(n))


def recv_exact(conn, n):
    out = bytearray()
    while len(out) < n:
        chunk = conn.recv(min(65536, n - len(out)))
        if not chunk:
            fail("EOF after %d of %d bytes" % (len(out), n))
        out += chunk
    return bytes(out)


def expect(got, want, what):
    if got != want:
        if len(got) != len(want):
            fail("%s: %d bytes, want %d" % (what, len(got), len(want)))
        at = next(i for i in range(len(got)) if got[i] != want[i])
        fail("%s: differs at offset %d" % (what, at))


def client(port, size):
    conn = socket.create_connection(("127.0.0.1", port), timeout=LIMIT_S)
    conn.sendall(b"hello from python")
    expect(recv_exact(conn, 17), b"hello from stream", "greeting reply")
    body = big_body(size)
    conn.sendall(body)
    expect(recv_exact(conn, size), body, "data back")
    conn.close()
    say("OK")


def server(size):
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    lsn.settimeout(LIMIT_S)
    say("PORT %d" % lsn.getsockname()[1])
    conn, _ = lsn.accept()
    conn.settimeout(LIMIT_S)
    expect(recv_exact(conn, 7), b"request", "request")
    conn.sendall(b"response")
    expect(recv_exact(conn, size), big_body(size), "data")
    rest = conn.recv(1)
    if rest:
        fail("more data after the body instead of EOF: %r" % rest)
    say("OK")


def lz_socket():
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.STREAM)
    s.setsockopt(zmq.RCVTIMEO, LIMIT_S * 1000)
    s.setsockopt(zmq.SNDTIMEO, LIMIT_S * 1000)
    s.setsockopt(zmq.LINGER, 5000)
    return zmq, ctx, s


def lz_recv_exact(s, rid, n):
    out = bytearray()
    while len(out) < n:
        frames = s.recv_multipart()
        if len(frames) != 2 or frames[0] != rid:
            fail("unexpected message %r" % frames[:1])
        if not frames[1]:
            fail("disconnected after %d of %d bytes" % (len(out), n))
        out += frames[1]
    return bytes(out)


def lz_server(size):
    zmq, ctx, s = lz_socket()
    port = s.bind_to_random_port("tcp://127.0.0.1")
    say("PORT %d" % port)
    rid, data = s.recv_multipart()
    if data:
        fail("first message is not the connect notification")
    expect(lz_recv_exact(s, rid, 4), b"ping", "ping")
    s.send_multipart([rid, big_body(size)])
    s.send_multipart([rid, b""])
    # Our STREAM redials a peer it connected to; the notifications of that are fine.
    s.close()
    ctx.term()
    say("OK")


def lz_client(port, size):
    zmq, ctx, s = lz_socket()
    s.connect("tcp://127.0.0.1:%d" % port)
    rid, data = s.recv_multipart()
    if data:
        fail("first message is not the connect notification")
    s.send_multipart([rid, big_body(size)])
    expect(lz_recv_exact(s, rid, 6), b"thanks", "thanks")
    frames = s.recv_multipart()
    if frames != [rid, b""]:
        fail("expected the disconnect notification, got %r" % frames[:1])
    s.close()
    ctx.term()
    say("OK")


def main():
    args = sys.argv[1:]
    if not args:
        fail("no scenario")
    kind = args[0]
    if kind == "client":
        client(int(args[1]), int(args[2]))
    elif kind == "server":
        server(int(args[1]))
    elif kind == "lz_server":
        lz_server(int(args[1]))
    elif kind == "lz_client":
        lz_client(int(args[1]), int(args[2]))
    else:
        fail("unknown scenario %r" % kind)


if __name__ == "__main__":
    main()
