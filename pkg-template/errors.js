// The one error type of the package, and what the in-thread classifier and learner share to throw
// it: wasm errors wrapped, topK checked, detached buffers told apart.

/** An error with a stable, machine-readable `code`. */
export class MobileNetError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "MobileNetError";
    this.code = code;
  }
}

/** Runs `call` on the wasm model, turning its errors into MobileNetErrors. */
export function guarded(call) {
  try {
    return call();
  } catch (error) {
    if (error instanceof MobileNetError) throw error;
    throw new MobileNetError(error?.code ?? "INTERNAL", error?.message ?? String(error), {
      cause: error,
    });
  }
}

export function checkTopK(topK) {
  if (!Number.isInteger(topK) || topK < 1) {
    const got = typeof topK === "string" ? `${JSON.stringify(topK)} (a string)` : String(topK);
    throw new MobileNetError("BAD_CONFIG", `topK must be a whole number >= 1, got ${got}`);
  }
  return topK;
}

/** Whether `buffer`'s bytes are gone: transferred to a worker, say, which detaches it. */
export function isDetached(buffer) {
  if (typeof buffer.detached === "boolean") return buffer.detached;
  try {
    new Uint8Array(buffer, 0, 0); // throws on a detached buffer where `detached` is not known
    return false;
  } catch {
    return true;
  }
}
