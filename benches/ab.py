#!/usr/bin/env python3
"""Summarises benches/ab.sh: per case and implementation, the median of each build and the
new/base ratio of the medians (round trips: lower is better; rates: higher is better)."""

import json
import statistics
import sys
from collections import defaultdict


def main(path):
    meta, cells = {}, defaultdict(list)
    failed = defaultdict(int)
    for line in open(path):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("meta"):
            meta = r
            continue
        impl, side = r["impl"].split("@")
        key = (r["scenario"], int(r["size"]), r.get("tag") or "", impl)
        if not r.get("ok"):
            failed[(key, side)] += 1
            continue
        value = r["rtt_us"] if r["scenario"] in ("reqrep", "dealer") else r["msgs_per_s"]
        cells[(key, side)].append(value)
    print(f"# A/B: base {meta.get('base')} vs new {meta.get('new')}, {meta.get('reps')} "
          f"interleaved repetitions, {meta.get('date')}, CPU: {meta.get('cpu_model')}")
    print()
    print("| case | impl | base median | new median | new/base | better |")
    print("|---|---|---|---|---|---|")
    for key in sorted({k for (k, _) in cells}):
        scenario, size, tag, impl = key
        rt = scenario in ("reqrep", "dealer")
        base, new = cells.get((key, "base"), []), cells.get((key, "new"), [])
        if not base or not new:
            continue
        mb, mn = statistics.median(base), statistics.median(new)
        ratio = mn / mb
        unit = "µs" if rt else "M msg/s"
        scale = 1 if rt else 1e-6
        better = (ratio < 1) if rt else (ratio > 1)
        name = f"{scenario} {size} B" + (f" ({tag})" if tag else "")
        fails = failed.get((key, "base"), 0) + failed.get((key, "new"), 0)
        note = f" ({fails} failed runs)" if fails else ""
        print(f"| {name} | {impl} | {mb * scale:.2f} {unit} (n={len(base)}) | "
              f"{mn * scale:.2f} {unit} (n={len(new)}) | {ratio:.3f} | "
              f"{'new' if better else 'base'}{note} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/ab-data.jsonl")
