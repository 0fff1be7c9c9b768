// Pixels of every image type the classifier accepts, read as RGBA rows a strip at a time.
import { guarded, isDetached, MobileNetError } from "./errors.js";

let scratch;

function scratchContext(width, height) {
  if (!scratch) {
    const canvas =
      typeof OffscreenCanvas !== "undefined"
        ? new OffscreenCanvas(width, height)
        : globalThis.document?.createElement("canvas");
    const context = canvas?.getContext("2d", { willReadFrequently: true });
    if (!context) throw new MobileNetError("BAD_IMAGE", "no 2D canvas is available to read pixels");
    scratch = { canvas, context };
  }
  const { canvas, context } = scratch;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  } else {
    context.clearRect(0, 0, width, height);
  }
  return context;
}

/** `value instanceof globalThis[name]`, false where the type does not exist (e.g. in workers). */
export const is = (value, name) => typeof globalThis[name] === "function" && value instanceof globalThis[name];

/** An ImageData or `{ data, width, height }`, as opposed to something a canvas draws; throws on none. */
export function isPixelArray(image) {
  if (image == null) throw new MobileNetError("BAD_IMAGE", "no image given");
  return is(image, "ImageData") || (image.data !== undefined && !is(image, "HTMLElement"));
}

/** `{ width, height }` of anything a canvas can draw, waiting for images still loading. */
async function drawableSize(image) {
  if (isImageElement(image)) {
    if (!image.complete || !image.naturalWidth) {
      try {
        await image.decode();
      } catch {
        throw new MobileNetError("BAD_IMAGE", "the image could not be loaded or decoded");
      }
    }
    return { width: image.naturalWidth, height: image.naturalHeight };
  }
  if (is(image, "HTMLVideoElement")) {
    if (image.readyState < 2) {
      throw new MobileNetError("BAD_IMAGE", "the video has no frame yet (wait for 'loadeddata')");
    }
    return { width: image.videoWidth, height: image.videoHeight };
  }
  if (is(image, "VideoFrame")) return { width: image.displayWidth, height: image.displayHeight };
  if (
    is(image, "HTMLCanvasElement") ||
    is(image, "OffscreenCanvas") ||
    is(image, "ImageBitmap")
  ) {
    return { width: image.width, height: image.height };
  }
  throw new MobileNetError(
    "BAD_IMAGE",
    "unsupported image: expected ImageData, an <img>, <canvas>, <video>, OffscreenCanvas, " +
      "ImageBitmap, VideoFrame or { data, width, height }",
  );
}

export const isImageElement = (image) => is(image, "HTMLImageElement") || is(image, "SVGImageElement");

/**
 * A bitmap of an <img> decoded without colour management: PIL, and so every PyTorch pipeline,
 * ignores embedded ICC profiles, while drawing the element would convert to the display's colours.
 */
export function rawBitmap(image) {
  return createImageBitmap(image, { colorSpaceConversion: "none" });
}

/** What a value is, for messages: `"2" (a string)` says more than `2`. */
const describe = (value) => (typeof value === "string" ? `${JSON.stringify(value)} (a string)` : String(value));

/**
 * An ImageData or `{ data, width, height }` checked and seen as RGBA bytes (no copy): a typed
 * error for a wrong type, size or length, or a detached buffer.
 */
export function checkPixelArray(image) {
  const { data, width, height } = image;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new MobileNetError("BAD_IMAGE", "image.data must be a Uint8Array or Uint8ClampedArray of RGBA");
  }
  for (const [name, value] of [["width", width], ["height", height]]) {
    if (!Number.isInteger(value) || value < 0) {
      throw new MobileNetError("BAD_IMAGE", `image.${name} must be a whole number, got ${describe(value)}`);
    }
  }
  if (isDetached(data.buffer)) {
    throw new MobileNetError(
      "BAD_IMAGE",
      "the image's pixel buffer is detached (transferred elsewhere, e.g. to a worker): its bytes are gone",
    );
  }
  if (data.byteLength !== width * height * 4) {
    throw new MobileNetError(
      "BAD_IMAGE",
      `pixel buffer has ${data.byteLength} bytes, a ${width}x${height} RGBA image needs ${width * height * 4}`,
    );
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

/**
 * Rows of RGBA pixels read from a canvas, or passed to wasm, at a time: a strip of about this many
 * bytes, so that neither the page nor wasm ever holds a large image whole.
 */
const STRIP_BYTES = 4 << 20;

/**
 * Reads `image` (any supported image) into the wasm PixelReader that `makeReader(width, height)`
 * makes: only the rows it needs, a strip at a time. Returns the reader, ready to classify.
 */
export async function readPixels(image, makeReader) {
  const source = await rowSource(image);
  try {
    const reader = guarded(() => makeReader(source.width, source.height));
    try {
      const [first, end] = reader.rowsNeeded;
      const strip = Math.max(1, Math.floor(STRIP_BYTES / (source.width * 4)));
      for (let y = first; y < end; y += strip) {
        const rows = source.rows(y, Math.min(strip, end - y));
        guarded(() => reader.pushRows(y, rows));
      }
      return reader;
    } catch (error) {
      reader.free();
      throw error;
    }
  } finally {
    source.close();
  }
}

/** `{ width, height, rows(first, count), close() }`: an image's RGBA rows, read as asked. */
async function rowSource(image) {
  if (isPixelArray(image)) {
    const { data, width, height } = checkPixelArray(image);
    const rows = (first, count) => data.subarray(first * width * 4, (first + count) * width * 4);
    return { width, height, rows, close() {} };
  }
  const { width, height } = await drawableSize(image);
  if (!width || !height) throw new MobileNetError("BAD_IMAGE", `the image is ${width}x${height}`);
  // <img> elements are drawn from a bitmap decoded without colour management (see rawBitmap).
  const drawable = isImageElement(image) ? await rawBitmap(image) : image;
  const rows = (first, count) => {
    const context = scratchContext(width, count);
    try {
      if (is(drawable, "VideoFrame")) {
        // WebKit ignores a VideoFrame's source rectangle (it draws the whole frame squeezed into
        // the strip): the whole frame is drawn at an offset instead, the canvas clipping the rest.
        context.drawImage(drawable, 0, -first, width, height);
      } else {
        context.drawImage(drawable, 0, first, width, count, 0, 0, width, count);
      }
      const { data } = context.getImageData(0, 0, width, count);
      return new Uint8Array(data.buffer);
    } catch (cause) {
      const hint =
        cause?.name === "SecurityError"
          ? "the image is cross-origin without CORS (serve it with CORS and set crossOrigin = 'anonymous')"
          : cause.message;
      throw new MobileNetError("BAD_IMAGE", `could not read the image's pixels: ${hint}`, { cause });
    }
  };
  return { width, height, rows, close: () => drawable !== image && drawable.close() };
}
