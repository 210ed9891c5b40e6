#!/usr/bin/env bash
# The quick start: builds kargo and plays the whole product story on this
# machine (no cluster, no Docker, no network): two releases flow through
# dev -> staging-us + staging-eu, a broken one is stopped by its health
# check in dev, prod-us is promoted and rolled back. Extra arguments go to
# `kargo quickstart` (e.g. --keep-running, --dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p kargo-cli
exec "${CARGO_TARGET_DIR:-target}/release/kargo" quickstart "$@"
