// mobilenet-wasm: MobileNet image classification in WebAssembly.
import { Classifier as ThreadClassifier } from "./classifier.js";
import { WorkerClassifier } from "./worker-client.js";

/** A MobileNet classifier running in this thread, or in a worker through `loadInWorker`. */
export class Classifier extends ThreadClassifier {
  /** The same API with inference in a dedicated worker, keeping the page's thread free. */
  static loadInWorker(source, options = {}) {
    return WorkerClassifier.load(source, options);
  }
}

export { relaxedSimdSupported, setWasmUrl, wasmMemoryBytes } from "./runtime.js";
export { MobileNetError } from "./errors.js";
export { DEFAULT_MODEL } from "./models.js";
export { WorkerClassifier };
