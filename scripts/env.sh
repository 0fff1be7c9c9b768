# Sourced by the other scripts: paths and tool locations shared by set-up, build and tests.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# Weights and references live next to the repository, never in it (override with the variable).
export MOBILENET_SHARED_DIR="${MOBILENET_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export GECKODRIVER="${GECKODRIVER:-$HOME/.cargo/bin/geckodriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-900}"
# `relaxed CMD…` runs a command (cargo, or a function below) for the relaxed-SIMD module:
# .cargo/config.toml's wasm32 flags plus relaxed-simd (RUSTFLAGS replaces the config's), in a
# target dir of its own so both builds stay incremental.
relaxed() {
  RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
    CARGO_TARGET_DIR="$ROOT/target/relaxed" "$@"
}

# `wasm_module OUT_DIR OUT_NAME OPTIMISE [cargo build args…]`: the crate's wasm32 library in
# release, its wasm-bindgen glue for `--target web` in OUT_DIR as OUT_NAME.js / OUT_NAME_bg.wasm,
# then, if OPTIMISE is "opt", wasm-opt (npm's binaryen) over it: -O3, and constant additions folded
# into load offsets, which spares V8 an address computation per load in the kernels' inner loops
# (V2 2–4 % faster); safe because Rust's stack fills the first megabyte, so addresses below 1 KB
# are never used. (What wasm-pack did, without a tool to build.)
wasm_module() {
  local out="$1" name="$2" optimise="$3"
  shift 3
  cargo build -p mobilenet-wasm --lib --release --target wasm32-unknown-unknown "$@"
  local target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
  wasm-bindgen --target web --typescript --out-dir "$out" --out-name "$name" \
    "$target_dir/wasm32-unknown-unknown/release/mobilenet_wasm.wasm"
  if [[ "$optimise" == opt ]]; then
    wasm-opt "$out/${name}_bg.wasm" -o "$out/${name}_bg.opt.wasm" \
      -O3 --low-memory-unused --optimize-added-constants-propagate
    mv "$out/${name}_bg.opt.wasm" "$out/${name}_bg.wasm"
  fi
}

# `wasm_tests [cargo test args…]`: the crate's tests compiled to wasm32 and run by
# wasm-bindgen-test-runner in the browser whose driver variable is set (CHROMEDRIVER or
# GECKODRIVER; the runner takes the first it finds, so set one). Profile wasm-test: see Cargo.toml.
wasm_tests() {
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p mobilenet-wasm --target wasm32-unknown-unknown --profile wasm-test "$@"
}

# `threaded CMD…` runs a command (cargo, or a function here) for the threaded module: relaxed SIMD
# plus atomics and shared memory, with std rebuilt for them (rust-src; RUSTC_BOOTSTRAP lets the
# stable toolchain take -Z build-std), the thread-local storage exports wasm-bindgen's thread
# start-up needs, and memory of at most 2 GiB (shared memory must declare a maximum), in a target
# dir of its own.
threaded() {
  local link="-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=2147483648"
  local tls
  for export in __wasm_init_tls __tls_size __tls_align __tls_base; do tls+=" -C link-arg=--export=$export"; done
  RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=panic_abort,std \
    RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd --cfg getrandom_backend=\"wasm_js\" $link$tls" \
    CARGO_TARGET_DIR="$ROOT/target/threaded" "$@"
}
