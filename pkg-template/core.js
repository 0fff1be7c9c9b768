// The classifier running in the current thread (a page or a worker), and what it shares with the
// worker variant: errors, model download (progress, integrity, Cache Storage), pixels from images.
import initWasm, { Learner as WasmLearner, MobileNet } from "./mobilenet_wasm.js";

/** An error with a stable, machine-readable `code`. */
export class MobileNetError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "MobileNetError";
    this.code = code;
  }
}

const DEFAULT_CACHE = "mobilenet-wasm";

let wasmUrlOverride;
let trainerUrlOverride;
let relaxedUrlOverride;
let wasmReady;
let trainerReady;
let simdVariant;

/**
 * Where to fetch `mobilenet_wasm_bg.wasm` from (e.g. a CDN), `mobilenet_wasm_train_bg.wasm`
 * (fetched only when a linear head is first trained) and `mobilenet_wasm_relaxed_bg.wasm` (the
 * module browsers with relaxed SIMD load instead of the first); call before the first load.
 */
export function setWasmUrl(url, trainerUrl, relaxedUrl) {
  wasmUrlOverride = url;
  trainerUrlOverride = trainerUrl;
  relaxedUrlOverride = relaxedUrl;
}

/** What `setWasmUrl` set, for a worker to use the same modules. */
export function wasmUrls() {
  return { wasmUrl: wasmUrlOverride, trainerUrl: trainerUrlOverride, relaxedWasmUrl: relaxedUrlOverride };
}

// The smallest module using f32x4.relaxed_madd ((v128) -> v128, madd of its argument thrice):
// it validates exactly where the engine has relaxed SIMD.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, // magic, version
  1, 6, 1, 96, 1, 123, 1, 123, // types: (v128) -> v128
  3, 2, 1, 0, // one function of type 0
  10, 13, 1, 11, 0, 32, 0, 32, 0, 32, 0, 253, 133, 2, 11, // local.get 0 ×3, f32x4.relaxed_madd, end
]);

/** Whether this engine runs WebAssembly relaxed SIMD (fused multiply-add). */
export function relaxedSimdSupported() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * The trainer module: inference plus candle's autograd, too large to load before it is needed.
 * Loaded by URL rather than by `import("./…")`: bundlers then copy it as an asset instead of
 * code-splitting it, which they cannot do inside a worker built as a classic script (Vite's
 * default). Its wasm URL is given here, where bundlers see and copy it.
 */
async function trainerModule() {
  const script = new URL("./mobilenet_wasm_train.js", import.meta.url).href;
  const wasm = trainerUrlOverride ?? new URL("./mobilenet_wasm_train_bg.wasm", import.meta.url);
  trainerReady ??= import(/* @vite-ignore */ /* webpackIgnore: true */ script)
    .then(async (module) => {
      await module.default({ module_or_path: wasm });
      return module;
    })
    .catch((cause) => {
      trainerReady = undefined;
      throw new MobileNetError("WASM_INIT", `could not load the training module: ${cause.message}`, { cause });
    });
  return trainerReady;
}

/**
 * Loads the inference module once per page or worker: the relaxed-SIMD build (fused multiply-add,
 * the same code otherwise) where the engine validates it and `relaxedSimd` is not false, else the
 * SIMD128 build. A `wasmUrl` given without a `relaxedWasmUrl` is used as it is.
 */
async function ensureWasm({ wasmUrl, relaxedWasmUrl, relaxedSimd } = {}) {
  wasmReady ??= Promise.resolve()
    .then(() => {
      const plain = wasmUrl ?? wasmUrlOverride;
      const relaxedUrl =
        relaxedWasmUrl ??
        relaxedUrlOverride ??
        (plain === undefined ? new URL("./mobilenet_wasm_relaxed_bg.wasm", import.meta.url) : undefined);
      const relaxed = relaxedSimd !== false && relaxedUrl !== undefined && relaxedSimdSupported();
      const url = relaxed ? relaxedUrl : plain;
      simdVariant = relaxed ? "relaxed-simd" : "simd128";
      return initWasm(url === undefined ? undefined : { module_or_path: url });
    })
    .catch((cause) => {
      wasmReady = undefined;
      throw new MobileNetError("WASM_INIT", `could not load the WebAssembly module: ${cause.message}`, {
        cause,
      });
    });
  return wasmReady;
}

