// Runs in the page: times our package, onnxruntime-web and TensorFlow.js (wasm backends, one thread)
// on the same weights and the same input, one model after the other, and LiteRT.js on the uint8
// .tflite files those weights were dequantized from.
import { Tensor, loadAndCompile, loadLiteRt } from "@litertjs/core";
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

/** LiteRT's sanity check: a photo of ../shared/images that every model classifies alike (285). */
const PHOTO = "chelsea.png";

/**
 * `tensor` (NCHW float32 in [-2, 2)) as a quantized .tflite's input: uint8 NHWC, [-2, 2) mapped
 * onto 0..255, so that LiteRT runs on values as varied as the others'.
 */
function nhwcUint8(tensor) {
  const pixels = 224 * 224;
  const bytes = new Uint8Array(3 * pixels);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) bytes[3 * i + c] = Math.round((tensor[c * pixels + i] + 2) * 63.75);
  }
  return bytes;
}

/**
 * LiteRT's top-1 ImageNet class of `bitmap`: its centre crop as Resize(256) + CenterCrop(224) takes
 * it, as RGB bytes (the TF-slim quantized models read 0..255 as [-1, 1] themselves).
 */
async function litertTop1(model, bitmap) {
  const side = (Math.min(bitmap.width, bitmap.height) * 224) / 256;
  const context = new OffscreenCanvas(224, 224).getContext("2d");
  context.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, 224, 224);
  const rgba = context.getImageData(0, 0, 224, 224).data;
  const input = new Tensor(new Uint8Array(3 * 224 * 224).map((_, i) => rgba[4 * Math.floor(i / 3) + (i % 3)]), [1, 224, 224, 3]);
  const [output] = await model.run(input);
  const scores = output.toTypedArray();
  input.delete();
  output.delete();
  const best = scores.reduce((b, v, i) => (v > scores[b] ? i : b), 0);
  // TF-slim's 1001-way head has a background class 0 before ImageNet's 1000.
  return best - (scores.length - 1000);
}

/**
 * Times each model with our package (the relaxed-SIMD or the SIMD128 module, as `relaxedSimd` asks)
 * and, with `withOthers`, onnxruntime-web and TensorFlow.js, all three taking turns, and on a page of
 * one thread LiteRT.js too where the model has a .tflite (`tflite`). On a page of
 * `?threads=N` (cross-origin isolated), the others run N threads, and ours runs twice: in the page
 * (one thread: a page's main thread may not wait on others) and in a worker with N threads
 * (`oursThreaded`, the tensor copied there and the logits back on every run).
 */
window.runBench = async (models, warmup, runs, { relaxedSimd, withOthers }) => {
  const tensor = input();
  const frame = { data: new Uint8Array(640 * 480 * 4).map((_, i) => (i * 7) % 251), width: 640, height: 480 };
  let tfjsReady, litertReady, photo;
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
    // The int8 file of a trained model, its 1×1 convs in int8, in the single-thread rounds (in
    // the threaded ones a third runner of ours in the page slowed the worker's runs).
    let int8;
    if (model.int8 && threads === 1) {
      int8 = await Classifier.load(await bytes(model.int8), { cache: false, relaxedSimd, compute: "int8" });
      if (int8.info.compute !== "int8") throw new Error(`the int8 file computes in ${int8.info.compute}`);
      runners.oursInt8 = () => int8.logitsFromTensor(tensor, 224, 224);
    }
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
    let litert, litertInput;
    if (withOthers && threads === 1 && model.tflite) {
      // Its module without threads (loadLiteRt's default), and XNNPACK asked for one thread too.
      litertReady ??= loadLiteRt(new URL("./litert/", location.href).href);
      await litertReady;
      litert = await loadAndCompile(await bytes(model.tflite), { accelerator: "wasm", cpuOptions: { numThreads: 1 } });
      const { dtype, shape } = litert.getInputDetails()[0];
      if (dtype !== "uint8" || shape.join() !== "1,224,224,3") throw new Error(`${model.tflite}: input ${dtype} [${shape}]`);
      litertInput = new Tensor(nhwcUint8(tensor), [1, 224, 224, 3]);
      // The scores read back, as the others return theirs.
      runners.litert = async () => {
        const [output] = await litert.run(litertInput);
        output.toTypedArray();
        output.delete();
      };
    }
    const result = { name, loadMs, reloadMs, ...(await timeInTurns(runners, warmup, runs)) };
    result.frame = (await timeInTurns({ frame: () => ours.classify(frame) }, 3, Math.max(10, runs / 5))).frame;
    result.oursLogits = Array.from(await ours.logitsFromTensor(tensor, 224, 224));
    if (litert) {
      photo ??= await createImageBitmap(await (await fetch(`${shared}/images/${PHOTO}`)).blob());
      result.photoTop1 = { ours: (await ours.classify(photo, { topK: 1 }))[0].index, litert: await litertTop1(litert, photo) };
      litertInput.delete();
      litert.delete();
    }
    ours.dispose();
    if (int8) {
      result.int8Logits = Array.from(await int8.logitsFromTensor(tensor, 224, 224));
      int8.dispose();
    }
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
  photo?.close();
  return { simd, results, photo: PHOTO, userAgent: navigator.userAgent, memory: await wasmMemoryBytes() };
};
window.benchReady = true;
