#!/usr/bin/env bash
# Runs the benchmarks (release build) and prints their tables.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kargo-rs/target}"
cargo bench --locked -p kargo-cli --bench api
cargo bench --locked -p kargo-cli --bench pipeline