/** Bytes of the WebAssembly memory (diagnostics: it must stay flat while classifying). */
export async function wasmMemoryBytes() {
  return (await ensureWasm()).memory.buffer.byteLength;
}

export function baseUrl() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

// ---------------------------------------------------------------- model bytes

/** Model bytes from a URL, ArrayBuffer, typed array or Response. */
export async function readSource(source, options = {}) {
  const { onProgress, integrity } = options;
  let bytes;
  if (typeof source === "string" || source instanceof URL) {
    return fetchModel(new URL(source, baseUrl()), options);
  } else if (source instanceof ArrayBuffer) {
    bytes = new Uint8Array(source);
  } else if (ArrayBuffer.isView(source)) {
    bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  } else if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw new MobileNetError("FETCH", `the response is HTTP ${source.status}`);
    bytes = await readResponse(source, onProgress);
  } else {
    throw new MobileNetError(
      "BAD_SOURCE",
      "the model source must be a URL, string, ArrayBuffer, Uint8Array or Response",
    );
  }
  if (integrity && !(await hasIntegrity(bytes, integrity))) {
    throw new MobileNetError("INTEGRITY", `the model does not match its integrity ${integrity}`);
  }
  return bytes;
}

async function openCache(cache) {
  if (cache === false || typeof caches === "undefined") return null;
  try {
    return await caches.open(typeof cache === "string" ? cache : DEFAULT_CACHE);
  } catch {
    return null; // e.g. storage disabled: download every time
  }
}

async function fetchModel(url, { cache = true, integrity, onProgress }) {
  const store = await openCache(cache);
  const cached = store && (await store.match(url.href).catch(() => undefined));
  if (cached) {
    const bytes = await readResponse(cached, onProgress);
    if (!integrity || (await hasIntegrity(bytes, integrity))) return bytes;
    await store.delete(url.href); // stale or tampered copy: download again
  }
  let response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new MobileNetError("FETCH", `could not download ${url}: ${cause.message}`, { cause });
  }
  if (!response.ok) {
    throw new MobileNetError("FETCH", `could not download ${url}: HTTP ${response.status}`);
  }
  const bytes = await readResponse(response, onProgress);
  if (integrity && !(await hasIntegrity(bytes, integrity))) {
    throw new MobileNetError("INTEGRITY", `${url} does not match its integrity ${integrity}`);
  }
  if (store) {
    const copy = new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } });
    await store.put(url.href, copy).catch(() => {});
  }
  return bytes;
}

/** The whole body, reporting `(loaded, total)`; `total` is undefined when the size is unknown. */
async function readResponse(response, onProgress) {
  const length = Number(response.headers.get("Content-Length"));
  // A compressed body's length says nothing about the bytes we will read.
  const total = length > 0 && !response.headers.get("Content-Encoding") ? length : undefined;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

const DIGESTS = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };

async function hasIntegrity(bytes, integrity) {
  const match = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(String(integrity).trim());
  if (!match) {
    throw new MobileNetError("INTEGRITY", `integrity must look like "sha256-<base64>", got "${integrity}"`);
  }
  if (!globalThis.crypto?.subtle) {
    throw new MobileNetError(
      "INTEGRITY",
      "cannot verify integrity: crypto.subtle is unavailable (the page is not a secure context)",
    );
  }
  const digest = new Uint8Array(await crypto.subtle.digest(DIGESTS[match[1]], bytes));
  return btoa(String.fromCharCode(...digest)) === match[2];
}

// ---------------------------------------------------------------- pixels

let scratch;

function scratchContext(width, height) {
  if (!scratch) {
    const canvas =
      typeof OffscreenCanvas !== "undefined"
        ? new OffscreenCanvas(width, height)
        : globalThis.document?.createElement("canvas");
    const context = canvas?.getContext("2d", { willReadFrequently: true });
    if (!context) throw new MobileNetError("BAD_IMAGE", "no 2D canvas is available to read pixels");
    scratch = { canvas, context };
  }
  const { canvas, context } = scratch;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  } else {
    context.clearRect(0, 0, width, height);
  }
  return context;
}

