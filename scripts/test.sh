#!/usr/bin/env bash
# Every test: formatting and lints, the native suite, a minute of fuzzing, the same suite compiled
# to wasm32 with SIMD128 and with relaxed SIMD in headless Chrome and Firefox, then the npm package
# in pages (plain page, worker, Vite app, transfer learning on the digits), the demo with a fake
# camera, and the typings.
# Ends with one "N passed, N failed" line over all runners.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh

log="$(mktemp)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

# Each step ends with how long it took (CI has a time budget).
started=$SECONDS
current=""
step() {
  [[ -n "$current" ]] && echo "=== $current: $(( SECONDS - step_start )) s"
  current="$*"
  step_start=$SECONDS
  [[ "$current" == "done" ]] || { echo; echo "=== $current"; }
}

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings
# The package's inference module is built without the `train` feature.
cargo clippy -p mobilenet-wasm --target wasm32-unknown-unknown --no-default-features --lib --quiet -- -D warnings
relaxed cargo clippy -p mobilenet-wasm --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings

step "native tests"
cargo test 2>&1 | tee -a "$log"

# A short run of the fuzzer (built by the native tests): fails on a panic, a non-finite answer,
# a refused round trip, a huge allocation or an input slower than 1 s (reproducers in target/fuzz/).
step "fuzzing smoke: 1 min over every target"
bash scripts/fuzz.sh 1

# The browser tests fetch ../shared from this server (CORS), as a page fetches weights from a CDN.
port="${MOBILENET_TEST_PORT:-8765}"
node scripts/serve.mjs --root "$MOBILENET_SHARED_DIR" --port "$port" --cors &
server_pid=$!
export MOBILENET_SHARED_URL="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -sf "$MOBILENET_SHARED_URL/weights/imagenet_classes.txt" >/dev/null && break; sleep 0.1; done

# Both modules: SIMD128, and relaxed SIMD (fused multiply-add), which Chrome and Firefox load;
# each compiled by its Chrome run and reused by its Firefox run. (Compiling both at once measured
# slower on 2 cores: 385 s against about 325 s one after the other.)
# wasm-bindgen's runner takes the first of GECKODRIVER / CHROMEDRIVER it finds set: each run sees
# only its own browser's driver, and must say it ran there.
for build in "" relaxed; do
  for browser in chrome firefox; do
    step "wasm32 + ${build:-SIMD128}${build:+ SIMD} tests in headless $browser"
    if [[ $browser == chrome ]]; then other=GECKODRIVER name=Chrome; else other=CHROMEDRIVER name=Firefox; fi
    run_log="$(mktemp)"
    (unset "$other" && $build wasm_tests) 2>&1 | tee "$run_log" | tee -a "$log"
    if grep "Running headless tests in" "$run_log" | grep -qv " in $name "; then
      echo "error: the $browser run ran in another browser" | tee -a "$log"
      echo "test result: FAILED. 0 passed; 1 failed" >> "$log"
    fi
    rm -f "$run_log"
  done
done

step "npm package and demo: build, pack, then page tests in headless Chromium"
MOBILENET_CONVERT="$ROOT/target/debug/mobilenet-convert" bash scripts/build.sh
# Three files at a time: much of a page test's time is spent waiting on one core.
node --test --test-concurrency=3 --test-reporter=spec tests/package.test.mjs tests/hub.test.mjs tests/readme.test.mjs \
  tests/learner.test.mjs tests/vite.test.mjs tests/types.test.mjs tests/demo.test.mjs tests/serve.test.mjs tests/hostile.test.mjs 2>&1 | tee -a "$log"
step "done"

# cargo/wasm-bindgen-test: "test result: ok. N passed; M failed"; node: "ℹ pass N", "ℹ fail M".
results=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" || true)
passed=$(( $(awk '{ s += $4 } END { print s + 0 }' <<<"$results") + $(awk '/^ℹ pass / { s += $3 } END { print s + 0 }' "$log") ))
failed=$(( $(awk '{ s += $6 } END { print s + 0 }' <<<"$results") + $(awk '/^ℹ fail / { s += $3 } END { print s + 0 }' "$log") ))
echo
echo "all: $passed passed, $failed failed, in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
[[ "$failed" -eq 0 && "$passed" -gt 0 ]]
