// The worker protocol: the methods of a worker classifier and of its learners that the page
// forwards to the worker, and how their arguments and results travel. worker.js answers from these
// tables and worker-client.js builds its proxies' methods from them, so a method is added in one
// line here.
//
// To the worker: { id, method, args }. Back: { id, result } or { id, error: { code, message } },
// after { id, progress: [...] } for each progress report. Besides the methods below, the worker
// answers "load" (source, options) and "learner" (options), which make what it holds, and
// "learnerCall" (key, method, args) for a learner's method, "state" or "dispose", with
// { result, state }: the learner's state after the call (none after "dispose").

/** An image: an ImageBitmap, transferred (the worker closes it), or RGBA pixels, copied. */
export const IMAGE = "image";
/** A model file: Hub ids as they are, URLs made absolute, a Response's bytes read. */
export const MODEL = "model";
/** Anything else, copied by structured clone: the caller keeps its own. */
const COPY = "copy";
/** Options whose `callback` the worker calls back through progress messages. */
const progressOptions = (callback) => ({ callback });

// `args`: how each argument travels. `transferResult`: the result's buffer is transferred, not
// copied. `progressCarriesState`: each progress report ends with the learner's state, which the
// page's copy takes on (the head is usable after every epoch).

export const CLASSIFIER_METHODS = {
  classify: { args: [IMAGE, COPY] },
  logits: { args: [IMAGE], transferResult: true },
  embed: { args: [IMAGE], transferResult: true },
  logitsFromTensor: { args: [COPY, COPY, COPY], transferResult: true },
};

export const LEARNER_METHODS = {
  addExample: { args: [IMAGE, COPY, COPY] },
  addEmbedding: { args: [COPY, COPY] },
  removeClass: { args: [COPY] },
  train: { args: [progressOptions("onEpoch")], progressCarriesState: true },
  classify: { args: [IMAGE, COPY] },
  classifyEmbedding: { args: [COPY, COPY] },
  export: { args: [COPY], transferResult: true },
  exportModel: { args: [MODEL, progressOptions("onProgress")], transferResult: true },
};