/** `value instanceof globalThis[name]`, false where the type does not exist (e.g. in workers). */
export const is = (value, name) => typeof globalThis[name] === "function" && value instanceof globalThis[name];

/** An ImageData or `{ data, width, height }`, as opposed to something a canvas draws; throws on none. */
export function isPixelArray(image) {
  if (image == null) throw new MobileNetError("BAD_IMAGE", "no image given");
  return is(image, "ImageData") || (image.data !== undefined && !is(image, "HTMLElement"));
}

/** `{ width, height }` of anything a canvas can draw, waiting for images still loading. */
async function drawableSize(image) {
  if (isImageElement(image)) {
    if (!image.complete || !image.naturalWidth) {
      try {
        await image.decode();
      } catch {
        throw new MobileNetError("BAD_IMAGE", "the image could not be loaded or decoded");
      }
    }
    return { width: image.naturalWidth, height: image.naturalHeight };
  }
  if (is(image, "HTMLVideoElement")) {
    if (image.readyState < 2) {
      throw new MobileNetError("BAD_IMAGE", "the video has no frame yet (wait for 'loadeddata')");
    }
    return { width: image.videoWidth, height: image.videoHeight };
  }
  if (is(image, "VideoFrame")) return { width: image.displayWidth, height: image.displayHeight };
  if (
    is(image, "HTMLCanvasElement") ||
    is(image, "OffscreenCanvas") ||
    is(image, "ImageBitmap")
  ) {
    return { width: image.width, height: image.height };
  }
  throw new MobileNetError(
    "BAD_IMAGE",
    "unsupported image: expected ImageData, an <img>, <canvas>, <video>, OffscreenCanvas, " +
      "ImageBitmap, VideoFrame or { data, width, height }",
  );
}

export const isImageElement = (image) => is(image, "HTMLImageElement") || is(image, "SVGImageElement");

/**
 * A bitmap of an <img> decoded without colour management: PIL, and so every PyTorch pipeline,
 * ignores embedded ICC profiles, while drawing the element would convert to the display's colours.
 */
export function rawBitmap(image) {
  return createImageBitmap(image, { colorSpaceConversion: "none" });
}

/** RGBA pixels of any supported image: `{ data: Uint8Array, width, height }`. */
export async function toPixels(image) {
  if (isPixelArray(image)) {
    const { data, width, height } = image;
    if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
      throw new MobileNetError("BAD_IMAGE", "image.data must be a Uint8Array or Uint8ClampedArray of RGBA");
    }
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new MobileNetError("BAD_IMAGE", `image size ${width}x${height} is not a pair of whole numbers`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  }
  const { width, height } = await drawableSize(image);
  if (!width || !height) throw new MobileNetError("BAD_IMAGE", `the image is ${width}x${height}`);
  const context = scratchContext(width, height);
  try {
    if (isImageElement(image)) {
      const bitmap = await rawBitmap(image);
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
    } else {
      context.drawImage(image, 0, 0);
    }
    const { data } = context.getImageData(0, 0, width, height);
    return { data: new Uint8Array(data.buffer), width, height };
  } catch (cause) {
    const hint =
      cause?.name === "SecurityError"
        ? "the image is cross-origin without CORS (serve it with CORS and set crossOrigin = 'anonymous')"
        : cause.message;
    throw new MobileNetError("BAD_IMAGE", `could not read the image's pixels: ${hint}`, { cause });
  }
}

// ---------------------------------------------------------------- classifier

const MODEL_OPTIONS = ["arch", "width", "padding", "activation", "inputSize", "labels"];

/** Runs `call` on the wasm model, turning its errors into MobileNetErrors. */
function guarded(call) {
  try {
    return call();
  } catch (error) {
    if (error instanceof MobileNetError) throw error;
    throw new MobileNetError(error?.code ?? "INTERNAL", error?.message ?? String(error), {
      cause: error,
    });
  }
}

function checkLabel(label) {
  if (typeof label !== "string" || !label.trim()) {
    throw new MobileNetError("BAD_LABEL", `a label must be a non-empty string, got ${JSON.stringify(label)}`);
  }
  return label;
}

