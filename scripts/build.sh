#!/usr/bin/env bash
# Builds the npm package (release, SIMD128) into pkg/, packs it into target/npm/, and prepares the
# demo in www/ (the package in www/pkg, self-describing model files in www/models; all git-ignored).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

rm -rf pkg target/pkg-train target/pkg-relaxed target/pkg-threads
# Inference (what every page loads), then the trainer (inference + candle's autograd: several times
# larger), which the package fetches only when a linear head is trained; the trainer is not run
# through wasm-opt: binaryen's (JavaScript) optimiser takes minutes on it, and its output measured
# larger gzipped (665 against 636 kB). Beside them, in its own target dir and in parallel (link-time
# optimisation leaves a core idle), inference again with relaxed SIMD (fused multiply-add), which
# browsers that validate it load instead.
# Then the threaded module (relaxed SIMD, atomics, shared memory), which workers of
# cross-origin-isolated pages load, in its own target dir beside the trainer; its glue is its own
# (it imports its memory), next to wasm-bindgen-rayon's worker helper in snippets/.
relaxed wasm_module target/pkg-relaxed mobilenet_wasm opt --no-default-features &
relaxed_build=$!
wasm_module pkg mobilenet_wasm opt --no-default-features
wait "$relaxed_build"
threaded wasm_module target/pkg-threads mobilenet_wasm_threads opt --no-default-features --features threads &
threaded_build=$!
wasm_module target/pkg-train mobilenet_wasm_train no-opt
wait "$threaded_build"
cp -r target/pkg-threads/mobilenet_wasm_threads{.js,.d.ts,_bg.wasm} target/pkg-threads/snippets pkg/
cp target/pkg-train/mobilenet_wasm_train{.js,.d.ts,_bg.wasm,_bg.wasm.d.ts} pkg/
# One JavaScript glue drives both modules, so their imports and exports must be the same.
if ! cmp -s pkg/mobilenet_wasm.js target/pkg-relaxed/mobilenet_wasm.js; then
  echo "[build] error: the relaxed-SIMD build's wasm-bindgen glue differs from the SIMD128 build's" >&2
  exit 1
fi
cp target/pkg-relaxed/mobilenet_wasm_bg.wasm pkg/mobilenet_wasm_relaxed_bg.wasm
cp pkg-template/* pkg/
# ImageNet-1k's class names, which Hub models without label_names get (from ../shared: the list is
# data, not code, and stays out of the repository).
node --input-type=module -e '
  import { readFileSync, writeFileSync } from "node:fs";
  const names = readFileSync(process.argv[1], "utf8").trimEnd().split("\n");
  if (names.length !== 1000) throw new Error(`${names.length} ImageNet class names, not 1000`);
  writeFileSync("pkg/imagenet-classes.json", JSON.stringify(names) + "\n");
' "$MOBILENET_SHARED_DIR/weights/imagenet_classes.txt"
for wasm in pkg/mobilenet_wasm_bg.wasm pkg/mobilenet_wasm_relaxed_bg.wasm pkg/mobilenet_wasm_threads_bg.wasm pkg/mobilenet_wasm_train_bg.wasm; do
  printf '[build] %s: %d kB, %d kB gzipped\n' "$wasm" $(( $(wc -c < $wasm) / 1024 )) $(( $(gzip -9 -c $wasm | wc -c) / 1024 ))
done
mkdir -p target/npm
rm -f target/npm/*.tgz
tarball=$(npm pack ./pkg --pack-destination target/npm --silent | tail -n 1)
printf '[build] package: target/npm/%s, %d kB\n' "$tarball" $(( $(wc -c < "target/npm/$tarball") / 1024 ))

rm -rf www/pkg
cp -r pkg www/pkg

# The converter, unless the caller has one (the test script passes the one `cargo test` built: the
# same code, optimised alike, without a second native build of every dependency).
convert="${MOBILENET_CONVERT:-}"
if [[ -z "$convert" ]]; then
  cargo build --release --bin mobilenet-convert
  convert="target/release/mobilenet-convert"
fi
# The demo's model files, from tests/models.json's `demo` entries (the first is the picker's
# default): each the smallest file (f16 or f32, BatchNorm folded) whose top-1 equals PyTorch's on
# every photo, which crate/tests/convert.rs checks for exactly these choices. Then models.json, the
# list the demo's picker reads.
mkdir -p www/models
node --input-type=module -e '
  import { execFileSync } from "node:child_process";
  import { readFileSync, statSync, writeFileSync } from "node:fs";
  const [convert, shared] = process.argv.slice(1);
  const manifest = JSON.parse(readFileSync("tests/models.json", "utf8"));
  const models = manifest.plain.filter((m) => m.demo).map(({ weights, options, demo }) => {
    const file = `models/${demo.file}.safetensors`;
    const flags = Object.entries(options).flatMap(([key, value]) => [`--${key}`, String(value)]);
    if (demo.f16) flags.push("--f16");
    flags.push("--fold-bn", "--labels", `${shared}/weights/imagenet_classes.txt`);
    execFileSync(convert, [...flags, `${shared}/${weights}`, `www/${file}`], { stdio: "inherit" });
    return { id: demo.file, name: demo.title, file, bytes: statSync(`www/${file}`).size };
  });
  writeFileSync("www/models/models.json", JSON.stringify(models, null, 2) + "\n");
' "$convert" "$MOBILENET_SHARED_DIR"
echo "[build] demo: www/ (package in www/pkg, models in www/models)"
