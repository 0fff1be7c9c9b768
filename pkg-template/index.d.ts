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
  | "DISPOSED" // the classifier (or learner) was disposed
  | "NO_EXAMPLES" // a learner was asked to classify, train or export before any example
  | "TOO_FEW_CLASSES" // classifying or training needs examples of two classes or more
  | "NOT_TRAINED" // the linear head has not been trained on the current classes
  | "BAD_LABEL" // a label is not a non-empty string, or names no class
  | "BAD_HEAD" // a head file is unreadable or inconsistent (e.g. an example of an unlabelled class)
  | "HEAD_MISMATCH" // a head (or embedding) made for another backbone
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
  /** URL of mobilenet_wasm_train_bg.wasm (fetched when a linear head is first trained). */
  trainerUrl?: string | URL;
  /**
   * URL of mobilenet_wasm_relaxed_bg.wasm, loaded instead of `wasmUrl` where the browser has
   * relaxed SIMD. Without it, a given `wasmUrl` is used everywhere.
   */
  relaxedWasmUrl?: string | URL;
  /**
   * false: always load the SIMD128 module. By default the relaxed-SIMD module (fused multiply-add,
   * faster) is loaded where the browser supports it. The first load of a page or worker decides.
   */
  relaxedSimd?: boolean;
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
  /** Length of `embed()`'s output. */
  readonly embeddingSize: number;
  /** Whether the file carried a custom head (from `learner.exportModel`), which then classifies. */
  readonly customHead: boolean;
  /** The module running it: "relaxed-simd" (fused multiply-add) or "simd128". */
  readonly simd: "relaxed-simd" | "simd128";
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
  /** A learner of your own classes on this model's embedding (see LearnerOptions). */
  learner(options?: LearnerOptions): Promise<Learner>;
  /** Frees the model (and stops the worker); later calls reject with code "DISPOSED". */
  dispose(): void;
}

export type LearnerOptions =
  | {
      /** "knn" (default): cosine k-nearest neighbours, nothing to train. "linear": a softmax layer. */
      head?: "knn" | "linear";
      /** Neighbours that vote (kNN; default 3). */
      k?: number;
    }
  | ({
      /** A file from `learner.export()`, made on this same backbone (URLs: not cached unless `cache`). */
      from: ModelSource;
      /** Take the file's examples to this head instead of the saved one. */
      head?: "knn" | "linear";
      k?: number;
    } & Pick<LoadOptions, "integrity" | "cache" | "onProgress">);

export interface TrainOptions {
  /** Default 30. */
  epochs?: number;
  /** AdamW's learning rate (default 0.01). */
  learningRate?: number;
  /** Default 32. */
  batchSize?: number;
  /** AdamW's decoupled weight decay (default 1e-4). */
  weightDecay?: number;
  /** Seeds the shuffling: the same examples and seed train the same head (default 0). */
  seed?: number;
  /** Called after every epoch. */
  onEpoch?: (stats: EpochStats) => void;
}

export interface EpochStats {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Mean cross-entropy over the examples during the epoch. */
  loss: number;
  /** Share of the examples classified right during the epoch, 0–1. */
  accuracy: number;
}

export interface LearnerPrediction {
  /** Position of the class in `learner.labels`. */
  index: number;
  label: string;
  probability: number;
}

/**
 * Your own classes on a classifier's frozen embedding, taught from examples. Made by
 * `classifier.learner()`; a worker classifier's learner lives in the worker.
 */
export interface Learner {
  readonly head: "knn" | "linear";
  /** Class names, in the order of their first example. */
  readonly labels: readonly string[];
  /** Examples per class. */
  readonly counts: Readonly<Record<string, number>>;
  /** Whether `classify` can answer: two classes or more, and the linear head trained on them. */
  readonly trained: boolean;
  /**
   * Adds an example of `label` (a new label is a new class). `augment` also adds a mirrored and a
   * slightly zoomed copy. Resolves to the number of examples of `label`.
   */
  addExample(image: ImageInput, label: string, options?: { augment?: boolean }): Promise<number>;
  /** Adds an embedding from `classifier.embed()` as an example of `label`. */
  addEmbedding(embedding: Float32Array, label: string): Promise<number>;
  /** Forgets a class and its examples (a linear head must be retrained). */
  removeClass(label: string): Promise<void>;
  /**
   * Trains the linear head from scratch on every example (each class needs one); resolves to the
   * last epoch's figures. Adding or removing a class meanwhile makes it fail (BAD_CONFIG); examples
   * added to existing classes wait for the next training.
   */
  train(options?: TrainOptions): Promise<EpochStats>;
  /** The most probable of your classes. `topK` defaults to 3. */
  classify(image: ImageInput, options?: ClassifyOptions): Promise<LearnerPrediction[]>;
  classifyEmbedding(embedding: Float32Array, options?: ClassifyOptions): Promise<LearnerPrediction[]>;
  /**
   * A safetensors file with the labels, the examples (unless `examples: false`: linear heads only;
   * smaller, still classifies, but training again needs new examples of every class) and the
   * trained weights; reopen it with `classifier.learner({ from })`.
   */
  export(options?: { examples?: boolean }): Promise<Uint8Array>;
  /**
   * One model file with the backbone (`modelSource`: the file the classifier was loaded from) and
   * this head; `Classifier.load` opens it as a classifier of your classes.
   */
  exportModel(
    modelSource: ModelSource,
    options?: Pick<LoadOptions, "integrity" | "cache" | "onProgress">,
  ): Promise<Uint8Array>;
  /** Frees the learner; later calls reject with code "DISPOSED". */
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
  learner(options?: LearnerOptions): Promise<Learner>;
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
  learner(options?: LearnerOptions): Promise<Learner>;
  dispose(): void;
}

/**
 * Where to fetch mobilenet_wasm_bg.wasm from, mobilenet_wasm_train_bg.wasm (fetched only when a
 * linear head is first trained) and mobilenet_wasm_relaxed_bg.wasm (loaded instead of the first
 * where the browser has relaxed SIMD); call before the first load.
 */
export function setWasmUrl(
  url: string | URL,
  trainerUrl?: string | URL,
  relaxedUrl?: string | URL,
): void;
/** Whether this browser runs WebAssembly relaxed SIMD (and so gets the faster module). */
export function relaxedSimdSupported(): boolean;

/** Size of the WebAssembly memory in bytes (diagnostics). */
export function wasmMemoryBytes(): Promise<number>;
