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
 * One image in every form the tests feed: <img>, <canvas>, OffscreenCanvas, ImageBitmap, ImageData,
 * raw bytes (a VideoFrame is made from the bitmap where needed, and must be closed). The
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
  const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
  offscreen.getContext("2d").drawImage(bitmap, 0, 0);
  return { img, canvas, bitmap, imageData, raw, offscreen };
}

/** A playing <video> showing `canvas` (a captured canvas stream), once it has a frame. */
async function videoOf(canvas) {
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = canvas.captureStream();
  await video.play();
  while (video.readyState < 2 || !video.videoWidth) await new Promise((r) => setTimeout(r, 20));
  return video;
}

/** An 8×8 digit of ink levels 0–16 drawn dark on white (1 − v/16), as RGBA pixels. */
function drawDigit(ink) {
  const data = new Uint8Array(64 * 4);
  ink.forEach((v, i) => {
    const level = Math.round(255 * (1 - v / 16));
    data.set([level, level, level, 255], i * 4);
  });
  return { data, width: 8, height: 8 };
}

Object.assign(window, { mnw, shared, labels, loadImage, forms, videoOf, drawDigit, pageReady: true });
