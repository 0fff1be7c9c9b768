// Runs in the page: times our package, onnxruntime-web and TensorFlow.js (wasm backends, one thread)
// on the same weights and the same input, one model after the other.
import { Classifier, wasmMemoryBytes } from "mobilenet-wasm";
import * as ort from "./ort/ort.wasm.min.mjs";
import { setupTfjs, tfjsModel } from "./tfjs-models.js";

// Threads for every library (the 2-thread section's page is cross-origin isolated).
const threads = Number(new URLSearchParams(location.search).get("threads") ?? 1);
ort.env.wasm.numThreads = threads;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;

const shared = new URLSearchParams(location.search).get("shared");
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

/** Median, 90th percentile and minimum of `ms`. */
function summary(ms) {
  ms = [...ms].sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], p90: ms[Math.floor(ms.length * 0.9)], min: ms[0] };
}

/**
 * Times each of `runners` (name → async function) `runs` times after `warmup` calls each, taking
 * turns run by run: a slow spell of the machine then weighs on every runner alike, and their
 * ratios stay meaningful on a noisy machine.
 */
async function timeInTurns(runners, warmup, runs) {
  const entries = Object.entries(runners);
  for (const [, run] of entries) for (let i = 0; i < warmup; i++) await run();
  const ms = Object.fromEntries(entries.map(([name]) => [name, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, run] of entries) {
      const start = performance.now();
      await run();
      ms[name].push(performance.now() - start);
    }
  }
  return Object.fromEntries(entries.map(([name]) => [name, summary(ms[name])]));
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
 * Times each model with our package (the relaxed-SIMD or the SIMD128 module, as `relaxedSimd` asks)
 * and, with `withOthers`, onnxruntime-web and TensorFlow.js, all three taking turns. On a page of
 * `?threads=N` (cross-origin isolated), the others run N threads, and ours runs twice: in the page
 * (one thread: a page's main thread may not wait on others) and in a worker with N threads
 * (`oursThreaded`, the tensor copied there and the logits back on every run).
 */
window.runBench = async (models, warmup, runs, { relaxedSimd, withOthers }) => {
  const tensor = input();
  const frame = { data: new Uint8Array(640 * 480 * 4).map((_, i) => (i * 7) % 251), width: 640, height: 480 };
  let tfjsReady;
  const results = [];
  let simd;
  for (const model of models) {
    const { name, url, onnx, options } = model;
    const modelBytes = await bytes(url);
    const loadStart = performance.now();
    const ours = await Classifier.load(modelBytes, { ...options, cache: false, relaxedSimd });
    const loadMs = performance.now() - loadStart;
    simd = ours.info.simd;
    const reloadStart = performance.now();
    (await Classifier.load(modelBytes, { ...options, cache: false })).dispose();
    const reloadMs = performance.now() - reloadStart;
    const runners = { ours: () => ours.logitsFromTensor(tensor, 224, 224) };
    let threaded;
    if (threads > 1) {
      threaded = await Classifier.loadInWorker(modelBytes, { ...options, cache: false, threads });
      if (threaded.info.threads !== threads) throw new Error(`the worker runs ${threaded.info.threads} threads`);
      runners.oursThreaded = () => threaded.logitsFromTensor(tensor, 224, 224);
    }
    let session, feeds, tfjs;
    if (withOthers) {
      tfjsReady ??= setupTfjs(new URL("./tfjs/", location.href).href, threads);
      await tfjsReady;
      session = await ort.InferenceSession.create(await bytes(`${shared}/${onnx}`), {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
      feeds = { [session.inputNames[0]]: new ort.Tensor("float32", tensor, [1, 3, 224, 224]) };
      tfjs = await tfjsModel(model, modelBytes);
      runners.ort = () => session.run(feeds);
      runners.tfjs = () => tfjs.predict(tensor);
    }
    const result = { name, loadMs, reloadMs, ...(await timeInTurns(runners, warmup, runs)) };
    result.frame = (await timeInTurns({ frame: () => ours.classify(frame) }, 3, Math.max(10, runs / 5))).frame;
    result.oursLogits = Array.from(await ours.logitsFromTensor(tensor, 224, 224));
    ours.dispose();
    if (threaded) {
      result.threadedLogits = Array.from(await threaded.logitsFromTensor(tensor, 224, 224));
      threaded.dispose();
    }
    if (withOthers) {
      result.ortLogits = Array.from((await session.run(feeds))[session.outputNames[0]].data);
      await session.release();
      result.tfjsLogits = Array.from(tfjs.predict(tensor));
      tfjs.dispose();
    }
    results.push(result);
  }
  return { simd, results, userAgent: navigator.userAgent, memory: await wasmMemoryBytes() };
};
window.benchReady = true;
