#!/usr/bin/env bash
# The fuzzer: `npm run fuzz -- [MINUTES] [--seed S] [--target T,…]` (default 1 minute over every
# target). Built with the test profile (optimised, with overflow checks and debug assertions, as
# cargo-fuzz builds: release would wrap overflowing size arithmetic silently), which `cargo test`
# has already built. Reports executions, outcomes, slow inputs and panics; reproducers go to
# target/fuzz/<target>/; exits non-zero on any failing input.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
minutes=1
if [[ $# -gt 0 && "$1" != -* ]]; then
  minutes="$1"
  shift
fi
# One thread: executions are timed, and the machine may be shared.
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"
exec cargo run --profile test --quiet --bin mobilenet-fuzz -- --minutes "$minutes" "$@"
