#!/usr/bin/env python3
"""ZMQ_CONNECT_TIMEOUT across a black-holed network path (issue 21), next to libzmq.

Uses /work/shared/tools/wanemu.py (or --wanemu PATH): namespaces ctA (10.79.0.1) and ctB
(10.79.0.2) joined by a user-space forwarder, here with 100 % loss (its control file lifts it
to 0 % later). Needs root, so it is a script rather than a conformance case (the suite checks
the same option against a listener whose backlog is full: `connect_timeout_black_hole`).

For each implementation (our `zmtp cat` on tokio and on compio, libzmq 4.3.5 through pyzmq) and
each connect timeout (0 = the OS's limit, and --timeout-ms):

  a PULL binds in ctB; a PUSH in ctA connects to it while every packet is dropped and queues one
  message; after --down seconds the loss goes to 0. Reported: how long after the link returned
  the message arrived.

Without a connect timeout the dial hangs in the kernel's SYN retransmissions, so the message
waits for the next one: Linux 6.5+ retransmits a SYN every second for the first
`net.ipv4.tcp_syn_linear_timeouts` (4) times, then doubles the wait (SYNs at 0, 1, 2, 3, 4, 6,
10, 18 s...), so after a 12 s outage the next SYN comes some 6 s after the link returns (older
kernels: 1, 3, 7, 15 s). With a connect timeout the dial is abandoned and redialled every
timeout + reconnect_ivl (100 ms), so the message arrives within about that of the link's return.

    sudo python3 scripts/connect_timeout_wan.py [--down 12] [--timeout-ms 300] [--no-build]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = "10.79.0"
NS_A, NS_B = "ctA", "ctB"

LIBZMQ_PUSH = r"""
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.setsockopt(zmq.CONNECT_TIMEOUT, int(sys.argv[2]))
s.setsockopt(zmq.RECONNECT_IVL, 100)
s.setsockopt(zmq.LINGER, -1)
s.connect(sys.argv[1])
s.send(b"hello")
s.close()
ctx.term()
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wanemu", default="/work/shared/tools/wanemu.py")
    ap.add_argument("--down", type=float, default=12.0,
                    help="seconds of 100 %% loss (default 12)")
    ap.add_argument("--timeout-ms", type=int, default=300, help="connect timeout (default 300)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--impls", default="tokio,compio,libzmq")
    args = ap.parse_args()

    zmtp = os.path.join(ROOT, "target", "debug", "zmtp")
    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "-p", "zmtp-cli"], cwd=ROOT, check=True)

    control = tempfile.NamedTemporaryFile("w", suffix=".loss", delete=False)
    control.write("1.0")
    control.close()
    wan = subprocess.Popen(
        [sys.executable, args.wanemu, "--delay-ms", "5", "--loss", "1.0", "--control",
         control.name, "--names", f"{NS_A},{NS_B}", "--net", NET],
        stdout=subprocess.PIPE, text=True)
    try:
        line = wan.stdout.readline()
        if not line.startswith("wanemu ready"):
            sys.exit(f"wanemu did not start: {line!r}")
        rows = []
        port = 6100
        for impl in args.impls.split(","):
            for timeout in [0, args.timeout_ms]:
                port += 1
                rows.append((impl, timeout, run(zmtp, impl, timeout, port, args.down, control.name)))
        print(f"link down {args.down:.1f} s (100 % loss), then up; delay after the link returned")
        print(f"{'impl':<8} {'connect_timeout':>16} {'delivered after':>16}")
        for impl, timeout, after in rows:
            shown = "never (30 s)" if after is None else f"{after * 1000:.0f} ms"
            print(f"{impl:<8} {timeout:>13} ms {shown:>16}")
    finally:
        wan.terminate()
        wan.wait()
        os.unlink(control.name)


def set_loss(path, loss):
    with open(path, "w") as f:
        f.write(loss)


def run(zmtp, impl, timeout, port, down, control):
    """One trial: seconds from the link's return to the message's arrival, or None."""
    set_loss(control, "1.0")
    time.sleep(0.3)  # wanemu re-reads its control file every 100 ms
    ep = f"tcp://{NET}.2:{port}"
    pull = subprocess.Popen(
        ["ip", "netns", "exec", NS_B, zmtp, "cat", "pull", "--bind", ep, "-n", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)
    if impl == "libzmq":
        push_cmd = [sys.executable, "-c", LIBZMQ_PUSH, ep, str(timeout)]
    else:
        push_cmd = [zmtp, "cat", "push", "--driver", impl, "--connect", ep, "--linger", "-1",
                    "--reconnect-ivl", "100", "--connect-timeout", str(timeout)]
    push = subprocess.Popen(["ip", "netns", "exec", NS_A] + push_cmd, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    if impl != "libzmq":
        push.stdin.write("hello\n")
    push.stdin.close()
    time.sleep(down)
    set_loss(control, "0.0")
    up = time.monotonic()
    try:
        got = pull.stdout.readline() if wait_readable(pull, 30) else ""
        after = time.monotonic() - up if got.strip() == "hello" else None
    finally:
        for p in (push, pull):
            p.kill()
            p.wait()
    return after


def wait_readable(proc, limit):
    import select
    r, _, _ = select.select([proc.stdout], [], [], limit)
    return bool(r)


if __name__ == "__main__":
    main()
