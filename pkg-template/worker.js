// Worker entry of Classifier.loadInWorker: runs a Classifier here and answers the page's calls
// (the messages and methods: protocol.js).
import { Classifier } from "./classifier.js";
import { CLASSIFIER_METHODS, LEARNER_METHODS } from "./protocol.js";

let classifier;

/** Reports progress of call `id` to the page. */
const progressOf = (id) => (...progress) => self.postMessage({ id, progress });
// Learners made on the current classifier, by the key the page refers to them with.
const learners = new Map();
let nextLearner = 0;

/** What the page-side learner mirrors after every call. */
const snapshot = (learner) => ({
  head: learner.head,
  labels: learner.labels,
  counts: learner.counts,
  trained: learner.trained,
});

/** The calls answered here, which make or find what the worker holds; the others are forwarded. */
const handlers = {
  async load(id, source, options) {
    const onProgress = progressOf(id);
    classifier?.dispose();
    for (const learner of learners.values()) learner.dispose();
    learners.clear();
    classifier = await Classifier.load(source, { ...options, onProgress });
    return [classifier.info];
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
    if (method === "state") return [{ state: snapshot(learner) }];
    if (method === "dispose") {
      learner.dispose();
      learners.delete(key);
      return [{}];
    }
    const spec = entry(LEARNER_METHODS, method);
    if (!spec) throw Object.assign(new Error(`unknown learner method ${method}`), { code: "WORKER" });
    try {
      const report = spec.progressCarriesState
        ? (...progress) => progressOf(id)(...progress, snapshot(learner))
        : progressOf(id);
      const [result, transfer] = await forward(learner, method, spec, args, report);
      return [{ result, state: snapshot(learner) }, transfer];
    } finally {
      closeBitmaps(args);
    }
  },
};

/** The entry of `method` in a table: its own, not one every object inherits (e.g. "toString"). */
const entry = (table, method) => (Object.prototype.hasOwnProperty.call(table, method) ? table[method] : undefined);

/** Calls `target[method]` as `spec` says: progress callbacks post to `report`, results transfer. */
async function forward(target, method, spec, args, report) {
  const callArgs = spec.args.map((kind, i) => (kind.callback ? { ...args[i], [kind.callback]: report } : args[i]));
  const result = await target[method](...callArgs);
  return [result, spec.transferResult ? [result.buffer] : []];
}

function live() {
  if (!classifier) throw Object.assign(new Error("no model is loaded"), { code: "DISPOSED" });
  return classifier;
}

async function answer(id, method, args) {
  const handler = entry(handlers, method);
  if (handler) return handler(id, ...args);
  const spec = entry(CLASSIFIER_METHODS, method);
  if (!spec) throw Object.assign(new Error(`unknown method ${method}`), { code: "WORKER" });
  return forward(live(), method, spec, args, progressOf(id));
}

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const [result, transfer = []] = await answer(id, method, args);
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
