// Runs in the page: times our package and onnxruntime-web (wasm backend, one thread) on the same
// weights and the same input, one model after the other.
import { Classifier, wasmMemoryBytes } from "mobilenet-wasm";
import * as ort from "./ort/ort.wasm.min.mjs";

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

window.runBench = async (models, warmup, runs) => {
  const start = performance.now();
  await wasmMemoryBytes(); // fetch + compile + instantiate our wasm
  const compileMs = performance.now() - start;
  const tensor = input();
  const frame = { data: new Uint8Array(640 * 480 * 4).map((_, i) => (i * 7) % 251), width: 640, height: 480 };
  const results = [];
  for (const { name, weights, onnx, options } of models) {
    const modelBytes = await bytes(weights);
    const loadStart = performance.now();
    const ours = await Classifier.load(modelBytes, { ...options, cache: false });
    const loadMs = performance.now() - loadStart;
    const oursTime = await time(() => ours.logitsFromTensor(tensor, 224, 224), warmup, runs);
    const frameTime = await time(() => ours.classify(frame), 3, Math.max(10, runs / 5));
    const oursLogits = await ours.logitsFromTensor(tensor, 224, 224);
    ours.dispose();

    const session = await ort.InferenceSession.create(await bytes(onnx), {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", tensor, [1, 3, 224, 224]) };
    const ortTime = await time(() => session.run(feeds), warmup, runs);
    const ortLogits = (await session.run(feeds))[session.outputNames[0]].data;
    await session.release();
    let diff = 0;
    for (let i = 0; i < oursLogits.length; i++) diff = Math.max(diff, Math.abs(oursLogits[i] - ortLogits[i]));
    results.push({ name, ours: oursTime, ort: ortTime, frame: frameTime, loadMs, diff });
  }
  return { compileMs, results, userAgent: navigator.userAgent };
};
window.benchReady = true;
