// Pixels of every image type the classifier accepts, as RGBA bytes.
import { MobileNetError } from "./errors.js";

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

/** RGBA pixels of any supported image: `{ data: Uint8Array, width, height }`. */
export async function toPixels(image) {
  if (isPixelArray(image)) {
    const { data, width, height } = image;
    if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
      throw new MobileNetError("BAD_IMAGE", "image.data must be a Uint8Array or Uint8ClampedArray of RGBA");
    }
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new MobileNetError("BAD_IMAGE", `image size ${width}x${height} is not a pair of whole numbers`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
  }
  const { width, height } = await drawableSize(image);
  if (!width || !height) throw new MobileNetError("BAD_IMAGE", `the image is ${width}x${height}`);
  const context = scratchContext(width, height);
  try {
    if (isImageElement(image)) {
      const bitmap = await rawBitmap(image);
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
    } else {
      context.drawImage(image, 0, 0);
    }
    const { data } = context.getImageData(0, 0, width, height);
    return { data: new Uint8Array(data.buffer), width, height };
  } catch (cause) {
    const hint =
      cause?.name === "SecurityError"
        ? "the image is cross-origin without CORS (serve it with CORS and set crossOrigin = 'anonymous')"
        : cause.message;
    throw new MobileNetError("BAD_IMAGE", `could not read the image's pixels: ${hint}`, { cause });
  }
}
