#!/usr/bin/env bash
# Idempotent set-up of everything the build and the tests need, on a fresh machine or this one.
# Installs only what is missing, so a second run makes no network requests.
#   --no-browsers   skip the browsers and their drivers (enough to build and serve the demo)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
browsers=1
[[ "${1:-}" == "--no-browsers" ]] && browsers=0
log() { echo "[setup] $*"; }

# wasm-bindgen-cli must match the wasm-bindgen the lock file pins.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The threaded module rebuilds std with atomics (scripts/env.sh's `threaded`).
if ! rustup component list --installed | grep -q '^rust-src'; then
  log "adding the rust-src component"
  rustup component add rust-src
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: its own lock file pins crates that no longer build with this toolchain.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [[ ! -x node_modules/.bin/wasm-opt ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm dev dependencies"
  npm ci --no-audit --no-fund
fi

if (( browsers )); then
  missing=()
  # WebKitGTK's WebDriver brings its MiniBrowser, which needs an X display: Xvfb.
  for pkg in chromium chromium-driver firefox-esr webkit2gtk-driver xvfb; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]}"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v geckodriver >/dev/null; then
    log "installing geckodriver"
    cargo install geckodriver --locked
  fi
fi

if [[ ! -d "$MOBILENET_SHARED_DIR/weights" ]]; then
  echo "[setup] error: no weights at $MOBILENET_SHARED_DIR/weights (set MOBILENET_SHARED_DIR)" >&2
  exit 1
fi
log "ready"
