#!/usr/bin/env bash
# Runs the benchmarks (release build) and prints their tables. Each hot-path
# bench alternates kargo-rs and its baseline run by run and prints medians
# (min–max) and ratios: discovery (skopeo, git ls-remote), promotion git work
# (git clone --depth 1 + edit + commit + push), Table responses, AnalysisRun CPU
# per measurement, expression cost of a typical step, one RBAC decision at
# 1,000 RoleBindings.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kargo-rs/target}"
# `scripts/bench.sh ui` runs only the web UI's benchmark (release build).
if [ "${1:-}" = ui ]; then
  exec cargo bench --locked -p kargo-cli --bench ui
fi
cargo bench --locked -p kargo-cli --bench api
cargo bench --locked -p kargo-cli --bench pipeline
# Sizes: KARGO_BENCH_SIZES=10x100,200x2000 (default) or full (up to 1,000 Stages x 10,000 Freight);
# KARGO_BENCH_ONLY=retention: only RSS as Promotions accumulate, at the largest size.
cargo bench --locked -p kargo-cli --bench scale
# The web UI at 100 Stages x 1,000 Freight in Chromium (needs scripts/test.sh's chromium + playwright-core).
cargo bench --locked -p kargo-cli --bench ui
cargo bench --locked -p kargo-sources --bench discovery
cargo bench --locked -p kargo-promotion --bench promotion_git
cargo bench --locked -p kargo-apiserver --bench table
cargo bench --locked -p kargo-rbac --bench authorize
cargo bench --locked -p kargo-server --bench analysis
cargo bench --locked -p kargo-promotion --bench step_expressions
