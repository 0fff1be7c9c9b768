#!/usr/bin/env bash
# Every test: formatting and lints, the native suite, a minute of fuzzing, the same suite compiled
# to wasm32 (SIMD128 in Chrome and WebKit, the threaded module in Chrome and Firefox), then the npm
# package in pages (plain page, worker, Hub models, transfer learning on the digits) and the demo
# with a fake camera in Chromium, Firefox and WebKit, and in Chromium hostile inputs, threads, the
# README and Vite app tests, the typings and the server.
# Ends with the page tests' counts per engine, then one "N passed, N failed" line over all runners.
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

# The wasm suite (the crate's tests compiled to wasm32) once per module and once per engine, where
# each run proves something the others do not: the SIMD128 module in Chrome (V8) and in WebKit
# (JavaScriptCore, which has no relaxed SIMD: it does not validate relaxed_madd, so it only ever
# gets the SIMD128 module), the relaxed-SIMD module in Firefox (SpiderMonkey). Chrome's relaxed and
# Firefox's SIMD128 runs repeated these (same Rust code, same engines) and were dropped; the page
# tests below still run both modules in Chromium and Firefox against PyTorch's logits.
# Each module is compiled by its first run. wasm-bindgen's runner takes the first driver variable
# it finds (GECKODRIVER, then SAFARIDRIVER, then CHROMEDRIVER): each run sees only its own, and must
# say it ran there. For WebKit it drives WebKitWebDriver as it drives safaridriver, which starts
# WebKitGTK's MiniBrowser (no headless mode: on an Xvfb display).
wasm_run() {
  local build="$1" browser="$2" name="$3"
  shift 3
  step "wasm32 + ${build:-SIMD128} module tests in $browser"
  local run_log status=0
  run_log="$(mktemp)"
  case "$browser" in
    chrome) (unset GECKODRIVER && $build wasm_tests "$@") ;;
    firefox) (unset CHROMEDRIVER && $build wasm_tests "$@") ;;
    webkit) (export SAFARIDRIVER=/usr/bin/WebKitWebDriver &&
      xvfb-run -a -s "-screen 0 1280x1024x24" bash -c 'source scripts/env.sh && unset GECKODRIVER CHROMEDRIVER && wasm_tests "$@"' wasm "$@") ;;
  esac 2>&1 | tee "$run_log" | tee -a "$log" || status=$?
  # A failing run goes on to the next steps (the last line's counts then fail the script); one that
  # failed without a failed test counts as one.
  if (( status )) && ! grep -q "test result: FAILED" "$run_log"; then
    echo "test result: FAILED. 0 passed; 1 failed" >> "$log"
  fi
  if ! grep -q "Running headless tests in" "$run_log" || grep "Running headless tests in" "$run_log" | grep -qv " in $name "; then
    echo "error: the $browser run did not run in $name" | tee -a "$log"
    echo "test result: FAILED. 0 passed; 1 failed" >> "$log"
  fi
  rm -f "$run_log"
}
wasm_run "" chrome Chrome
# The threaded module (relaxed SIMD, atomics, shared memory) in Chrome and in Firefox (SpiderMonkey),
# its tests in a dedicated worker of the runner's cross-origin-isolated page, splitting their
# kernels over a pool of 2 (tests/common's thread_pool); one compile serves both. It is the relaxed
# module's code with threads, so the relaxed module's own run in Firefox was dropped: the page tests
# hold the relaxed and SIMD128 modules to PyTorch's logits in Chromium and Firefox.
wasm_run threaded chrome Chrome --features threads
wasm_run threaded firefox Firefox --features threads
# In WebKit without the four tests that hold the browser's decoding of the JPEG photos to PIL's
# (crate/tests/common's decode_rgba): WebKit ignores createImageBitmap's colorSpaceConversion:
# "none" and converts a JPEG's ICC profile to sRGB (rocket.jpg, hubble_deep_field.jpg), so
# rocket.jpg's input is off (its sum by about 10,900) and MobileNetV2 gives PyTorch's runner-up of
# a near tie (0.369 against 0.335). tests/package.test.mjs checks what WebKit does with them.
wasm_run "" webkit Safari -- --skip demo_files_keep_top1 --skip top1_every_trained_checkpoint \
  --skip preprocessing_matches_torchvision --skip photos_every_timm_checkpoint

step "npm package and demo: build and pack"
MOBILENET_CONVERT="$ROOT/target/debug/mobilenet-convert" bash scripts/build.sh

# The page tests, engine by engine (tests/support/browsers.mjs), three files at a time: much of a
# page test's time is spent waiting on one core. Chromium runs them all; Firefox and WebKit the
# ones that drive the package, the Hub loads (through a local Hub server given as hubUrl) and the
# demo in a page. The README example and the Vite app load from https://huggingface.co itself,
# which only Playwright's request routing answers; the typings and the server use no browser; the
# hostile-input and threads tests measure Chromium's wasm memory and its isolated workers.
engine_logs=()
for engine in chromium firefox webkit; do
  step "page tests in $engine"
  files=(tests/package.test.mjs tests/learner.test.mjs tests/demo.test.mjs tests/hub.test.mjs)
  [[ $engine == chromium ]] && files+=(tests/hostile.test.mjs tests/threads.test.mjs tests/readme.test.mjs
    tests/vite.test.mjs tests/types.test.mjs tests/serve.test.mjs)
  engine_log="$(mktemp)"
  engine_logs+=("$engine:$engine_log")
  status=0
  MOBILENET_ENGINE=$engine node --test --test-concurrency=3 --test-reporter=spec "${files[@]}" 2>&1 |
    tee "$engine_log" | tee -a "$log" || status=$?
  # Every engine runs, whatever the one before did; a run that failed without a failed test (or
  # died before node's summary) counts as one failure.
  if (( status )) && ! grep -Eq '^ℹ fail [1-9]' "$engine_log"; then
    echo "ℹ fail 1" | tee -a "$log" "$engine_log"
  fi
done
step "done"

# cargo/wasm-bindgen-test: "test result: ok. N passed; M failed"; node: "ℹ pass N", "ℹ fail M".
results=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" || true)
passed=$(( $(awk '{ s += $4 } END { print s + 0 }' <<<"$results") + $(awk '/^ℹ pass / { s += $3 } END { print s + 0 }' "$log") ))
failed=$(( $(awk '{ s += $6 } END { print s + 0 }' <<<"$results") + $(awk '/^ℹ fail / { s += $3 } END { print s + 0 }' "$log") ))
by_engine=()
for entry in "${engine_logs[@]}"; do
  engine_log="${entry#*:}"
  by_engine+=("${entry%%:*}: $(awk '/^ℹ pass / { s += $3 } END { print s + 0 }' "$engine_log") passed, $(awk '/^ℹ fail / { s += $3 } END { print s + 0 }' "$engine_log") failed")
  rm -f "$engine_log"
done
echo
echo "page tests by engine: $(IFS=';'; echo "${by_engine[*]}" | sed 's/;/; /g')"
echo "all: $passed passed, $failed failed, in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
[[ "$failed" -eq 0 && "$passed" -gt 0 ]]
