// The classifier running in the current thread (a page or a worker). The worker variant shares
// errors, sources and pixels.
import { checkTopK, guarded, MobileNetError } from "./errors.js";
import { Learner } from "./learner.js";
import { HUB_MODELS } from "./models.js";
import { readPixels } from "./pixels.js";
import { ensureWasm } from "./runtime.js";
import { hubSource, readHubModel, readSource } from "./sources.js";

const MODEL_OPTIONS = ["arch", "width", "padding", "activation", "inputSize", "cropPct", "interpolation", "labels", "compute"];

let imagenetReady;

/**
 * ImageNet-1k's class names, in class-index order, fetched with the first model that needs them.
 * By URL, as the trainer module is: bundlers copy the file as an asset, where an `import()` would
 * need code splitting, which a worker built as a classic script (Vite's default) cannot do.
 */
async function imagenetClasses() {
  imagenetReady ??= fetch(new URL("./imagenet-classes.json", import.meta.url))
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .catch((cause) => {
      imagenetReady = undefined;
      throw new MobileNetError("FETCH", `could not load ImageNet's class names: ${cause.message}`, { cause });
    });
  return imagenetReady;
}

/**
 * A MobileNet classifier running in this thread. The package exports it with `loadInWorker` added
 * (index.js): the worker script imports this module, and must not pull in the worker launcher.
 */
export class Classifier {
  #model;
  #info;
  #trainerUrl;

  constructor(model, trainerUrl, simd) {
    this.#model = model;
    this.#info = Object.freeze({ ...model.info, simd });
    // This load's, for its learners only: a later load without one gets the package's own.
    this.#trainerUrl = trainerUrl;
  }

  /**
   * Loads a model: a Hub repository by id (the default model when `source` is undefined), or a
   * model file (see the typings for `source` and `options`).
   */
  static async load(source, options = {}) {
    const { module, simd } = await ensureWasm(options);
    const modelOptions = Object.fromEntries(
      MODEL_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]),
    );
    const hubId = hubSource(source);
    let bytes;
    if (hubId === undefined) {
      bytes = await readSource(source, options);
    } else {
      const hub = await readHubModel(hubId, options);
      bytes = hub.bytes;
      modelOptions.timmConfig = hub.config;
      // timm's ImageNet-1k configs name no classes: they are ImageNet's.
      const classes = hub.json.num_classes ?? hub.json.pretrained_cfg?.num_classes;
      if (modelOptions.labels === undefined && !hub.json.label_names && classes === 1000) {
        modelOptions.labels = await imagenetClasses();
      }
    }
    return new this(guarded(() => new module.MobileNet(bytes, modelOptions)), options.trainerUrl, simd);
  }

  /** The Hugging Face Hub models the package is tested with: `{ id, arch, name, parameters, bytes }`. */
  static get models() {
    return HUB_MODELS;
  }

  get info() {
    this.#live();
    return this.#info;
  }

  async classify(image, { topK = 5 } = {}) {
    checkTopK(topK);
    const reader = await this.#read(image);
    return guarded(() => this.#live().classifyPixels(reader, topK));
  }

  async logits(image) {
    const reader = await this.#read(image);
    return guarded(() => this.#live().logitsPixels(reader));
  }

  async embed(image) {
    const reader = await this.#read(image);
    return guarded(() => this.#live().embedPixels(reader));
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
    return Learner.create(model, { trainerUrl: this.#trainerUrl, ...options });
  }

  /** Frees the model's memory; later calls reject with code DISPOSED. */
  dispose() {
    this.#model?.free();
    this.#model = undefined;
  }

  /** `image` read for this model, a strip of rows at a time. */
  #read(image) {
    return readPixels(image, (width, height) => this.#live().pixelReader(width, height, false));
  }

  #live() {
    if (!this.#model) throw new MobileNetError("DISPOSED", "the classifier has been disposed");
    return this.#model;
  }
}
