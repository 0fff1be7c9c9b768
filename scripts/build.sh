#!/usr/bin/env bash
# Builds the wasm package (release, SIMD128) into www/pkg and converts the real checkpoints into
# self-describing model files in www/models (both git-ignored).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

wasm-pack build crate --release --target web --out-dir ../www/pkg --mode no-install
gzip -9 -c www/pkg/mobilenet_wasm_bg.wasm | wc -c | awk '{ printf "[build] wasm: %.0f kB gzipped\n", $1 / 1024 }'

cargo build --release --bin mobilenet-convert
convert="target/release/mobilenet-convert"
weights="$MOBILENET_SHARED_DIR/weights"
labels="$weights/imagenet_classes.txt"
mkdir -p www/models
$convert --arch mobilenet_v3_small --padding tf --labels "$labels" --f16 --fold-bn \
  "$weights/mobilenetv3_small_100.safetensors" www/models/mobilenet_v3_small.safetensors
$convert --arch mobilenet_v2 --labels "$labels" --f16 --fold-bn \
  "$weights/mobilenetv2_100.safetensors" www/models/mobilenet_v2.safetensors
$convert --arch mobilenet_v1 --width 0.75 --padding tf --labels "$labels" --f16 --fold-bn \
  "$weights/mobilenetv1_075.safetensors" www/models/mobilenet_v1_075.safetensors
