#!/usr/bin/env bash
# PUSH -> proxy -> PULL over TCP: libzmq's zmq_proxy against ours (zmtp_async::proxy on each
# driver), every run a fresh process (proxy-runner), interleaved over REPS repetitions in this
# one invocation. Appends one JSON line per run to OUT (first line: the machine) and prints the
# median rate of each configuration, and its ratio to libzmq's, per message size.
#
#   bash benches/proxy.sh                          # REPS=5
#   REPS=1 SIZES="16" COUNT_16=200000 bash benches/proxy.sh
#
# Configurations (PROXY/ENDS): libzmq/libzmq, tokio/libzmq, compio/libzmq (libzmq producer and
# consumer: only the proxy differs), tokio/ours, compio/ours (everything ours).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS="${REPS:-5}"
SIZES="${SIZES:-16 1024 65536}"
CONFIGS="${CONFIGS:-libzmq/libzmq tokio/libzmq compio/libzmq tokio/ours compio/ours}"
OUT="${OUT:-docs/benchmarks-proxy.jsonl}"

count_for() {
    case "$1" in
        16) echo "${COUNT_16:-1000000}" ;;
        1024) echo "${COUNT_1024:-300000}" ;;
        *) echo "${COUNT_LARGE:-20000}" ;;
    esac
}

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --quiet -p zmtp-benches --bin proxy-runner
RUNNER="${CARGO_TARGET_DIR:-target}/release/proxy-runner"

mkdir -p "$(dirname "$OUT")"
[ -n "${APPEND:-}" ] || : > "$OUT"
printf '{"meta":true,"date":"%s","kernel":"%s","cpus":%s,"cpu_model":"%s","rustc":"%s","reps":%s,"loadavg":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -r)" "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')" \
    "$(rustc --version)" "$REPS" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"

for rep in $(seq "$REPS"); do
    for size in $SIZES; do
        count="$(count_for "$size")"
        for config in $CONFIGS; do
            proxy="${config%/*}"
            ends="${config#*/}"
            printf 'rep %d  %-14s %6s B x %s\n' "$rep" "$config" "$size" "$count" >&2
            line="$(timeout -k 5 90 "$RUNNER" "$proxy" "$ends" "$size" "$count" --timeout 80 | grep '^{' | tail -n 1 || true)"
            [ -n "$line" ] || line="{\"impl\":\"proxy-$proxy\",\"ends\":\"$ends\",\"size\":$size,\"ok\":false,\"error\":\"no output\"}"
            printf '%s\n' "$line" | sed "s/^{/{\"rep\":$rep,/" >> "$OUT"
        done
    done
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = rows[0]
print("CPU: %s (%s vCPUs), kernel %s, %s reps" % (meta["cpu_model"], meta["cpus"], meta["kernel"], meta["reps"]))
runs = {}
failed = {}
for r in rows[1:]:
    key = (r["size"], r["impl"].removeprefix("proxy-"), r["ends"])
    if r.get("ok"):
        runs.setdefault(key, []).append(r["msgs_per_s"])
    else:
        failed[key] = failed.get(key, 0) + 1
print("| size | proxy | ends | median msg/s | MB/s | vs libzmq's proxy | runs |")
print("|---:|---|---|---:|---:|---:|---:|")
for size in sorted({k[0] for k in runs} | {k[0] for k in failed}):
    base = runs.get((size, "libzmq", "libzmq"))
    base = statistics.median(base) if base else None
    for key in sorted(k for k in set(runs) | set(failed) if k[0] == size):
        rates = runs.get(key, [])
        med = statistics.median(rates) if rates else 0.0
        ratio = "%.2fx" % (med / base) if base and rates else "-"
        print("| %d | %s | %s | %.0f | %.1f | %s | %d ok, %d failed |" % (
            size, key[1], key[2], med, med * size / 1e6, ratio, len(rates), failed.get(key, 0)))
EOF
