/** Stable codes of every error this package throws (`error.code`). */
export type ErrorCode =
  | "BAD_MODEL" // not a readable safetensors file (empty, truncated, corrupt)
  | "MISSING_TENSOR" // the checkpoint lacks a tensor the architecture needs (named in the message)
  | "TENSOR_SHAPE" // a tensor has the wrong shape for the architecture/width (named)
  | "UNUSED_TENSORS" // the checkpoint has tensors the architecture does not use (wrong architecture)
  | "UNKNOWN_ARCH" // unknown architecture, or none given for a plain checkpoint
  | "BAD_CONFIG" // an option is out of range or inconsistent (e.g. labels vs classes)
  | "BAD_IMAGE" // unsupported image type, no pixels, wrong buffer length, cross-origin image
  | "BAD_INPUT" // an input tensor of an unusable shape
  | "BAD_SOURCE" // the model source is not a URL, ArrayBuffer, Uint8Array or Response
  | "FETCH" // the model could not be downloaded
  | "INTEGRITY" // the model does not match options.integrity
  | "DISPOSED" // the classifier was disposed
  | "WASM_INIT" // the WebAssembly module could not be loaded
  | "WORKER" // the worker could not start or crashed
  | "INTERNAL"; // a bug: please report it

export class MobileNetError extends Error {
  readonly name: "MobileNetError";
  readonly code: ErrorCode;
}

export type Architecture =
  | "mobilenet_v3_small"
  | "mobilenet_v3_large"
  | "mobilenet_v2"
  | "mobilenet_v1"
  | "mobilenext";

/** Where a model file comes from: a URL (fetched, cached), or its bytes. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Response;

export interface LoadOptions {
  /** Download progress; `totalBytes` is undefined when the server does not say. */
  onProgress?: (loadedBytes: number, totalBytes: number | undefined) => void;
  /** Subresource-integrity string, e.g. "sha256-<base64>": the model is verified before use. */
  integrity?: string;
  /** Keep downloaded models in Cache Storage (default true for URLs); a string names the cache. */
  cache?: boolean | string;
  /** URL of mobilenet_wasm_bg.wasm, when it is not served next to the package (CDNs). */
  wasmUrl?: string | URL;
  // For plain (non-self-describing) PyTorch-layout checkpoints, or to override a model file:
  arch?: Architecture;
  /** Width multiplier (default 1). */
  width?: number;
  /** "torch": symmetric k/2 padding; "tf": TensorFlow SAME (TF-trained weights). Default "torch". */
  padding?: "torch" | "tf";
  /** MobileNetV1 only: TF-slim's released weights use "relu6" (default), the paper "relu". */
  activation?: "relu6" | "relu";
  /** Side of the square network input (default 224; the shorter side is resized to 256/224 of it). */
  inputSize?: number;
  /** One label per class, in class-index order. */
  labels?: string[];
}

export interface WorkerLoadOptions extends LoadOptions {
  /** Use this worker (running this package's worker.js) instead of starting one. */
  worker?: Worker;
}

export interface ModelInfo {
  readonly arch: Architecture;
  readonly width: number;
  readonly inputSize: number;
  readonly numClasses: number;
  readonly parameters: number;
  /** Whether the model has class labels. */
  readonly labels: boolean;
}

export interface Prediction {
  index: number;
  /** null when the model has no labels. */
  label: string | null;
  probability: number;
}

/** RGBA pixels, 4 bytes per pixel, row by row. */
export interface RawPixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** Anything the classifier reads pixels from. Resize, crop and normalization happen in wasm. */
export type ImageInput =
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLVideoElement
  | ImageBitmap
  | VideoFrame
  | RawPixels;

export interface ClassifyOptions {
  /** How many classes to return (default 5). */
  topK?: number;
}

interface ClassifierMethods {
  readonly info: ModelInfo;
  /** The most probable classes, most probable first. */
  classify(image: ImageInput, options?: ClassifyOptions): Promise<Prediction[]>;
  /** Raw logits, one per class. */
  logits(image: ImageInput): Promise<Float32Array>;
  /** Pooled features before the classifier (for transfer learning). */
  embed(image: ImageInput): Promise<Float32Array>;
  /**
   * Logits of an input you preprocessed yourself: float32, NCHW `[1, 3, height, width]`, already
   * resized and normalized (e.g. an ImageNet-normalized 224×224 crop).
   */
  logitsFromTensor(tensor: Float32Array, height: number, width: number): Promise<Float32Array>;
  /** Frees the model (and stops the worker); later calls reject with code "DISPOSED". */
  dispose(): void;
}

/** A classifier running in the calling thread. */
export class Classifier implements ClassifierMethods {
  static load(source: ModelSource, options?: LoadOptions): Promise<Classifier>;
  /** The same API with inference in a dedicated worker, keeping the page's thread free. */
  static loadInWorker(source: ModelSource, options?: WorkerLoadOptions): Promise<WorkerClassifier>;
  readonly info: ModelInfo;
  classify(image: ImageInput, options?: ClassifyOptions): Promise<Prediction[]>;
  logits(image: ImageInput): Promise<Float32Array>;
  embed(image: ImageInput): Promise<Float32Array>;
  logitsFromTensor(tensor: Float32Array, height: number, width: number): Promise<Float32Array>;
  dispose(): void;
}

/** A classifier running in a dedicated worker (see Classifier.loadInWorker). */
export class WorkerClassifier implements ClassifierMethods {
  static load(source: ModelSource, options?: WorkerLoadOptions): Promise<WorkerClassifier>;
  readonly info: ModelInfo;
  classify(image: ImageInput, options?: ClassifyOptions): Promise<Prediction[]>;
  logits(image: ImageInput): Promise<Float32Array>;
  embed(image: ImageInput): Promise<Float32Array>;
  logitsFromTensor(tensor: Float32Array, height: number, width: number): Promise<Float32Array>;
  dispose(): void;
}

/** Where to fetch mobilenet_wasm_bg.wasm from; call before the first load. */
export function setWasmUrl(url: string | URL): void;

/** Size of the WebAssembly memory in bytes (diagnostics). */
export function wasmMemoryBytes(): Promise<number>;