function checkEmbedding(embedding) {
  if (!(embedding instanceof Float32Array)) {
    throw new MobileNetError("BAD_INPUT", "the embedding must be a Float32Array (from classifier.embed)");
  }
  return embedding;
}

/** Lets the page paint (and a worker read its messages) between training epochs. */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Your own classes on a classifier's embedding: a cosine k-nearest-neighbour head (instant) or a
 * softmax linear head trained in WebAssembly. Made by `classifier.learner()`.
 */
export class Learner {
  #model;
  #learner;
  #state;

  constructor(model, learner) {
    this.#model = model;
    this.#learner = learner;
    this.#refresh();
  }

  static async create(model, { head, k = 3, from, ...sourceOptions } = {}) {
    if (!Number.isInteger(k) || k < 1) {
      throw new MobileNetError("BAD_CONFIG", `k must be a whole number >= 1, got ${k}`);
    }
    if (from === undefined) {
      return new Learner(model, guarded(() => new WasmLearner(model(), String(head ?? "knn"), k)));
    }
    // Head files are small and change as they are retrained: not cached unless asked.
    const bytes = await readSource(from, { cache: false, ...sourceOptions });
    const learner = guarded(() => WasmLearner.fromBytes(model(), bytes));
    if (head !== undefined) {
      // The saved examples, under another head.
      try {
        guarded(() => learner.setHead(String(head), k));
      } catch (error) {
        learner.free();
        throw error;
      }
    }
    return new Learner(model, learner);
  }

  /** `"knn"` or `"linear"`. */
  get head() {
    return this.#state.head;
  }

  /** Class names, in the order of their first example. */
  get labels() {
    return this.#state.labels;
  }

  /** `{ label: examples }` for every class. */
  get counts() {
    return this.#state.counts;
  }

  /** Whether `classify` can answer: two classes or more, and the linear head trained on them. */
  get trained() {
    return this.#state.trained;
  }

