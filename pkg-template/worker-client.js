// Classifier.loadInWorker: the page-side proxy of a Classifier running in a dedicated worker, with
// the same methods, built from the worker protocol (protocol.js). Images become ImageBitmaps
// (transferred) or pixel arrays (copied once).
import { MobileNetError } from "./errors.js";
import { LearnerView, takeState } from "./learner-view.js";
import { checkPixelArray, isImageElement, isPixelArray, rawBitmap } from "./pixels.js";
import { CLASSIFIER_METHODS, IMAGE, LEARNER_METHODS, MODEL } from "./protocol.js";
import { wasmUrls } from "./runtime.js";
import { baseUrl, checkAttached, isHubId } from "./sources.js";

class Connection {
  #worker;
  #pending = new Map();
  #next = 0;
  #broken;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if (data.progress) {
        call.onProgress?.(...data.progress);
        return;
      }
      this.#pending.delete(data.id);
      if (data.error) call.reject(new MobileNetError(data.error.code, data.error.message));
      else call.resolve(data.result);
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new MobileNetError("WORKER", `the worker failed: ${event.message ?? "could not start"}`));
    };
  }

  call(method, args, transfer = [], onProgress) {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      try {
        this.#worker.postMessage({ id, method, args }, transfer);
      } catch (cause) {
        // e.g. a function among the arguments: nothing was sent.
        this.#pending.delete(id);
        reject(new MobileNetError("BAD_INPUT", `could not send ${method} to the worker: ${cause.message}`, { cause }));
      }
    });
  }

  terminate() {
    this.#worker.terminate();
    this.#fail(new MobileNetError("DISPOSED", "the classifier has been disposed"));
  }

  #fail(error) {
    this.#broken = error;
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }
}

/** What to post for an image, and what to transfer with it. */
async function imageMessage(image) {
  if (isPixelArray(image)) {
    // Structured clone copies the pixels once; the caller keeps its own array.
    const { data, width, height } = checkPixelArray(image);
    return [{ data, width, height }, []];
  }
  try {
    // Decoded and copied off the main thread; the bitmap is ours to transfer. <img> elements are
    // decoded without colour management, as in the page (see rawBitmap).
    const bitmap = await (isImageElement(image) ? rawBitmap(image) : createImageBitmap(image));
    return [bitmap, [bitmap]];
  } catch (cause) {
    throw new MobileNetError("BAD_IMAGE", `could not read the image: ${cause.message}`, { cause });
  }
}

/**
 * Model or head bytes for the worker: URLs made absolute, Responses read, bytes copied; with
 * `hub`, Hub ids (and no source: the default model) as they are.
 */
