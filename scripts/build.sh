#!/usr/bin/env bash
# Builds the npm package (release, SIMD128) into pkg/, packs it into target/npm/, and prepares the
# demo in www/ (the package in www/pkg, self-describing model files in www/models; all git-ignored).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

rm -rf pkg
wasm-pack build crate --release --target web --out-dir ../pkg --mode no-install --no-pack
rm -f pkg/.gitignore
cp pkg-template/* pkg/
wasm=pkg/mobilenet_wasm_bg.wasm
printf '[build] wasm: %d kB, %d kB gzipped\n' $(( $(wc -c < $wasm) / 1024 )) $(( $(gzip -9 -c $wasm | wc -c) / 1024 ))
mkdir -p target/npm
rm -f target/npm/*.tgz
tarball=$(npm pack ./pkg --pack-destination target/npm --silent | tail -n 1)
printf '[build] package: target/npm/%s, %d kB\n' "$tarball" $(( $(wc -c < "target/npm/$tarball") / 1024 ))

rm -rf www/pkg
cp -r pkg www/pkg

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