  /** Adds `image` (any image the classifier accepts) as an example of `label`; with `augment`, a
   * mirrored and a slightly zoomed copy too. Resolves to the number of examples of `label`. */
  async addExample(image, label, { augment = false } = {}) {
    checkLabel(label);
    const { data, width, height } = await toPixels(image);
    guarded(() => this.#live().addRgba(this.#model(), data, width, height, label, Boolean(augment)));
    return this.#refresh().counts[label];
  }

  /** Adds an embedding (from `classifier.embed`) as an example of `label`. */
  async addEmbedding(embedding, label) {
    checkLabel(label);
    checkEmbedding(embedding);
    guarded(() => this.#live().addEmbedding(embedding, label));
    return this.#refresh().counts[label];
  }

  /** Forgets a class and its examples. */
  async removeClass(label) {
    checkLabel(label);
    guarded(() => this.#live().removeLabel(label));
    this.#refresh();
  }

  /**
   * Trains the linear head from scratch on every example: `{ epochs = 30, learningRate = 0.01,
   * batchSize = 32, weightDecay = 1e-4, seed = 0, onEpoch }`. `onEpoch({ epoch, epochs, loss,
   * accuracy })` follows each epoch. Resolves to the last epoch's figures.
   */
  async train({ onEpoch, ...options } = {}) {
    const { examples, classes, numClasses, dim, revision } = guarded(() => this.#live().trainingData());
    const { Trainer } = await trainerModule();
    const trainer = guarded(() => new Trainer(examples, classes, numClasses, dim, options));
    try {
      let yielded = performance.now();
      for (;;) {
        const stats = guarded(() => trainer.epoch());
        // Usable after every epoch: a live view sees the head improve.
        // Refused (BAD_CONFIG) if classes were added or removed meanwhile.
        guarded(() => this.#live().setLinear(trainer.weight(), trainer.bias(), revision));
        this.#refresh();
        onEpoch?.(stats);
        if (stats.epoch === stats.epochs) return stats;
        if (performance.now() - yielded > 15) {
          await nextTask();
          yielded = performance.now();
        }
      }
    } finally {
      trainer.free();
    }
  }

  /** The `topK` most probable of your classes: `[{ index, label, probability }]`. */
  async classify(image, { topK = 3 } = {}) {
    checkTopK(topK);
    const { data, width, height } = await toPixels(image);
    return guarded(() => this.#live().classifyRgba(this.#model(), data, width, height, topK));
  }

  /** Like `classify`, for an embedding from `classifier.embed`. */
  async classifyEmbedding(embedding, { topK = 3 } = {}) {
    checkTopK(topK);
    checkEmbedding(embedding);
    return guarded(() => this.#live().classifyEmbedding(embedding, topK));
  }

  /**
   * The learner as a safetensors file (labels, examples, trained weights), to reopen with
   * `classifier.learner({ from })`. `{ examples: false }` leaves the examples out (linear heads
   * only): the file is smaller and still classifies, but training again needs new examples of
   * every class.
   */
  async export({ examples = true } = {}) {
    return guarded(() => this.#live().toBytes(Boolean(examples)));
  }

  /**
   * One model file holding the backbone and this head: `Classifier.load` opens it as a classifier
   * of your classes. `modelSource` is the file the classifier was loaded from (URL or bytes).
   */
  async exportModel(modelSource, sourceOptions = {}) {
    const bytes = await readSource(modelSource, sourceOptions);
    return guarded(() => this.#model().withHead(bytes, this.#live()));
  }

  /** Frees the learner's memory; later calls reject with code DISPOSED. */
  dispose() {
    this.#learner?.free();
    this.#learner = undefined;
  }

  #refresh() {
    const state = this.#live().state;
    state.counts = Object.fromEntries(state.labels.map((label, i) => [label, state.counts[i]]));
    this.#state = Object.freeze(state);
    return this.#state;
  }

  #live() {
    if (!this.#learner) throw new MobileNetError("DISPOSED", "the learner has been disposed");
    return this.#learner;
  }
}

function checkTopK(topK) {
  if (!Number.isInteger(topK) || topK < 1) {
    throw new MobileNetError("BAD_CONFIG", `topK must be a whole number >= 1, got ${topK}`);
  }
  return topK;
}

/**
 * A MobileNet classifier running in this thread. The package exports it with `loadInWorker` added
 * (index.js): the worker script imports this module, and must not pull in the worker launcher.
 */
export class Classifier {
  #model;
  #info;

  constructor(model) {
    this.#model = model;
    this.#info = Object.freeze({ ...model.info, simd: simdVariant });
  }

  /** Loads a model file (see the typings for `source` and `options`). */
  static async load(source, options = {}) {
    if (options.trainerUrl !== undefined) trainerUrlOverride = options.trainerUrl;
    await ensureWasm(options);
    const bytes = await readSource(source, options);
    const modelOptions = Object.fromEntries(
      MODEL_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]),
    );
    return new this(guarded(() => new MobileNet(bytes, modelOptions)));
  }

  get info() {
    this.#live();
    return this.#info;
  }

  async classify(image, { topK = 5 } = {}) {
    checkTopK(topK);
    const { data, width, height } = await toPixels(image);
    return guarded(() => this.#live().classifyRgba(data, width, height, topK));
  }

  async logits(image) {
    const { data, width, height } = await toPixels(image);
    return guarded(() => this.#live().logitsRgba(data, width, height));
  }

  async embed(image) {
    const { data, width, height } = await toPixels(image);
    return guarded(() => this.#live().embedRgba(data, width, height));
  }

  /** Logits of an already preprocessed float32 NCHW tensor `[1, 3, height, width]`. */
  async logitsFromTensor(tensor, height, width) {
    if (!(tensor instanceof Float32Array)) {
      throw new MobileNetError("BAD_INPUT", "the tensor must be a Float32Array");
    }
    return guarded(() => this.#live().logitsNchw(tensor, height, width));
  }

  /**
   * A learner of your own classes on this model's embedding: `{ head: "knn" | "linear", k }` for a
   * new one, or `{ from }` (a file saved by `learner.export()`: URL, bytes or Response) to go on,
   * with `head` to take its examples to another head.
   */
  async learner(options = {}) {
    const model = () => this.#live();
    return Learner.create(model, options);
  }

  /** Frees the model's memory; later calls reject with code DISPOSED. */
  dispose() {
    this.#model?.free();
    this.#model = undefined;
  }

  #live() {
    if (!this.#model) throw new MobileNetError("DISPOSED", "the classifier has been disposed");
    return this.#model;
  }
}
