// The one error type of the package.

/** An error with a stable, machine-readable `code`. */
export class MobileNetError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "MobileNetError";
    this.code = code;
  }
}
