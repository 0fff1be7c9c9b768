// The classifier running in the current thread (a page or a worker), and what it shares with the
// worker variant: errors, model download (progress, integrity, Cache Storage), pixels from images.
import initWasm, { MobileNet } from "./mobilenet_wasm.js";

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
let wasmReady;

/** Where to fetch `mobilenet_wasm_bg.wasm` from (e.g. a CDN); call before the first load. */
export function setWasmUrl(url) {
  wasmUrlOverride = url;
}

async function ensureWasm(wasmUrl) {
  const url = wasmUrl ?? wasmUrlOverride;
  wasmReady ??= initWasm(url === undefined ? undefined : { module_or_path: url }).catch((cause) => {
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
    this.#info = Object.freeze({ ...model.info });
  }

  /** Loads a model file (see the typings for `source` and `options`). */
  static async load(source, options = {}) {
    await ensureWasm(options.wasmUrl);
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
