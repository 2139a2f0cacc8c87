#!/usr/bin/env python3
"""Pooled A/B statistics for benches/ab.sh result files, for cells whose runs are bimodal.

For each case and implementation: runs per build, the new/base ratios of the lower quartile,
the median and the upper quartile (latencies: below 1 is better; rates: above 1 is better),
and the two-sided p-value of a Mann-Whitney U test (normal approximation, tied ranks
averaged): a small p says the two builds' runs do not come from one distribution.

    python3 benches/ab_stats.py target/ab-data.jsonl [more.jsonl ...]
"""
import json
import math
import statistics
import sys


def mann_whitney_p(x, y):
    """Two-sided p-value of the Mann-Whitney U test of samples x and y."""
    tagged = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(tagged)
    i = 0
    while i < len(tagged):
        j = i
        while j + 1 < len(tagged) and tagged[j + 1][0] == tagged[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, (_, group) in zip(ranks, tagged) if group == 0)
    n1, n2 = len(x), len(y)
    u = rank_sum - n1 * (n1 + 1) / 2
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    z = (u - n1 * n2 / 2) / sd
    return math.erfc(abs(z) / math.sqrt(2))


def quantile(values, p):
    v = sorted(values)
    k = (len(v) - 1) * p
    i = int(k)
    return v[i] + (v[min(i + 1, len(v) - 1)] - v[i]) * (k - i)


def main(files):
    rows = []
    for f in files:
        for line in open(f):
            r = json.loads(line)
            if not r.get("meta"):
                rows.append(r)
    print("| case | impl | n per build | q25 new/base | median new/base | q75 new/base | MWU p |")
    print("|---|---|---|---|---|---|---|")
    cases = sorted({(r["scenario"], r["size"], r.get("tag", "")) for r in rows})
    for scenario, size, tag in cases:
        key = "rtt_us" if scenario in ("reqrep", "dealer") else "msgs_per_s"
        for impl in ("tokio", "compio"):
            def runs(side):
                return [
                    r[key]
                    for r in rows
                    if r["impl"] == f"{impl}@{side}"
                    and r["scenario"] == scenario
                    and r["size"] == size
                    and r.get("tag", "") == tag
                    and r.get("ok")
                ]

            base, new = runs("base"), runs("new")
            if not base or not new:
                continue
            ratio = lambda p: quantile(new, p) / quantile(base, p)
            print(
                f"| {scenario} {size} B{' ' + tag if tag else ''} | {impl} | {len(base)} "
                f"| {ratio(0.25):.3f} | {statistics.median(new) / statistics.median(base):.3f} "
                f"| {ratio(0.75):.3f} | {mann_whitney_p(new, base):.2f} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
