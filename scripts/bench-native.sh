#!/usr/bin/env bash
# Native single-thread forward-pass timings (the browser benchmark is a separate command).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
RAYON_NUM_THREADS=1 cargo run --release --quiet --bin mobilenet-bench
