#!/usr/bin/env bash
# Runs every test of kargo-rs. Installs what a fresh Debian machine lacks
# (the real components tests start: docker-registry, prometheus, skopeo;
# zsh and fish for the completion tests),
# checks formatting and lints, then runs the suite with nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in docker-registry prometheus skopeo git curl zsh fish; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services must not start at install time; tests start their own.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
command -v kubectl >/dev/null || { echo "kubectl is required (it is on the machine image)" >&2; exit 1; }
[ -d ../shared/seed/examples ] || { echo "../shared/seed/examples is missing: the seed must sit beside the repository" >&2; exit 1; }

# Keep build products outside the clone so repeated CI runs are warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kargo-rs/target}"
export CARGO_TERM_COLOR=never

cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast
else
  cargo test --locked --workspace --no-fail-fast
fi
