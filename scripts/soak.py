#!/usr/bin/env python3
"""Soak: mixed traffic on our drivers for minutes, RSS and throughput sampled every second.

Runs `benches/src/bin/soak.rs` (built here if needed) once per driver: PUSH/PULL, REQ/REP,
PUB/SUB and DEALER/ROUTER side by side in one process, the connecting peer of each pattern
closed and made again every --restart-ms (staggered: a restart somewhere every quarter of it).
See that file for what is checked. Writes the samples to docs/soak-<driver>.jsonl (one JSON
line per second, then the summary line), the plot to docs/soak.png, and prints a table.

Pass, per driver: nothing lost (PUSH/PULL, REQ/REP, DEALER/ROUTER: every message once, in
order; PUB/SUB: no duplicate or reordering, drops counted but allowed), no error, and RSS at
the end within 5 % of RSS at 2 minutes (with --minutes below 3, at a fifth of the run).

    python3 scripts/soak.py [--minutes 10] [--drivers tokio,compio] [--parallel]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "matplotlib"], check=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--restart-ms", type=int, default=4000)
    ap.add_argument("--drivers", default="tokio,compio")
    ap.add_argument("--parallel", action="store_true", help="run the drivers at the same time")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"), help="directory for results")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()

    binary = os.path.join(ROOT, "target", "release", "soak")
    if not args.no_build:
        env = dict(os.environ, CARGO_BUILD_JOBS=os.environ.get("CARGO_BUILD_JOBS", "2"))
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "zmtp-benches", "--bin", "soak"],
                       cwd=ROOT, check=True, env=env)
    seconds = int(args.minutes * 60)
    drivers = args.drivers.split(",")
    paths = {d: os.path.join(args.out, f"soak-{d}.jsonl") for d in drivers}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def launch(d):
        f = open(paths[d], "w")
        p = subprocess.Popen([binary, d, "--seconds", str(seconds),
                              "--restart-ms", str(args.restart_ms)], stdout=f)
        return p, f

    rcs = {}
    if args.parallel:
        procs = {d: launch(d) for d in drivers}
        for d, (p, f) in procs.items():
            rcs[d] = p.wait()
            f.close()
    else:
        for d in drivers:
            p, f = launch(d)
            rcs[d] = p.wait()
            f.close()

    checkpoint = 120.0 if seconds >= 180 else seconds / 5
    results = {}
    for d in drivers:
        rows = [json.loads(line) for line in open(paths[d]) if line.strip()]
        samples = [r for r in rows if "t" in r]
        summary = next((r for r in rows if r.get("summary")), None)
        at = lambda t: min(samples, key=lambda r: abs(r["t"] - t))["rss_kb"]  # noqa: E731
        # "At the end": the last sample taken while traffic still ran.
        running = [r for r in samples if r["t"] <= seconds + 0.5]
        rss_cp, rss_end = at(checkpoint), running[-1]["rss_kb"]
        growth = (rss_end - rss_cp) / rss_cp
        rates = [r["msgs"] for r in running[1:]]
        ok = bool(summary and summary["pass"]) and rcs[d] == 0 and abs(growth) <= 0.05
        results[d] = dict(samples=samples, summary=summary, rss_cp=rss_cp, rss_end=rss_end,
                          growth=growth, rate_mean=sum(rates) / len(rates),
                          rate_min=min(rates), rate_max=max(rates), ok=ok)

    print(f"soak, {args.minutes:g} min per driver ({'in parallel' if args.parallel else 'one after the other'}), started {started}")
    print(f"{'driver':8} {'RSS@' + str(int(checkpoint)) + 's':>10} {'RSS@end':>9} {'growth':>7} "
          f"{'msg/s mean':>10} {'min':>7} {'max':>7} {'restarts':>8} {'lost':>5} {'SUB drops':>9} {'errors':>6} result")
    for d, r in results.items():
        s = r["summary"] or {}
        lost = sum(s.get(k, 0) for k in ("lost_push_pull", "lost_req_rep", "lost_dealer_router"))
        print(f"{d:8} {r['rss_cp'] / 1024:8.1f}MB {r['rss_end'] / 1024:7.1f}MB {r['growth'] * 100:+6.1f}% "
              f"{r['rate_mean']:10.0f} {r['rate_min']:7d} {r['rate_max']:7d} {s.get('restarts', 0):8d} "
              f"{lost:5d} {s.get('sub_drops', 0):9d} {len(s.get('errors', [])):6d} {'PASS' if r['ok'] else 'FAIL'}")
        for e in s.get("errors", [])[:5]:
            print(f"    {d}: {e}")

    plt = ensure_matplotlib()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for d, r in results.items():
        t = [x["t"] for x in r["samples"]]
        ax1.plot(t, [x["msgs"] / 1000 for x in r["samples"]], label=d, linewidth=0.8)
        ax2.plot(t, [x["rss_kb"] / 1024 for x in r["samples"]], label=d)
    ax1.set_ylabel("messages/s (thousands, 4 patterns)")
    ax2.set_ylabel("RSS (MiB)")
    ax2.set_xlabel("seconds")
    ax2.axvline(checkpoint, color="grey", linestyle=":", linewidth=0.8)
    ax2.set_ylim(bottom=0)
    ax1.legend()
    ax2.legend()
    fig.suptitle(f"soak: {args.minutes:g} min, a peer restarted every {args.restart_ms / 4000:g} s ({started})")
    fig.tight_layout()
    png = os.path.join(args.out, "soak.png")
    fig.savefig(png, dpi=90)
    print(f"plot: {png}; samples: {', '.join(paths.values())}")
    sys.exit(0 if all(r["ok"] for r in results.values()) else 1)


if __name__ == "__main__":
    main()
