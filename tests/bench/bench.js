// Runs in the page: times our package, onnxruntime-web and TensorFlow.js (wasm backends, one thread)
// on the same weights and the same input, one model after the other.
import { Classifier, wasmMemoryBytes } from "mobilenet-wasm";
import * as ort from "./ort/ort.wasm.min.mjs";
import { setupTfjs, tfjsModel } from "./tfjs-models.js";

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;

const shared = new URLSearchParams(location.search).get("shared");
const bytes = async (path) => new Uint8Array(await (await fetch(`${shared}/${path}`)).arrayBuffer());

async function time(run, warmup, runs) {
  for (let i = 0; i < warmup; i++) await run();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], p90: ms[Math.floor(ms.length * 0.9)], min: ms[0] };
}

/** A deterministic, roughly normalized-image-like input. */
function input() {
  const tensor = new Float32Array(3 * 224 * 224);
  let state = 12345;
  for (let i = 0; i < tensor.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    tensor[i] = (state / 2 ** 32) * 4 - 2;
  }
  return tensor;
}

/**
 * Init as the issue defines it, in a page that has not loaded our module yet: wasm compile and
 * instantiate, then the first model built from bytes in memory. Both files are fetched before the
 * clock starts (the module through a `blob:` URL, so the package still compiles it streaming).
 */
window.runInit = async ({ weights, options }, relaxedSimd) => {
  const modelBytes = await bytes(weights);
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

/**
 * Times each model with our package (the relaxed-SIMD or the SIMD128 module, as `relaxedSimd` asks)
 * and, with `withOthers`, onnxruntime-web and TensorFlow.js.
 */
window.runBench = async (models, warmup, runs, { relaxedSimd, withOthers }) => {
  const tensor = input();
  const frame = { data: new Uint8Array(640 * 480 * 4).map((_, i) => (i * 7) % 251), width: 640, height: 480 };
  let tfjsReady;
  const results = [];
  let simd;
  for (const { name, weights, onnx, options } of models) {
    const modelBytes = await bytes(weights);
    const loadStart = performance.now();
    const ours = await Classifier.load(modelBytes, { ...options, cache: false, relaxedSimd });
    const loadMs = performance.now() - loadStart;
    simd = ours.info.simd;
    const reloadStart = performance.now();
    (await Classifier.load(modelBytes, { ...options, cache: false })).dispose();
    const reloadMs = performance.now() - reloadStart;
    const oursTime = await time(() => ours.logitsFromTensor(tensor, 224, 224), warmup, runs);
    const frameTime = await time(() => ours.classify(frame), 3, Math.max(10, runs / 5));
    const oursLogits = await ours.logitsFromTensor(tensor, 224, 224);
    ours.dispose();
    const result = { name, ours: oursTime, frame: frameTime, loadMs, reloadMs, oursLogits: Array.from(oursLogits) };
    if (withOthers) {
      tfjsReady ??= setupTfjs(new URL("./tfjs/", location.href).href);
      await tfjsReady;
      const session = await ort.InferenceSession.create(await bytes(onnx), {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
      const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", tensor, [1, 3, 224, 224]) };
      result.ort = await time(() => session.run(feeds), warmup, runs);
      result.ortLogits = Array.from((await session.run(feeds))[session.outputNames[0]].data);
      await session.release();
      const tfjs = await tfjsModel(name, modelBytes);
      result.tfjs = await time(() => tfjs.predict(tensor), warmup, runs);
      result.tfjsLogits = Array.from(tfjs.predict(tensor));
      tfjs.dispose();
    }
    results.push(result);
  }
  return { simd, results, userAgent: navigator.userAgent, memory: await wasmMemoryBytes() };
};
window.benchReady = true;