async function sourceMessage(source, { hub = false } = {}) {
  if (hub && (source === undefined || isHubId(source))) return source;
  if (typeof source === "string" || source instanceof URL) return new URL(source, baseUrl()).href;
  if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw new MobileNetError("FETCH", `the response is HTTP ${source.status}`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return checkAttached(source);
  return source;
}

/** `options` without its `name` callback, and the callback. */
function takeCallback(name, options = {}) {
  const { [name]: callback, ...rest } = options;
  return [callback, rest];
}

/** A call's arguments as `spec` (protocol.js) has them travel: `{ args, transfer, onProgress }`. */
async function callMessage(spec, args) {
  const message = { args: [], transfer: [], onProgress: undefined };
  for (const [i, kind] of spec.args.entries()) {
    if (kind === IMAGE) {
      const [image, transfer] = await imageMessage(args[i]);
      message.args.push(image);
      message.transfer.push(...transfer);
    } else if (kind === MODEL) {
      message.args.push(await sourceMessage(args[i], { hub: true }));
    } else if (kind.callback) {
      const [callback, options] = takeCallback(kind.callback, args[i]);
      message.args.push(options);
      message.onProgress = callback;
    } else {
      message.args.push(args[i]);
    }
  }
  return message;
}

// How the methods built from protocol.js reach a proxy's worker: `proxy[send](method, message, spec)`.
const send = Symbol("send");

/** Gives `ProxyClass` a method for each entry of `table`, sending its calls through `this[send]`. */
function forwardMethods(ProxyClass, table) {
  for (const [method, spec] of Object.entries(table)) {
    // A method definition, so that it has the method's name and is not a constructor.
    const { [method]: forward } = {
      async [method](...args) {
        return this[send](method, await callMessage(spec, args), spec);
      },
    };
    Object.defineProperty(ProxyClass.prototype, method, { value: forward, writable: true, configurable: true });
  }
}

/** The page-side proxy of a Learner living in the worker; same methods as Learner. */
class WorkerLearner extends LearnerView {
  #connection;
  #key;

  constructor(connection, key, state) {
    super(state);
    this.#connection = connection;
    this.#key = key;
  }

  /** Sends a call built from protocol.js; a training's progress also carries the learner's state. */
  [send](method, { args, transfer, onProgress }, spec) {
    if (!spec.progressCarriesState) return this.#call(method, args, transfer, onProgress);
    return this.#call(method, args, transfer, (...progress) => {
      this[takeState](progress.pop());
      onProgress?.(...progress);
    });
  }

  dispose() {
    this.#call("dispose", []).catch(() => {}); // a stopped worker has freed it already
  }

  async #call(method, args, transfer = [], onProgress) {
    try {
      const { result, state } = await this.#connection.call(
        "learnerCall",
        [this.#key, method, args],
        transfer,
        onProgress,
      );
      if (state) this[takeState](state);
      return result;
    } catch (error) {
      // A call that failed half-way (e.g. training) may still have changed the learner.
      if (method !== "dispose" && method !== "state") await this.#call("state", []).catch(() => {});
      throw error;
    }
  }
}

/** A classifier running in a dedicated worker; same methods as Classifier. */
export class WorkerClassifier {
  #connection;
  #info;

  constructor(connection, info) {
    this.#connection = connection;
    this.#info = Object.freeze(info);
  }

  static async load(source, options = {}) {
    const { onProgress, worker, ...rest } = { ...wasmUrls(), ...options };
    // The worker resolves URLs against its own location: make them absolute here.
    for (const key of ["wasmUrl", "trainerUrl", "relaxedWasmUrl", "threadsWasmUrl", "hubUrl"]) {
      if (rest[key] === undefined) delete rest[key];
      else rest[key] = new URL(rest[key], baseUrl()).href;
    }
    const payload = await sourceMessage(source, { hub: true });
    // Bytes read from a Response are ours to move; the caller's own arrays are copied.
    const transfer = payload instanceof Uint8Array && payload !== source ? [payload.buffer] : [];
    const connection = new Connection(
      worker ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" }),
    );
    try {
      const info = await connection.call("load", [payload, rest], transfer, onProgress);
      return new WorkerClassifier(connection, info);
    } catch (error) {
      connection.terminate();
      throw error;
    }
  }

  get info() {
    return this.#info;
  }

  /** Sends a call built from protocol.js. */
  [send](method, { args, transfer, onProgress }) {
    return this.#connection.call(method, args, transfer, onProgress);
  }

  /** A Learner living in the worker (see Classifier.learner). */
  async learner({ onProgress, ...options } = {}) {
    const message = { ...options };
    if (options.from !== undefined) message.from = await sourceMessage(options.from);
    const { key, state } = await this.#connection.call("learner", [message], [], onProgress);
    return new WorkerLearner(this.#connection, key, state);
  }

  /** Stops the worker; later calls reject with code DISPOSED. */
  dispose() {
    this.#connection.terminate();
  }
}

forwardMethods(WorkerLearner, LEARNER_METHODS);
forwardMethods(WorkerClassifier, CLASSIFIER_METHODS);
