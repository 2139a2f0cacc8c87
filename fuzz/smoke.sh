#!/usr/bin/env bash
# Runs every fuzz target for ${FUZZ_SECONDS:-30} seconds without a sanitizer (works on stable)
# and fails if any target finds a crash. Usage: fuzz/smoke.sh [target...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
failed=()
for t in "${targets[@]}"; do
  echo "=== fuzz $t for ${seconds}s"
  mkdir -p "corpus/$t"
  if ! cargo fuzz run -s none "$t" -- -max_total_time="$seconds" -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz targets with crashes: ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
echo "all fuzz targets ran ${seconds}s without a crash"
