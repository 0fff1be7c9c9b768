// The demo: live classification of the camera (or a chosen, dropped or pasted image) with the
// package's worker classifier, so the video never waits for inference.
import { Classifier } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const ui = {
  stage: $("stage"),
  video: $("video"),
  still: $("still"),
  placeholder: $("placeholder"),
  cameraToggle: $("camera-toggle"),
  cameraSelect: $("camera-select"),
  modelSelect: $("model-select"),
  file: $("file"),
  loading: $("loading"),
  loadLabel: $("load-label"),
  loadProgress: $("load-progress"),
  message: $("message"),
  predictions: $("predictions"),
  latency: $("latency"),
  fps: $("fps"),
  modelInfo: $("model-info"),
};

const state = {
  classifier: null, // the current WorkerClassifier
  loading: null, // promise of the classifier being loaded
  stream: null, // the camera's MediaStream
  live: false, // classifying camera frames
  frames: [], // completion times of recent frames, for the FPS
  models: [], // the build's model list (models/models.json)
};

// ------------------------------------------------------------------ messages and results

function say(text) {
  ui.message.textContent = text;
  ui.message.hidden = !text;
}

function showPredictions(predictions, ms, arch) {
  ui.predictions.dataset.arch = arch;
  ui.predictions.replaceChildren(
    ...predictions.map(({ label, index, probability }) => {
      const item = document.createElement("li");
      const text = document.createElement("div");
      text.className = "prediction-label";
      const name = document.createElement("span");
      name.textContent = label ?? `class ${index}`;
      const percent = document.createElement("span");
      percent.textContent = `${(probability * 100).toFixed(1)} %`;
      text.append(name, percent);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("div");
      fill.style.width = `${Math.max(0.5, probability * 100)}%`;
      bar.append(fill);
      item.append(text, bar);
      return item;
    }),
  );
  ui.latency.textContent = `${ms.toFixed(1)} ms`;
}

function countFrame() {
  const now = performance.now();
  state.frames.push(now);
  while (state.frames[0] < now - 1000) state.frames.shift();
  ui.fps.textContent = state.live ? String(state.frames.length) : "–";
}

// ------------------------------------------------------------------ models

async function loadModels() {
  const response = await fetch("models/models.json");
  if (!response.ok) throw new Error(`no model list (HTTP ${response.status}): run npm run build`);
  const models = await response.json();
  state.models = models;
  ui.modelSelect.replaceChildren(
    ...models.map((m) => new Option(`${m.name} (${(m.bytes / 1e6).toFixed(1)} MB)`, m.file)),
  );
  return models;
}

/** Loads `file` in a new worker; the previous classifier keeps serving frames until it is ready. */
async function switchModel(file) {
  ui.loading.hidden = false;
  ui.modelSelect.disabled = true;
  ui.loadProgress.removeAttribute("value");
  ui.loadLabel.textContent = "Loading model…";
  const loading = Classifier.loadInWorker(file, {
    onProgress: (loaded, total) => {
      if (total) ui.loadProgress.value = loaded / total;
      ui.loadLabel.textContent = `Loading model… ${(loaded / 1e6).toFixed(1)} MB`;
    },
  });
  state.loading = loading;
  try {
    const classifier = await loading;
    const previous = state.classifier;
    state.classifier = classifier;
    previous?.dispose();
    const { arch, parameters } = classifier.info;
    const name = state.models.find((m) => m.file === file)?.name ?? arch;
    ui.modelInfo.textContent = `${name}, ${(parameters / 1e6).toFixed(1)} M parameters`;
    ui.modelInfo.dataset.arch = arch;
    say("");
    if (!ui.still.hidden) classifyStill();
  } catch (error) {
    say(`Could not load the model: ${error.message}`);
  } finally {
    if (state.loading === loading) state.loading = null;
    ui.loading.hidden = true;
    ui.modelSelect.disabled = false;
  }
}

async function currentClassifier() {
  return state.classifier ?? (await state.loading);
}

// ------------------------------------------------------------------ camera

function cameraMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission was denied. Allow it in the browser's site settings, or choose, drop or paste an image.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. You can still choose, drop or paste an image.";
    case "NotReadableError":
      return "The camera is in use by another application.";
    default:
      return `The camera could not start (${error?.message ?? error}). You can still choose, drop or paste an image.`;
  }
}

async function listCameras() {
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = state.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  ui.cameraSelect.replaceChildren(
    ...cameras.map((c, i) => new Option(c.label || `Camera ${i + 1}`, c.deviceId, false, c.deviceId === current)),
  );
  ui.cameraSelect.disabled = cameras.length < 2;
}

async function startCamera(deviceId) {
  if (!navigator.mediaDevices?.getUserMedia) {
    say("This browser cannot use a camera here (it needs https or localhost). Choose, drop or paste an image.");
    return;
  }
  stopCamera();
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: deviceId ? { deviceId: { exact: deviceId } } : { facingMode: "environment" },
      audio: false,
    });
  } catch (error) {
    say(cameraMessage(error));
    return;
  }
  say("");
  ui.video.srcObject = state.stream;
  await ui.video.play();
  showStage("video");
  ui.cameraToggle.textContent = "Stop camera";
  await listCameras();
  state.live = true;
  liveLoop();
}

function stopCamera() {
  state.live = false;
  state.stream?.getTracks().forEach((t) => t.stop());
  state.stream = null;
  ui.video.srcObject = null;
  ui.cameraToggle.textContent = "Start camera";
  ui.fps.textContent = "–";
}

const nextFrame = () =>
  new Promise((resolve) =>
    ui.video.requestVideoFrameCallback ? ui.video.requestVideoFrameCallback(() => resolve()) : requestAnimationFrame(() => resolve()),
  );

/** One inference at a time: the next frame is sent when the previous answer is back. */
async function liveLoop() {
  while (state.live) {
    if (ui.video.readyState >= 2) {
      try {
        const classifier = await currentClassifier();
        const start = performance.now();
        const predictions = await classifier.classify(ui.video, { topK: 5 });
        if (!state.live) break;
        showPredictions(predictions, performance.now() - start, classifier.info.arch);
        countFrame();
      } catch (error) {
        // A model switch disposes the old worker mid-frame; anything else is worth showing.
        if (error.code !== "DISPOSED") say(`Classification failed: ${error.message}`);
      }
    }
    await nextFrame();
  }
}

// ------------------------------------------------------------------ still images

function showStage(which) {
  ui.video.hidden = which !== "video";
  ui.still.hidden = which !== "still";
  ui.placeholder.hidden = true;
}

async function classifyStill() {
  try {
    const classifier = await currentClassifier();
    const start = performance.now();
    const predictions = await classifier.classify(ui.still, { topK: 5 });
    showPredictions(predictions, performance.now() - start, classifier.info.arch);
  } catch (error) {
    say(`Could not classify the image: ${error.message}`);
  }
}

async function classifyFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    say(`${file.name || "That file"} is not an image.`);
    return;
  }
  let bitmap;
  try {
    // Decoded as PIL decodes (no colour-profile conversion), so results match PyTorch's.
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none" });
  } catch {
    say(`${file.name || "The image"} could not be decoded.`);
    return;
  }
  stopCamera();
  say("");
  ui.still.width = bitmap.width;
  ui.still.height = bitmap.height;
  ui.still.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  showStage("still");
  await classifyStill();
}

// ------------------------------------------------------------------ wiring

ui.cameraToggle.addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
ui.cameraSelect.addEventListener("change", () => startCamera(ui.cameraSelect.value));
ui.modelSelect.addEventListener("change", () => switchModel(ui.modelSelect.value));
ui.file.addEventListener("change", () => classifyFile(ui.file.files[0]));

ui.stage.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.stage.classList.add("dragging");
});
ui.stage.addEventListener("dragleave", () => ui.stage.classList.remove("dragging"));
ui.stage.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.stage.classList.remove("dragging");
  classifyFile(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) classifyFile(item.getAsFile());
});

loadModels().then(
  () => switchModel(ui.modelSelect.value),
  (error) => say(`Could not list the models: ${error.message}`),
);
