// Runs in tests/bench/init.html, a page that loads nothing but our package (as a user's page
// would), so that other libraries' start-up does not run alongside.
import { Classifier } from "mobilenet-wasm";

/**
 * Init as the issue defines it, in a page that has not loaded our module yet: wasm compile and
 * instantiate, then the first model built from bytes in memory. Both files are fetched before the
 * clock starts (the module through a `blob:` URL, so the package still compiles it streaming).
 */
window.runInit = async ({ url, options }, relaxedSimd) => {
  const modelBytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const wasmFile = relaxedSimd ? "mobilenet_wasm_relaxed_bg.wasm" : "mobilenet_wasm_bg.wasm";
  const wasm = await (await fetch(new URL(wasmFile, import.meta.resolve("mobilenet-wasm")))).blob();
  const wasmUrl = URL.createObjectURL(new Blob([wasm], { type: "application/wasm" }));
  const start = performance.now();
  const ours = await Classifier.load(modelBytes, {
    ...options,
    cache: false,
    relaxedSimd,
    ...(relaxedSimd ? { relaxedWasmUrl: wasmUrl } : { wasmUrl }),
  });
  const initMs = performance.now() - start;
  const simd = ours.info.simd;
  ours.dispose();
  return { initMs, simd };
};

window.initReady = true;
