#!/usr/bin/env bash
# Set up, build, and serve the demo on the default model.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$ROOT/scripts/setup.sh" --no-browsers
bash "$ROOT/scripts/build.sh"
port="${PORT:-8080}"
echo "[start] open http://127.0.0.1:$port/"
# Cross-origin isolated, so that the demo's worker runs the threaded module.
exec node "$ROOT/scripts/serve.mjs" --root "$ROOT/www" --port "$port" --isolate
