#!/usr/bin/env bash
# Runs every fuzz target for ${FUZZ_SECONDS:-30} seconds without a sanitizer (works on stable)
# and fails if any target finds a crash. Usage: fuzz/smoke.sh [target...]
#
# The seed is fixed (FUZZ_SEED, default 1) so that a CI run explores the same inputs as a local
# run of the same length from an empty corpus: a gate must not fail at random. Longer fuzzing
# belongs outside CI, with FUZZ_SEED=0 (a random seed) and as many seconds as you can spare.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"
seed="${FUZZ_SEED:-1}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
failed=()
for t in "${targets[@]}"; do
  echo "=== fuzz $t for ${seconds}s, seed $seed"
  mkdir -p "corpus/$t"
  # The minimised corpus of the long runs (seeds/, kept in the repo) is read as a second
  # directory; what the run finds goes to corpus/ (not kept).
  dirs=("corpus/$t")
  if [ -d "seeds/$t" ]; then dirs+=("seeds/$t"); fi
  if ! cargo fuzz run -s none "$t" "${dirs[@]}" -- -max_total_time="$seconds" -seed="$seed" -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz targets with crashes: ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
echo "all fuzz targets ran ${seconds}s without a crash"
