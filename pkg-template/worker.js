// Worker entry of Classifier.loadInWorker: runs a Classifier here and answers the page's calls.
// Messages in: { id, method, args }; out: { id, result } | { id, error: { code, message } } and,
// while loading, { id, progress: [loaded, total] }.
import { Classifier } from "./classifier.js";

let classifier;

/** Reports progress of call `id` to the page. */
const progressOf = (id) => (...progress) => self.postMessage({ id, progress });
// Learners made on the current classifier, by the key the page refers to them with.
const learners = new Map();
let nextLearner = 0;

const LEARNER_METHODS = new Set([
  "addExample", "addEmbedding", "removeClass", "train", "classify", "classifyEmbedding", "export",
  "exportModel", "dispose", "state",
]);

/** What the page-side learner mirrors after every call. */
const snapshot = (learner) => ({
  head: learner.head,
  labels: learner.labels,
  counts: learner.counts,
  trained: learner.trained,
});

const methods = {
  async load(id, source, options) {
    const onProgress = progressOf(id);
    classifier?.dispose();
    for (const learner of learners.values()) learner.dispose();
    learners.clear();
    classifier = await Classifier.load(source, { ...options, onProgress });
    return [classifier.info];
  },
  async classify(id, image, options) {
    return [await live().classify(image, options)];
  },
  async logits(id, image) {
    const logits = await live().logits(image);
    return [logits, [logits.buffer]];
  },
  async logitsFromTensor(id, tensor, height, width) {
    const logits = await live().logitsFromTensor(tensor, height, width);
    return [logits, [logits.buffer]];
  },
  async learner(id, options) {
    const learner = await live().learner({ ...options, onProgress: progressOf(id) });
    const key = nextLearner++;
    learners.set(key, learner);
    return [{ key, state: snapshot(learner) }];
  },
  async learnerCall(id, key, method, args) {
    const learner = learners.get(key);
    if (!learner) throw Object.assign(new Error("the learner has been disposed"), { code: "DISPOSED" });
    if (!LEARNER_METHODS.has(method)) {
      throw Object.assign(new Error(`unknown learner method ${method}`), { code: "WORKER" });
    }
    try {
      if (method === "train") {
        // The page's copy of the state follows every epoch (the head is usable after each).
        const onEpoch = (stats) => progressOf(id)(stats, snapshot(learner));
        args = [{ ...args[0], onEpoch }];
      } else if (method === "exportModel") {
        args = [args[0], { ...args[1], onProgress: progressOf(id) }];
      }
      const result = method === "state" ? undefined : await learner[method](...args);
      if (method === "dispose") learners.delete(key);
      const state = method === "dispose" ? undefined : snapshot(learner);
      const transfer = result instanceof Uint8Array ? [result.buffer] : [];
      return [{ result, state }, transfer];
    } finally {
      closeBitmaps(args);
    }
  },
  async embed(id, image) {
    const embedding = await live().embed(image);
    return [embedding, [embedding.buffer]];
  },
};

function live() {
  if (!classifier) throw Object.assign(new Error("no model is loaded"), { code: "DISPOSED" });
  return classifier;
}

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const run = methods[method];
    if (!run) throw Object.assign(new Error(`unknown method ${method}`), { code: "WORKER" });
    const [result, transfer = []] = await run(id, ...args);
    self.postMessage({ id, result }, transfer);
  } catch (error) {
    self.postMessage({ id, error: { code: error?.code ?? "INTERNAL", message: error?.message ?? String(error) } });
  } finally {
    closeBitmaps(args);
  }
};

/** Bitmaps sent to us are ours: free their memory now rather than at garbage collection. */
function closeBitmaps(args) {
  for (const arg of args ?? []) if (typeof ImageBitmap !== "undefined" && arg instanceof ImageBitmap) arg.close();
}
