// Worker entry of Classifier.loadInWorker: runs a Classifier here and answers the page's calls.
// Messages in: { id, method, args }; out: { id, result } | { id, error: { code, message } } and,
// while loading, { id, progress: [loaded, total] }.
import { Classifier } from "./core.js";

let classifier;

const methods = {
  async load(id, source, options) {
    const onProgress = (loaded, total) => self.postMessage({ id, progress: [loaded, total] });
    classifier?.dispose();
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
    // Bitmaps sent to us are ours: free their memory now rather than at garbage collection.
    for (const arg of args ?? []) if (typeof ImageBitmap !== "undefined" && arg instanceof ImageBitmap) arg.close();
  }
};
