#!/usr/bin/env python3
"""Long fuzzing runs, measured in CPU time, with the corpus minimised back into fuzz/seeds/.

Each target runs as one libFuzzer process (no sanitizer, so it builds on stable) from its
kept seeds and its local corpus, with a random seed, until the process has used BUDGET seconds
of CPU (user + system, read from /proc) or until a wall-clock deadline; then it is interrupted
(libFuzzer prints its final statistics on SIGINT), its corpus is merged into a fresh, minimal
directory that replaces fuzz/seeds/TARGET, and one JSON line is appended to the results file.

Lanes run targets side by side (one process per lane). A crash ends that target's run and is
reported with the artifact's path; turn it into a regression test.

    python3 scripts/fuzz_long.py --budget 3600 --lanes 2 connection_input frame_decoder
    nice -n 19 python3 scripts/fuzz_long.py --budget 3600 --until 13:45   # every target

Results: docs/fuzzing-long.jsonl (default), one line per target run.
"""

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of a live process (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def binary(target):
    return FUZZ / "target" / "x86_64-unknown-linux-gnu" / "release" / target


def corpus_stats(path):
    files = [p for p in path.iterdir() if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def last_stats(log):
    """The last `#N ... cov: C ft: F corp: K` line and libFuzzer's final stats."""
    out = {}
    for m in re.finditer(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", log):
        out.update(runs=int(m[1]), cov=int(m[2]), ft=int(m[3]), corp=int(m[4]))
    m = re.search(r"stat::number_of_executed_units: (\d+)", log)
    if m:
        out["runs"] = int(m[1])
    return out


def run_target(target, budget, deadline, results, lock):
    corpus = FUZZ / "corpus" / target
    seeds = FUZZ / "seeds" / target
    corpus.mkdir(parents=True, exist_ok=True)
    seeds.mkdir(parents=True, exist_ok=True)
    artifacts = FUZZ / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    logpath = ROOT / "target" / f"fuzz-long-{target}.log"
    logpath.parent.mkdir(exist_ok=True)
    started = time.time()
    cmd = [
        str(binary(target)), str(corpus), str(seeds),
        "-seed=0", "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
    ]
    with open(logpath, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=FUZZ)
        cpu = 0.0
        stopped = None
        while proc.poll() is None:
            time.sleep(2)
            cpu = max(cpu, cpu_seconds(proc.pid))
            if cpu >= budget:
                stopped = "budget"
            elif deadline and time.time() >= deadline:
                stopped = "deadline"
            if stopped:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                break
    text = logpath.read_text(errors="replace")
    crashed = stopped is None and proc.returncode not in (0,)
    stats = last_stats(text)
    # Minimise: merge the run's corpus and the old seeds into a fresh directory.
    fresh = FUZZ / "seeds" / f".{target}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    merge = subprocess.run(
        [str(binary(target)), "-merge=1", str(fresh), str(corpus), str(seeds)],
        cwd=FUZZ, capture_output=True, text=True,
    )
    if merge.returncode == 0 and any(fresh.iterdir()):
        shutil.rmtree(seeds)
        fresh.rename(seeds)
    else:
        shutil.rmtree(fresh, ignore_errors=True)
    count, size = corpus_stats(seeds)
    crash_files = re.findall(r"Test unit written to (\S+)", text) if crashed else []
    row = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": target,
        "cpu_s": round(cpu, 1),
        "wall_s": round(time.time() - started, 1),
        "stopped_by": stopped or ("crash" if crashed else "exit"),
        "runs": stats.get("runs"),
        "cov": stats.get("cov"),
        "ft": stats.get("ft"),
        "seeds_after_merge": count,
        "seeds_bytes": size,
        "crashes": crash_files,
        "cpu_model": cpu_model(),
    }
    with lock:
        results.write(json.dumps(row) + "\n")
        results.flush()
        print(json.dumps(row), flush=True)


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="default: every target (cargo fuzz list)")
    ap.add_argument("--budget", type=float, default=3600, help="CPU seconds per target")
    ap.add_argument("--lanes", type=int, default=2, help="targets run side by side")
    ap.add_argument("--until", help="wall-clock deadline HH:MM (UTC) for every run")
    ap.add_argument("--out", default=str(ROOT / "docs" / "fuzzing-long.jsonl"))
    args = ap.parse_args()

    subprocess.run(["cargo", "fuzz", "build", "-s", "none"], cwd=FUZZ, check=True)
    targets = args.targets or subprocess.run(
        ["cargo", "fuzz", "list"], cwd=FUZZ, check=True, capture_output=True, text=True
    ).stdout.split()
    deadline = None
    if args.until:
        now = dt.datetime.now(dt.timezone.utc)
        hh, mm = map(int, args.until.split(":"))
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()

    lock = threading.Lock()
    queue = list(targets)
    with open(args.out, "a") as results:
        def lane():
            while True:
                with lock:
                    if not queue:
                        return
                    target = queue.pop(0)
                if deadline and time.time() >= deadline:
                    return
                run_target(target, args.budget, deadline, results, lock)

        threads = [threading.Thread(target=lane) for _ in range(args.lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
