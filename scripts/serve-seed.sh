#!/usr/bin/env bash
# Builds kargo, starts the embedded server, creates the project
# `my-web-app` and loads the seed's examples into it. The server keeps
# running in the foreground; Ctrl-C stops it. Data persists under
# $KARGO_DATA_DIR (default ~/.local/share/kargo).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p kargo-cli
BIN="${CARGO_TARGET_DIR:-target}/release/kargo"
DATA="${KARGO_DATA_DIR:-$HOME/.local/share/kargo}"
LISTEN="${KARGO_LISTEN:-127.0.0.1:8443}"
SEED="${KARGO_SEED:-../shared/seed/examples}"
LOG="$(mktemp)"

# shellcheck disable=SC2086
"$BIN" server --data-dir "$DATA" --listen "$LISTEN" ${KARGO_SERVER_FLAGS:-} >"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  grep -q "ready at" "$LOG" && break
  kill -0 $PID 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
  sleep 0.05
done
cat "$LOG"
URL="$(grep -o 'https://[^ ]*' "$LOG" | head -1)"

"$BIN" get project my-web-app -o name >/dev/null 2>&1 || "$BIN" create project my-web-app
if [ -d "$SEED" ]; then
  "$BIN" apply -f "$SEED"
fi
"$BIN" get stages -p my-web-app
cat <<MSG

kargo is running at $URL (Ctrl-C to stop). Try:
  $BIN get warehouses -p my-web-app
  export KUBECONFIG=$DATA/kubeconfig
  kubectl get stages -n my-web-app
  kubectl describe stage dev -n my-web-app
MSG
wait $PID
