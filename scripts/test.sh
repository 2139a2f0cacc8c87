#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the interop peers (pyzmq bundles
# libzmq 4.3.5), then `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
if ! python3 -c 'import zmq' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check pyzmq
fi
cargo test --workspace "$@"
