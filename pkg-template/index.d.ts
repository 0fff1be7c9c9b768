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
  | "NON_FINITE" // a result overflowed float32 (out-of-range weights or normalization): never an answer
  | "WASM_INIT" // the WebAssembly module could not be loaded
  | "WORKER" // the worker could not start or crashed
  | "INTERNAL"; // a bug: please report it

export class MobileNetError extends Error {
  readonly name: "MobileNetError";
  readonly code: ErrorCode;
  /** The HTTP status, for FETCH errors of a download the server answered. */
  readonly status?: number;
}

/** torchvision-layout families (any width), then the MobileNets timm registers, by timm's name. */
export type Architecture =
  | "mobilenet_v3_small"
  | "mobilenet_v3_large"
  | "mobilenet_v2"
  | "mobilenet_v1"
  | "mobilenext"
  | "mobilenetv1_100"
  | "mobilenetv1_100h"
  | "mobilenetv1_125"
  | "mobilenetv2_035"
  | "mobilenetv2_050"
  | "mobilenetv2_075"
  | "mobilenetv2_100"
  | "mobilenetv2_140"
  | "mobilenetv2_110d"
  | "mobilenetv2_120d"
  | "mobilenetv3_large_075"
  | "mobilenetv3_large_100"
  | "mobilenetv3_large_150d"
  | "mobilenetv3_small_050"
  | "mobilenetv3_small_075"
  | "mobilenetv3_small_100"
  | "tf_mobilenetv3_large_075"
  | "tf_mobilenetv3_large_100"
  | "tf_mobilenetv3_large_minimal_100"
  | "tf_mobilenetv3_small_075"
  | "tf_mobilenetv3_small_100"
  | "tf_mobilenetv3_small_minimal_100"
  | "mobilenetv4_conv_small_035"
  | "mobilenetv4_conv_small_050"
  | "mobilenetv4_conv_small"
  | "mobilenetv4_conv_medium"
  | "mobilenetv4_conv_large";

/**
 * A Hugging Face Hub repository holding a timm model (`config.json` + `model.safetensors`), e.g.
 * "timm/mobilenetv4_conv_small.e2400_r224_in1k": two path segments, no scheme, no leading "./"
 * or "/", not ending in ".safetensors" (write "./a/b" for a relative URL of that shape).
 */
export type HubId = `${string}/${string}`;

/** Where a model comes from: a Hub repository, a URL (fetched, cached), or its bytes. */
export type ModelSource = HubId | string | URL | ArrayBuffer | Uint8Array | Response;

/** A Hub model the package is tested with (see `Classifier.models`). */
export interface HubModel {
  readonly id: HubId;
  readonly arch: Architecture;
  /** For people: "MobileNetV4-Conv-Small". */
  readonly name: string;
  readonly parameters: number;
  /** Size of its model.safetensors on the Hub (float32). */
  readonly bytes: number;
}

/** The Hub model `Classifier.load()` loads when given no source. */
export const DEFAULT_MODEL: HubId;

