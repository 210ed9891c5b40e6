#!/usr/bin/env bash
# Runs every test of kargo-rs. Installs what a fresh Debian machine lacks
# (the real components tests start: docker-registry, prometheus, skopeo;
# zsh and fish for the completion tests; Chromium and a font for the
# browser tests, driven by playwright-core from the npm registry),
# checks formatting and lints, then runs the suite with nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in docker-registry prometheus skopeo git curl zsh fish chromium fonts-dejavu-core; do
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
# playwright-core, pinned, in a cache directory outside the clone (the
# browser test finds it there through KARGO_UI_TEST_DIR).
export KARGO_UI_TEST_DIR="${KARGO_UI_TEST_DIR:-$HOME/.cache/kargo-rs/ui-test}"
PLAYWRIGHT_VERSION=1.65.1
if [ "$(node -p "require('$KARGO_UI_TEST_DIR/node_modules/playwright-core/package.json').version" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
  echo "installing playwright-core@$PLAYWRIGHT_VERSION into $KARGO_UI_TEST_DIR"
  timeout 300 npm install --no-save --no-audit --no-fund --prefix "$KARGO_UI_TEST_DIR" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
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
