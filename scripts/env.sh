# Sourced by the other scripts: paths and tool locations shared by set-up, build and tests.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
# Weights and references live next to the repository, never in it (override with the variable).
export MOBILENET_SHARED_DIR="${MOBILENET_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export GECKODRIVER="${GECKODRIVER:-$HOME/.cargo/bin/geckodriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-900}"
# `relaxed CMD…` runs a cargo or wasm-pack command for the relaxed-SIMD module: .cargo/config.toml's
# wasm32 flags plus relaxed-simd (RUSTFLAGS replaces the config's), in a target dir of its own so
# both builds stay incremental (absolute: wasm-pack runs cargo in crate/).
relaxed() {
  RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
    CARGO_TARGET_DIR="$ROOT/target/relaxed" "$@"
}
