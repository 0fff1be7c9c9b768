// The classifier running in the current thread (a page or a worker) and its learners. The worker
// variant shares errors, sources and pixels.
import { MobileNetError } from "./errors.js";
import { Learner as WasmLearner, MobileNet } from "./mobilenet_wasm.js";
import { toPixels } from "./pixels.js";
import { HUB_MODELS } from "./models.js";
import { ensureWasm, loadedSimdVariant, trainerModule } from "./runtime.js";
import { hubSource, readHubModel, readModelBytes, readSource } from "./sources.js";

const MODEL_OPTIONS = ["arch", "width", "padding", "activation", "inputSize", "cropPct", "interpolation", "labels"];

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
  #trainerUrl;

  constructor(model, learner, trainerUrl) {
    this.#model = model;
    this.#learner = learner;
    this.#trainerUrl = trainerUrl;
    this.#refresh();
  }

  /** `trainerUrl`: where this learner's classifier was told the trainer module is, if anywhere. */
  static async create(model, { head, k = 3, from, trainerUrl, ...sourceOptions } = {}) {
    if (!Number.isInteger(k) || k < 1) {
      throw new MobileNetError("BAD_CONFIG", `k must be a whole number >= 1, got ${k}`);
    }
    if (from === undefined) {
      return new Learner(model, guarded(() => new WasmLearner(model(), String(head ?? "knn"), k)), trainerUrl);
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
    return new Learner(model, learner, trainerUrl);
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
    const { Trainer } = await trainerModule(this.#trainerUrl);
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
   * of your classes. `modelSource` is what the classifier was loaded from (Hub id, URL or bytes).
   */
  async exportModel(modelSource, sourceOptions = {}) {
    const bytes = await readModelBytes(modelSource, sourceOptions);
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
  #trainerUrl;

  constructor(model, trainerUrl) {
    this.#model = model;
    this.#info = Object.freeze({ ...model.info, simd: loadedSimdVariant() });
    // This load's, for its learners only: a later load without one gets the package's own.
    this.#trainerUrl = trainerUrl;
  }

  /**
   * Loads a model: a Hub repository by id (the default model when `source` is undefined), or a
   * model file (see the typings for `source` and `options`).
   */
  static async load(source, options = {}) {
    await ensureWasm(options);
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
    return new this(guarded(() => new MobileNet(bytes, modelOptions)), options.trainerUrl);
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
    return Learner.create(model, { trainerUrl: this.#trainerUrl, ...options });
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
