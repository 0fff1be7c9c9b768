// The learner of a classifier running in this thread (see Classifier.learner).
import { checkTopK, guarded, MobileNetError } from "./errors.js";
import { LearnerView, takeState } from "./learner-view.js";
import { readPixels } from "./pixels.js";
import { loadedWasm, trainerModule } from "./runtime.js";
import { readModelBytes, readSource } from "./sources.js";

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

/** A wasm learner's state as learners show it: examples counted by label. */
function stateOf(learner) {
  const state = learner.state;
  state.counts = Object.fromEntries(state.labels.map((label, i) => [label, state.counts[i]]));
  return state;
}

/** Lets the page paint (and a worker read its messages) between training epochs. */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Your own classes on a classifier's embedding: a cosine k-nearest-neighbour head (instant) or a
 * softmax linear head trained in WebAssembly. Made by `classifier.learner()`.
 */
export class Learner extends LearnerView {
  #model;
  #learner;
  #trainerUrl;

  constructor(model, learner, trainerUrl) {
    super(stateOf(learner));
    this.#model = model;
    this.#learner = learner;
    this.#trainerUrl = trainerUrl;
  }

  /** `trainerUrl`: where this learner's classifier was told the trainer module is, if anywhere. */
  static async create(model, { head, k = 3, from, trainerUrl, ...sourceOptions } = {}) {
    // The wasm-bindgen class of the module the classifier runs in (threaded or not).
    const WasmLearner = loadedWasm().module.Learner;
    if (!Number.isInteger(k) || k < 1) {
      throw new MobileNetError("BAD_CONFIG", `k must be a whole number >= 1, got ${k}`);
    }
    if (from === undefined) {
      const learner = guarded(() => new WasmLearner(model(), String(head ?? "knn"), k));
      return new Learner(model, learner, trainerUrl);
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

  /** Adds `image` (any image the classifier accepts) as an example of `label`; with `augment`, a
   * mirrored and a slightly zoomed copy too. Resolves to the number of examples of `label`. */
  async addExample(image, label, { augment = false } = {}) {
    checkLabel(label);
    const model = this.#model();
    const reader = await readPixels(image, (width, height) => model.pixelReader(width, height, Boolean(augment)));
    guarded(() => this.#live().addPixels(model, reader, label));
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
    const model = this.#model();
    const reader = await readPixels(image, (width, height) => model.pixelReader(width, height, false));
    return guarded(() => this.#live().classifyPixels(model, reader, topK));
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
    return this[takeState](stateOf(this.#live()));
  }

  #live() {
    if (!this.#learner) throw new MobileNetError("DISPOSED", "the learner has been disposed");
    return this.#learner;
  }
}
