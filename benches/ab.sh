#!/usr/bin/env bash
# A/B of two builds of our drivers on the same machine, interleaved run by run: the runner
# built from REV (default: the commit before HEAD's change, BASE) against the runner of the
# working tree. Each run is a fresh process, as in compare.sh. Writes one JSON line per run
# (impl names suffixed "@base" / "@new") and prints medians and new/base ratios per case.
#
#   BASE=6843259 REPS=10 bash benches/ab.sh
#   BASE=HEAD~3 IMPLS="compio" CASES="pushpull:64:1000000" REPS=15 bash benches/ab.sh
#
# Environment:
#   BASE      the baseline revision (required)
#   REPS      repetitions (default 10)
#   IMPLS     our implementations to compare (default "tokio compio")
#   CASES     as in compare.sh (default: compare.sh's full set)
#   OUT       result file (default target/ab-data.jsonl)
#   BASE_RUNNER  a bench-runner already built from BASE (skips building it)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BASE:?set BASE to the baseline revision}"
REPS="${REPS:-10}"
IMPLS="${IMPLS:-tokio compio}"
CASES="${CASES:-reqrep:16:20000 reqrep:16:20000:pinned dealer:16:20000 pushpull:16:1000000 pushpull:64:1000000 pushpull:1024:300000 pushpull:65536:20000 pubsub:16:200000}"
OUT="${OUT:-target/ab-data.jsonl}"
RUN_TIMEOUT="${RUN_TIMEOUT:-60}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

base_runner="${BASE_RUNNER:-}"
if [ -z "$base_runner" ]; then
    base_tree="target/ab-base-tree"
    base_target="$(pwd)/target/ab-base-target"
    rm -rf "$base_tree"
    mkdir -p "$base_tree"
    git archive "$BASE" | tar -x -C "$base_tree"
    (cd "$base_tree" && CARGO_TARGET_DIR="$base_target" \
        cargo build --release --quiet -p zmtp-benches --bin bench-runner)
    base_runner="$base_target/release/bench-runner"
fi
cargo build --release --quiet -p zmtp-benches --bin bench-runner
declare -A RUNNER=(
    [base]="$base_runner"
    [new]="${CARGO_TARGET_DIR:-target}/release/bench-runner"
)

mkdir -p "$(dirname "$OUT")"
printf '{"meta":true,"date":"%s","cpu_model":"%s","base":"%s","new":"%s","reps":%s}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')" \
    "$(git rev-parse --short "$BASE")" "$(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty)" \
    "$REPS" > "$OUT"
for rep in $(seq "$REPS"); do
    for case in $CASES; do
        IFS=: read -r scenario size count pin <<< "$case"
        prefix=()
        [ "${pin:-}" = "pinned" ] && prefix=(taskset -c 0)
        for impl in $IMPLS; do
            # Alternate which build goes first, so neither always runs on a warmer machine.
            order="base new"
            [ $((rep % 2)) -eq 0 ] && order="new base"
            for side in $order; do
                echo "rep $rep $impl@$side $scenario $size ${pin:-}" >&2
                line="$(timeout -k 5 $((RUN_TIMEOUT + 10)) "${prefix[@]}" "${RUNNER[$side]}" \
                    "$impl" "$scenario" "$size" "$count" --tag "${pin:-}" \
                    --timeout "$RUN_TIMEOUT" 2>/dev/null | grep '^{' | tail -n 1 || true)"
                [ -n "$line" ] || line="{\"impl\":\"$impl\",\"scenario\":\"$scenario\",\"size\":$size,\"tag\":\"${pin:-}\",\"ok\":false}"
                printf '%s\n' "$line" | sed "s/\"impl\":\"$impl\"/\"impl\":\"$impl@$side\"/" >> "$OUT"
            done
        done
    done
done
python3 benches/ab.py "$OUT"
