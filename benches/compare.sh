#!/usr/bin/env bash
# Side-by-side comparison: every implementation × every case, each run in a fresh process
# (bench-runner), interleaved A B C A B C over REPS repetitions, all in this one invocation.
# Appends one JSON line per run to OUT (first line: the machine), then prints the summary
# table with benches/plot.py.
#
#   bash benches/compare.sh                      # everything, REPS=5 (~10 min on 2 vCPUs)
#   REPS=1 QUICK=1 bash benches/compare.sh       # smoke run with small counts
#   IMPLS="tokio libzmq raw" CASES="reqrep:16:20000" bash benches/compare.sh
#
# Environment:
#   REPS      repetitions (default 5)
#   IMPLS     implementations (default: all; see `bench-runner --list`)
#   CASES     space-separated SCENARIO:SIZE:COUNT[:pinned] (default below)
#   OUT       result file (default docs/benchmarks-data.jsonl; overwritten unless APPEND=1)
#   RUN_TIMEOUT  seconds before a run is declared hung (default 60)
#   CARGO_TARGET_DIR is honoured; the runner is built with --release.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS="${REPS:-5}"
IMPLS="${IMPLS:-tokio compio libzmq zmqrs omq monocoque monocoque-coalesce raw raw-compio raw-tokio}"
if [ -n "${QUICK:-}" ]; then
    DEFAULT_CASES="reqrep:16:2000 reqrep:16:2000:pinned dealer:16:2000 pushpull:16:50000 pushpull:64:50000 pushpull:1024:20000 pushpull:65536:2000 pubsub:16:20000"
else
    DEFAULT_CASES="reqrep:16:20000 reqrep:16:20000:pinned dealer:16:20000 pushpull:16:1000000 pushpull:64:1000000 pushpull:1024:300000 pushpull:65536:20000 pubsub:16:200000"
fi
CASES="${CASES:-$DEFAULT_CASES}"
OUT="${OUT:-docs/benchmarks-data.jsonl}"
RUN_TIMEOUT="${RUN_TIMEOUT:-60}"

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet -p zmtp-benches --features peers --bin bench-runner
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
RUNNER="$TARGET_DIR/release/bench-runner"

mkdir -p "$(dirname "$OUT")"
if [ -z "${APPEND:-}" ]; then
    : > "$OUT"
fi
printf '{"meta":true,"date":"%s","kernel":"%s","cpus":%s,"cpu_model":"%s","rustc":"%s","reps":%s,"loadavg":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -r)" "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')" \
    "$(rustc --version)" "$REPS" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"

total=0
for _ in $(seq "$REPS"); do for _ in $CASES; do for _ in $IMPLS; do total=$((total + 1)); done; done; done
n=0
start=$(date +%s)
for rep in $(seq "$REPS"); do
    for case in $CASES; do
        IFS=: read -r scenario size count pin <<< "$case"
        for impl in $IMPLS; do
            n=$((n + 1))
            tag="${pin:-}"
            prefix=()
            if [ "$tag" = "pinned" ]; then
                prefix=(taskset -c 0)
            fi
            printf '[%d/%d] rep %d %-18s %-8s %6s B x %-8s %s\n' "$n" "$total" "$rep" "$impl" "$scenario" "$size" "$count" "$tag" >&2
            set +e
            line="$(timeout -k 5 $((RUN_TIMEOUT + 10)) "${prefix[@]}" "$RUNNER" "$impl" "$scenario" "$size" "$count" \
                --tag "$tag" --timeout "$RUN_TIMEOUT" 2>/tmp/bench-runner.stderr)"
            status=$?
            set -e
            line="$(printf '%s\n' "$line" | grep '^{' | tail -n 1 || true)"
            if [ -z "$line" ]; then
                err="$(tail -c 300 /tmp/bench-runner.stderr | tr '\n"\\' '   ')"
                line="{\"impl\":\"$impl\",\"scenario\":\"$scenario\",\"size\":$size,\"count\":$count,\"tag\":\"$tag\",\"ok\":false,\"error\":\"exit status $status: $err\"}"
            fi
            printf '%s\n' "$line" | sed "s/^{/{\"rep\":$rep,/" >> "$OUT"
        done
    done
done
echo "done in $(( $(date +%s) - start )) s; results in $OUT" >&2
python3 benches/plot.py "$OUT" --no-plot
