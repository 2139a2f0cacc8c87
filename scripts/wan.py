#!/usr/bin/env python3
"""Network faults beyond loopback: our two drivers next to libzmq across an emulated WAN.

Uses /work/shared/tools/wanemu.py (or --wanemu PATH): two network namespaces, wanA (10.77.0.1)
and wanB (10.77.0.2), joined by a user-space forwarder adding 50 ms +- 10 ms one way (so about
100 ms round trip; jitter reorders packets) and 1 % loss per packet, both ways; its control
file switches the loss live ("1.0" = blackhole). Needs root. Each implementation talks to
itself: benches/src/bin/wan-peer.rs on driver-tokio and driver-compio, scripts/wan_peer_zmq.py on
pyzmq's libzmq. Scenarios (binding side started first, in wanB unless said):

  bulk        PUSH (wanA, connects) -> PULL (wanB, binds): 20,000 messages of 64 bytes as fast
              as the socket takes them. Pass: all delivered, in order. Wall time: the sender's
              start to the last message received.
  hb          the same pair, one message every 20 ms, heartbeats 200 ms / 1 s on both sides; a
              3 s blackhole 2 s after the start. Pass: the disconnection is seen (both sides),
              the PUSH redials after the link returns, messages flow again, nothing reordered
              or duplicated, and the first message after the link returns comes within one
              heartbeat interval of libzmq's (what sat in the dead connection is lost, as with
              libzmq).
  nohb        the same without heartbeats. Pass: no disconnection, every message delivered,
              in order (TCP retransmits across the blackhole).
  parked-pull PUSH binds (wanA), PULL connects (wanB) and waits in recv through the blackhole;
              heartbeats on both. Pass: the PULL sees the disconnection, redials, receives again.
  parked-sub  the same with PUB/SUB.

The link-return time is when the control file was written; wanemu reads it every 100 ms, so
"after return" times carry up to 100 ms of that. Prints a table and appends JSON lines to
docs/reliability-wan.jsonl (--out).

    sudo python3 scripts/wan.py [--impls tokio,compio,libzmq] [--scenarios bulk,hb,...]
                                [--repeat N] [--raw DIR] [--no-build]
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HB = ["--hb-ivl", "200", "--hb-timeout", "1000"]
BASE_LOSS = "0.01"
BH_AT, BH_LEN, RUN = 2.0, 3.0, 12.0
RAW = None


class Wan:
    def __init__(self, path, delay, jitter, loss):
        self.ctl = tempfile.NamedTemporaryFile("w", prefix="wanemu-ctl-", delete=False).name
        self.set_loss(loss)
        self.proc = subprocess.Popen(
            [sys.executable, path, "--delay-ms", str(delay), "--jitter-ms", str(jitter),
             "--loss", loss, "--control", self.ctl, "--seed", "17"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("wanemu ready"):
            raise SystemExit(f"wanemu did not start: {line!r}")
        self.lines = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def set_loss(self, loss):
        with open(self.ctl + ".tmp", "w") as f:
            f.write(loss)
        os.replace(self.ctl + ".tmp", self.ctl)
        return time.time()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.ctl)
        return "".join(self.lines).strip()


def peer(impl, ns, role, args):
    if impl == "libzmq":
        cmd = [sys.executable, os.path.join(ROOT, "scripts", "wan_peer_zmq.py"), role]
    else:
        cmd = [os.path.join(ROOT, "target", "release", "wan-peer"), impl, role]
    return subprocess.Popen(["ip", "netns", "exec", ns] + cmd + args,
                            stdout=subprocess.PIPE, text=True)


def lines_of(p, timeout):
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def first(events, name, after):
    ts = [e["t"] for e in events if e["ev"] == name and e["t"] >= after]
    return min(ts) if ts else None


def run_one(wan, impl, scenario, port):
    ep_b, ep_a = f"tcp://10.77.0.2:{port}", f"tcp://10.77.0.1:{port}"
    wan.set_loss(BASE_LOSS)
    if scenario == "bulk":
        r = peer(impl, "wanB", "recv", ["--type", "pull", "--bind", ep_b, "--count", "20000",
                                         "--seconds", "300"])
        time.sleep(0.7)
        s = peer(impl, "wanA", "send", ["--type", "push", "--connect", ep_b, "--count", "20000",
                                         "--seconds", "300"])
        rl, sl = lines_of(r, 320), lines_of(s, 30)
        rs = next(e for e in rl if e["ev"] == "summary")
        start = next(e["t"] for e in sl if e["ev"] == "start")
        ok = rs["received"] == 20000 and rs["missing"] == 0 and rs["out_of_order"] == 0
        return dict(received=rs["received"], missing=rs["missing"], out_of_order=rs["out_of_order"],
                    wall_s=round(rs["last_t"] - start, 3), ok=ok)

    hb = [] if scenario == "nohb" else HB
    interval = ["--interval-ms", "20"]
    if scenario in ("hb", "nohb"):
        recv = ("wanB", ["--type", "pull", "--bind", ep_b])
        send = ("wanA", ["--type", "push", "--connect", ep_b])
        binder = "recv"
    else:
        kind = "pull" if scenario == "parked-pull" else "sub"
        other = "push" if kind == "pull" else "pub"
        recv = ("wanB", ["--type", kind, "--connect", ep_a])
        send = ("wanA", ["--type", other, "--bind", ep_a])
        binder = "send"
    rargs = recv[1] + hb + ["--seconds", str(RUN + 1.5), "--trace"]
    sargs = send[1] + hb + interval + ["--seconds", str(RUN)]
    if binder == "recv":
        r = peer(impl, recv[0], "recv", rargs)
        time.sleep(0.7)
        s = peer(impl, send[0], "send", sargs)
    else:
        s = peer(impl, send[0], "send", sargs)
        time.sleep(0.7)
        r = peer(impl, recv[0], "recv", rargs)
    t0 = time.time()
    time.sleep(BH_AT)
    on = wan.set_loss("1.0")
    time.sleep(BH_LEN)
    off = wan.set_loss(BASE_LOSS)
    rl, sl = lines_of(r, RUN + 20), lines_of(s, RUN + 20)
    if RAW:
        with open(os.path.join(RAW, f"{scenario}-{impl}-{port}.json"), "w") as f:
            json.dump(dict(blackhole_on=on, blackhole_off=off, recv=rl, send=sl), f)
    rs = next(e for e in rl if e["ev"] == "summary")
    ss = next(e for e in sl if e["ev"] == "summary")
    msgs = [e for e in rl if e["ev"] == "msg"]

    def rel(t, base):
        return None if t is None else round((t - base) * 1000)

    # Disconnections caused by the blackhole: from its start to the sender's end of sending
    # (after that the sender closes, which the receiver sees as a disconnection too).
    stop = next(e["t"] for e in sl if e["ev"] == "start") + RUN - 0.2
    rl_w = [e for e in rl if e["t"] < stop]
    sl_w = [e for e in sl if e["t"] < stop]
    rdisc, sdisc = first(rl_w, "disconnected", on), first(sl_w, "disconnected", on)
    hs = [t for t in (first(rl, "handshake", on), first(sl, "handshake", on)) if t]
    redial = min(hs) if hs else None
    after = [m["t"] for m in msgs if m["t"] > off]
    last_before = max((m["seq"] for m in msgs if m["t"] < on), default=None)
    res = dict(
        sent=ss["sent"], received=rs["received"], missing=rs["missing"],
        out_of_order=rs["out_of_order"],
        recv_disconnect_ms=rel(rdisc, on), send_disconnect_ms=rel(sdisc, on),
        redial_handshake_after_return_ms=rel(redial, off),
        first_msg_after_return_ms=rel(min(after) if after else None, off),
        disconnects=sum(1 for e in rl_w + sl_w if e["ev"] == "disconnected" and on <= e["t"]),
        last_seq_before_blackhole=last_before,
        started_to_blackhole_ms=rel(on, t0))
    if scenario == "nohb":
        res["ok"] = (res["disconnects"] == 0 and rs["received"] == ss["sent"]
                     and rs["missing"] == 0 and rs["out_of_order"] == 0)
    elif scenario == "hb":
        res["ok"] = (rdisc is not None and sdisc is not None and redial is not None
                     and redial > off - 0.15 and bool(after) and rs["out_of_order"] == 0)
    else:
        res["ok"] = (rdisc is not None and redial is not None and bool(after)
                     and rs["out_of_order"] == 0)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impls", default="tokio,compio,libzmq")
    ap.add_argument("--scenarios", default="bulk,hb,nohb,parked-pull,parked-sub")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--wanemu", default="/work/shared/tools/wanemu.py")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "reliability-wan.jsonl"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--raw", help="directory for each blackhole run's events (JSON)")
    args = ap.parse_args()
    global RAW
    RAW = args.raw
    # A SIGTERM ends the run through the `finally` below, which stops wanemu (it then deletes
    # its namespaces).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if os.geteuid() != 0:
        raise SystemExit("wan.py needs root (network namespaces, TUN devices)")
    if not args.no_build:
        env = dict(os.environ, CARGO_BUILD_JOBS=os.environ.get("CARGO_BUILD_JOBS", "2"))
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "zmtp-benches", "--bin",
                        "wan-peer"], cwd=ROOT, check=True, env=env)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    wan = Wan(args.wanemu, 50, 10, BASE_LOSS)
    rows = []
    port = 5700
    try:
        for scenario in args.scenarios.split(","):
            for rep in range(args.repeat):
                for impl in args.impls.split(","):
                    port += 1
                    res = run_one(wan, impl, scenario, port)
                    row = dict(scenario=scenario, impl=impl, run=rep, date=date, cpu=cpu,
                               wan="50 ms +- 10 ms one way, 1 % loss", **res)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        stats = wan.close()
        print(stats)
    with open(args.out, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")

    print()
    print(f"{'scenario':12} {'impl':7} {'ok':4} details")
    for r in rows:
        if r["scenario"] == "bulk":
            d = f"wall {r['wall_s']:.2f} s, received {r['received']}, missing {r['missing']}, out of order {r['out_of_order']}"
        else:
            d = (f"disconnect seen recv {r['recv_disconnect_ms']} / send {r['send_disconnect_ms']} ms "
                 f"into the blackhole; redial handshake {r['redial_handshake_after_return_ms']} ms, "
                 f"first message {r['first_msg_after_return_ms']} ms after return; sent {r['sent']}, "
                 f"received {r['received']}, missing {r['missing']}, out of order {r['out_of_order']}")
        print(f"{r['scenario']:12} {r['impl']:7} {'yes' if r['ok'] else 'NO':4} {d}")
    # The first message after the return, within one heartbeat interval (200 ms) of libzmq's:
    # medians over the runs (with 1 % loss a lost SYN-ACK or first segment costs a retransmit
    # timeout, up to a second, to any implementation in any one run).
    verdict = all(r["ok"] for r in rows)
    groups = {}
    for r in rows:
        if r["scenario"] not in ("bulk", "nohb") and r["first_msg_after_return_ms"] is not None:
            groups.setdefault((r["scenario"], r["impl"]), []).append(r["first_msg_after_return_ms"])
    med = {k: statistics.median(v) for k, v in groups.items()}
    for (sc, impl), m in sorted(med.items()):
        z = med.get((sc, "libzmq"))
        note = ""
        if impl != "libzmq" and z is not None and m - z > 200:
            verdict = False
            note = " (more than one heartbeat interval after libzmq's)"
        print(f"{sc:12} {impl:7} first message after return, median of {len(groups[(sc, impl)])}: {m:.0f} ms{note}")
    print("PASS" if verdict else "FAIL")
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
