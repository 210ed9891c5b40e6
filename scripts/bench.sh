#!/usr/bin/env bash
# Runs the benchmarks (release build) and prints their tables.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kargo-rs/target}"
cargo bench --locked -p kargo-cli --bench api
cargo bench --locked -p kargo-cli --bench pipeline
# Sizes: KARGO_BENCH_SIZES=10x100,200x2000 (default) or full (up to 1,000 Stages x 10,000 Freight).
cargo bench --locked -p kargo-cli --bench scale
