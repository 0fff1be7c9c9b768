#!/usr/bin/env bash
# Browser benchmark: our package vs onnxruntime-web and TensorFlow.js, single thread, in headless
# Chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
bash scripts/build.sh >/dev/null
cargo build --release --quiet --bin mobilenet-bench
node tests/bench/run.mjs
