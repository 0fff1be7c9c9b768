// The WebAssembly modules' start-up, once per page or worker: where they are fetched from, which
// inference build this engine gets (threaded, relaxed SIMD or SIMD128), and the trainer, loaded
// when needed.
import { MobileNetError } from "./errors.js";
import * as singleThreaded from "./mobilenet_wasm.js";

let wasmUrlOverride;
let trainerUrlOverride;
let relaxedUrlOverride;
let threadsUrlOverride;
let wasmReady;
let trainerReady;
/** `{ module, simd, threads }`: the glue module whose classes run, and what it is. */
let loaded;

/**
 * Where to fetch `mobilenet_wasm_bg.wasm` from (e.g. a CDN), `mobilenet_wasm_train_bg.wasm`
 * (fetched only when a linear head is first trained), `mobilenet_wasm_relaxed_bg.wasm` (the
 * module browsers with relaxed SIMD load instead of the first) and
 * `mobilenet_wasm_threads_bg.wasm` (the threaded one); call before the first load.
 */
export function setWasmUrl(url, trainerUrl, relaxedUrl, threadsUrl) {
  wasmUrlOverride = url;
  trainerUrlOverride = trainerUrl;
  relaxedUrlOverride = relaxedUrl;
  threadsUrlOverride = threadsUrl;
}

/** What `setWasmUrl` set, for a worker to use the same modules. */
export function wasmUrls() {
  return {
    wasmUrl: wasmUrlOverride,
    trainerUrl: trainerUrlOverride,
    relaxedWasmUrl: relaxedUrlOverride,
    threadsWasmUrl: threadsUrlOverride,
  };
}

/** Threads by default: the cores the browser reports, up to this (MobileNet's layers are small). */
const MAX_DEFAULT_THREADS = 4;

/**
 * Whether this realm may run the threaded module: a worker (a page's main thread may not wait on
 * other threads) of a cross-origin-isolated page (shared memory needs COOP and COEP).
 */
export function threadsAvailable() {
  return (
    globalThis.crossOriginIsolated === true &&
    typeof SharedArrayBuffer === "function" &&
    typeof WorkerGlobalScope === "function" &&
    globalThis instanceof WorkerGlobalScope
  );
}

/** The `threads` option checked: a whole number >= 1, or undefined for the default. */
function threadsOption(threads) {
  if (threads === undefined) return Math.min(globalThis.navigator?.hardwareConcurrency ?? 1, MAX_DEFAULT_THREADS);
  if (!Number.isInteger(threads) || threads < 1) {
    const got = typeof threads === "string" ? `${JSON.stringify(threads)} (a string)` : String(threads);
    throw new MobileNetError("BAD_CONFIG", `threads must be a whole number >= 1, got ${got}`);
  }
  return threads;
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
export async function trainerModule(trainerUrl) {
  const script = new URL("./mobilenet_wasm_train.js", import.meta.url).href;
  const wasm = trainerUrl ?? trainerUrlOverride ?? new URL("./mobilenet_wasm_train_bg.wasm", import.meta.url);
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
 * Loads the inference module once per page or worker: where threads are available and more than
 * one is asked (`threads`, by default the cores up to 4), the threaded build (relaxed SIMD, its
 * kernels split over a pool of that many Web Workers, started here once); else the relaxed-SIMD
 * build (fused multiply-add, the same code otherwise) where the engine validates it and
 * `relaxedSimd` is not false, else the SIMD128 build. A `wasmUrl` given without a
 * `relaxedWasmUrl` is used as it is. Resolves to `{ module, simd, threads }`.
 */
export async function ensureWasm({ wasmUrl, relaxedWasmUrl, threadsWasmUrl, relaxedSimd, threads } = {}) {
  const wanted = threadsOption(threads);
  wasmReady ??= Promise.resolve()
    .then(async () => {
      const plain = wasmUrl ?? wasmUrlOverride;
      // Literal `new URL("./…", import.meta.url)`s: bundlers copy the files they name.
      const packaged = plain === undefined;
      const relaxedUrl =
        relaxedWasmUrl ??
        relaxedUrlOverride ??
        (packaged ? new URL("./mobilenet_wasm_relaxed_bg.wasm", import.meta.url) : undefined);
      const relaxed = relaxedSimd !== false && relaxedUrl !== undefined && relaxedSimdSupported();
      const threadsUrl =
        threadsWasmUrl ??
        threadsUrlOverride ??
        (packaged ? new URL("./mobilenet_wasm_threads_bg.wasm", import.meta.url) : undefined);
      if (relaxed && wanted > 1 && threadsUrl !== undefined && threadsAvailable()) {
        const module = await threadedModule(threadsUrl, wanted);
        // A bundler that did not copy the threaded files, say: the single-threaded module serves.
        if (module) return (loaded = { module, simd: "relaxed-simd", threads: wanted });
      }
      const url = relaxed ? relaxedUrl : plain;
      await singleThreaded.default(url === undefined ? undefined : { module_or_path: url });
      return (loaded = { module: singleThreaded, simd: relaxed ? "relaxed-simd" : "simd128", threads: 1 });
    })
    .catch((cause) => {
      wasmReady = undefined;
      throw new MobileNetError("WASM_INIT", `could not load the WebAssembly module: ${cause.message}`, {
        cause,
      });
    });
  return wasmReady;
}

/**
 * The threaded glue module with its pool of `threads` workers started, or undefined where it
 * cannot start. Loaded by URL, as the trainer is, so that bundlers copy it rather than split it;
 * its workers import it again by its own URL (wasm-bindgen-rayon's no-bundler helper).
 */
async function threadedModule(wasmUrl, threads) {
  try {
    const script = new URL("./mobilenet_wasm_threads.js", import.meta.url).href;
    const module = await import(/* @vite-ignore */ /* webpackIgnore: true */ script);
    await module.default({ module_or_path: wasmUrl });
    await module.initThreadPool(threads);
    return module;
  } catch {
    return undefined;
  }
}

/** What `ensureWasm` loaded: `{ module, simd, threads }` (the wasm-bindgen classes: `module`). */
export function loadedWasm() {
  if (!loaded) throw new MobileNetError("INTERNAL", "the WebAssembly module is not loaded yet");
  return loaded;
}

/** Bytes of the WebAssembly memory (diagnostics: it must stay flat while classifying). */
export async function wasmMemoryBytes() {
  return (await ensureWasm()).module.memoryBytes();
}
