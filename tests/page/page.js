// Helpers the page tests call through page.evaluate().
import * as mnw from "mobilenet-wasm";

const shared = new URLSearchParams(location.search).get("shared");

async function labels() {
  const text = await (await fetch(`${shared}/weights/imagenet_classes.txt`)).text();
  return text.trimEnd().split("\n");
}

function loadImage(name) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${name}`));
    img.src = `${shared}/images/${name}`;
  });
}

/**
 * One image in every form the tests feed: <img>, <canvas>, ImageBitmap, ImageData, raw bytes. The
 * derived forms are decoded as PIL decodes, without applying an embedded colour profile.
 */
async function forms(name) {
  const img = await loadImage(name);
  const bitmap = await createImageBitmap(img, { colorSpaceConversion: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const imageData = context.getImageData(0, 0, canvas.width, canvas.height);
  const raw = { data: new Uint8Array(imageData.data), width: canvas.width, height: canvas.height };
  return { img, canvas, bitmap, imageData, raw };
}

Object.assign(window, { mnw, shared, labels, loadImage, forms, pageReady: true });
