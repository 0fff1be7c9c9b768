// The WebAssembly modules' start-up, once per page or worker: where they are fetched from, which
// inference build this engine gets (relaxed SIMD or SIMD128), and the trainer, loaded when needed.
import { MobileNetError } from "./errors.js";
import initWasm from "./mobilenet_wasm.js";

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
 * Loads the inference module once per page or worker: the relaxed-SIMD build (fused multiply-add,
 * the same code otherwise) where the engine validates it and `relaxedSimd` is not false, else the
 * SIMD128 build. A `wasmUrl` given without a `relaxedWasmUrl` is used as it is.
 */
export async function ensureWasm({ wasmUrl, relaxedWasmUrl, relaxedSimd } = {}) {
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

/** The inference build `ensureWasm` chose: "relaxed-simd" or "simd128". */
export function loadedSimdVariant() {
  return simdVariant;
}

/** Bytes of the WebAssembly memory (diagnostics: it must stay flat while classifying). */
export async function wasmMemoryBytes() {
  return (await ensureWasm()).memory.buffer.byteLength;
}