export interface LoadOptions {
  /** Download progress; `totalBytes` is undefined when the server does not say. */
  onProgress?: (loadedBytes: number, totalBytes: number | undefined) => void;
  /** Subresource-integrity string, e.g. "sha256-<base64>": the model is verified before use. */
  integrity?: string;
  /** Keep downloaded models in Cache Storage (default true for URLs); a string names the cache. */
  cache?: boolean | string;
  /** Where Hub ids are fetched from: `{hubUrl}/{id}/resolve/{revision}/…` (default "https://huggingface.co"). */
  hubUrl?: string | URL;
  /** The Hub revision: a branch, tag or commit (default "main"; a commit pins the files). */
  revision?: string;
  /** URL of mobilenet_wasm_bg.wasm, when it is not served next to the package (CDNs). */
  wasmUrl?: string | URL;
  /**
   * URL of mobilenet_wasm_train_bg.wasm, for this classifier's learners (fetched when a linear head
   * is first trained; the module, once loaded, serves every classifier).
   */
  trainerUrl?: string | URL;
  /**
   * URL of mobilenet_wasm_relaxed_bg.wasm, loaded instead of `wasmUrl` where the browser has
   * relaxed SIMD. Without it, a given `wasmUrl` is used everywhere.
   */
  relaxedWasmUrl?: string | URL;
  /**
   * URL of mobilenet_wasm_threads_bg.wasm, the threaded module (when it is not served next to the
   * package).
   */
  threadsWasmUrl?: string | URL;
  /**
   * false: always load the SIMD128 module. By default the relaxed-SIMD module (fused multiply-add,
   * faster) is loaded where the browser supports it. The first load of a page or worker decides.
   */
  relaxedSimd?: boolean;
  /**
   * Threads inference may use (default: the cores the browser reports, up to 4). More than one runs
   * the threaded module, where it can run: in a worker (`loadInWorker`, or `load` called in your
   * own worker) of a cross-origin-isolated page (served with `Cross-Origin-Opener-Policy:
   * same-origin` and `Cross-Origin-Embedder-Policy: require-corp`) whose browser has relaxed
   * SIMD; elsewhere one thread runs, as `info.threads` says. 1 keeps the single-threaded modules.
   * The first load of a page or worker decides.
   */
  threads?: number;
  /**
   * What the 1×1 convolutions compute in. "int8": weights quantized per output channel, each
   * input per image as it runs (the rest stays float32): faster, and within quantization error of
   * float32. Default: "int8" for a file of int8 weights (`mobilenet-convert --int8`), "float32"
   * for any other; "float32" runs an int8 file's weights dequantized at load.
   */
  compute?: "float32" | "int8";
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
  /** timm's crop fraction: the shorter side is resized to floor(inputSize / cropPct). */
  cropPct?: number;
  /** The resize's filter, as Pillow computes it (default "bilinear"; timm's configs say "bicubic"). */
  interpolation?: "bilinear" | "bicubic";
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
  readonly interpolation: "bilinear" | "bicubic";
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
  /** Threads its kernels split their work over: 1, or the threaded module's pool. */
  readonly threads: number;
  /** What the 1×1 convolutions compute in (the `compute` option). */
  readonly compute: "float32" | "int8";
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
   * One model file with the backbone (`modelSource`: what the classifier was loaded from, a Hub
   * id included, with the same `hubUrl` and `revision`) and this head; `Classifier.load` opens it
   * as a classifier of your classes.
   */
  exportModel(
    modelSource: ModelSource,
    options?: Pick<LoadOptions, "integrity" | "cache" | "onProgress" | "hubUrl" | "revision">,
  ): Promise<Uint8Array>;
  /** Frees the learner; later calls reject with code "DISPOSED". */
  dispose(): void;
}

/** A classifier running in the calling thread. */
export class Classifier {
  /**
   * Loads a model: a Hub id (config.json describes it; 1000-class ImageNet models get ImageNet's
   * labels), a model file, or with no source `DEFAULT_MODEL`.
   */
  static load(source?: ModelSource, options?: LoadOptions): Promise<Classifier>;
  /** The same API with inference in a dedicated worker, keeping the page's thread free. */
  static loadInWorker(source?: ModelSource, options?: WorkerLoadOptions): Promise<WorkerClassifier>;
  /** The Hub models the package is tested with (the first is `DEFAULT_MODEL`). */
  static readonly models: readonly HubModel[];
}
// Its instance members, shared with WorkerClassifier (declaration merging).
export interface Classifier extends ClassifierMethods {}

/** A classifier running in a dedicated worker (see Classifier.loadInWorker). */
export class WorkerClassifier {
  static load(source?: ModelSource, options?: WorkerLoadOptions): Promise<WorkerClassifier>;
}
export interface WorkerClassifier extends ClassifierMethods {}

/**
 * Where to fetch mobilenet_wasm_bg.wasm from, mobilenet_wasm_train_bg.wasm (fetched only when a
 * linear head is first trained), mobilenet_wasm_relaxed_bg.wasm (loaded instead of the first
 * where the browser has relaxed SIMD) and mobilenet_wasm_threads_bg.wasm (the threaded module);
 * call before the first load.
 */
export function setWasmUrl(
  url: string | URL,
  trainerUrl?: string | URL,
  relaxedUrl?: string | URL,
  threadsUrl?: string | URL,
): void;
/** Whether this browser runs WebAssembly relaxed SIMD (and so gets the faster module). */
export function relaxedSimdSupported(): boolean;

/** Size of the WebAssembly memory in bytes (diagnostics). */
export function wasmMemoryBytes(): Promise<number>;
