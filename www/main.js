// The demo: live classification of the camera (or a chosen, dropped or pasted image) with the
// package's worker classifier, so the video never waits for inference. In Teach mode the same
// frames become examples of your own classes, and a learner in the worker tells them apart.
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
  hubForm: $("hub-form"),
  hubId: $("hub-id"),
  file: $("file"),
  loading: $("loading"),
  loadLabel: $("load-label"),
  loadProgress: $("load-progress"),
  message: $("message"),
  predictions: $("predictions"),
  latency: $("latency"),
  fps: $("fps"),
  modelInfo: $("model-info"),
  modeImagenet: $("mode-imagenet"),
  modeTeach: $("mode-teach"),
  teach: $("teach"),
  resultsTitle: $("results-title"),
  addClass: $("add-class"),
  className: $("class-name"),
  classes: $("classes"),
  headSelect: $("head-select"),
  augment: $("augment"),
  train: $("train"),
  trainProgress: $("train-progress"),
  trainStatus: $("train-status"),
  exportHead: $("export-head"),
  importHead: $("import-head"),
};

const state = {
  classifier: null, // the current WorkerClassifier
  loading: null, // promise of the classifier being loaded
  stream: null, // the camera's MediaStream
  live: false, // classifying camera frames
  frames: [], // completion times of recent frames, for the FPS
  models: [], // the build's model files (models/models.json), then the Hub's (Classifier.models)
  mode: "imagenet", // or "teach"
  learner: null, // the Teach mode's learner, living in the current classifier's worker
  learnerOwner: null, // the classifier it was made on
  classes: [], // class names in the order they were added (some may have no example yet)
  capturing: null, // the class whose button is held: frames become its examples
  training: false,
  replacing: false, // a learner is being swapped (head change, import)
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

/**
 * The picker: the models this server has (the default, so the demo works offline), then the
 * Hugging Face Hub's, downloaded on choice and cached for the next visit.
 */
async function loadModels() {
  const response = await fetch("models/models.json");
  if (!response.ok) throw new Error(`no model list (HTTP ${response.status}): run npm run build`);
  const local = (await response.json()).map((m) => ({ ...m, source: m.file }));
  const hub = Classifier.models.map((m) => ({ ...m, source: m.id }));
  state.models = [...local, ...hub];
  const group = (label, models) => {
    const element = document.createElement("optgroup");
    element.label = label;
    element.append(...models.map((m) => new Option(`${m.name} (${(m.bytes / 1e6).toFixed(1)} MB)`, m.source)));
    return element;
  };
  ui.modelSelect.replaceChildren(group("On this server", local), group("Hugging Face Hub (timm)", hub));
  return state.models;
}

/** Picks a Hub id typed in: it joins the picker's Hub group, then loads. */
function loadHubId(id) {
  if (!state.models.some((m) => m.source === id)) {
    state.models.push({ name: id, source: id });
    ui.modelSelect.lastElementChild.append(new Option(id, id));
  }
  ui.modelSelect.value = id;
  return switchModel(id);
}

/**
 * Loads `source` (a file of this server or a Hub id) in a new worker; the previous classifier
 * keeps serving frames until it is ready.
 */
async function switchModel(source) {
  ui.loading.hidden = false;
  ui.modelSelect.disabled = true;
  ui.loadProgress.removeAttribute("value");
  ui.loadLabel.textContent = "Loading model…";
  const loading = Classifier.loadInWorker(source, {
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
    if (state.learner) {
      // Examples are embeddings of the old model: meaningless to the new one.
      const old = await state.learner.catch(() => null);
      const had = old && old.labels.length > 0;
      state.learner = null;
      state.learnerOwner = null;
      if (had) ui.trainStatus.textContent = "The examples belonged to the previous model: add them again.";
      renderClasses();
    }
    const { arch, parameters, threads } = classifier.info;
    const name = state.models.find((m) => m.source === source)?.name ?? arch;
    // Threads where the page is cross-origin isolated (as npm start serves it) and the browser can.
    const running = threads > 1 ? `, ${threads} threads` : "";
    ui.modelInfo.textContent = `${name}, ${(parameters / 1e6).toFixed(1)} M parameters${running}`;
    ui.modelInfo.dataset.arch = arch;
    ui.modelInfo.dataset.threads = threads;
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
        if (state.mode === "teach") {
          await teachFrame(ui.video);
        } else {
          const start = performance.now();
          const predictions = await classifier.classify(ui.video, { topK: 5 });
          if (!state.live) break;
          showPredictions(predictions, performance.now() - start, classifier.info.arch);
        }
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
    if (state.mode === "teach") {
      await teachFrame(ui.still);
      return;
    }
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

// ------------------------------------------------------------------ Teach mode

function setMode(mode) {
  state.mode = mode;
  ui.modeImagenet.setAttribute("aria-selected", String(mode === "imagenet"));
  ui.modeTeach.setAttribute("aria-selected", String(mode === "teach"));
  ui.teach.hidden = mode !== "teach";
  ui.resultsTitle.textContent = mode === "teach" ? "Your classes" : "Top 5";
  ui.predictions.replaceChildren();
  delete ui.predictions.dataset.arch;
  if (mode === "teach") renderClasses();
  if (!ui.still.hidden) classifyStill();
}

/** The learner on the current classifier, made on first use. */
async function currentLearner() {
  const classifier = await currentClassifier();
  if (!state.learner || state.learnerOwner !== classifier) {
    state.learnerOwner = classifier;
    const made = classifier.learner({ head: ui.headSelect.value }).catch((error) => {
      if (state.learner === made) state.learner = null; // try again next time
      throw error;
    });
    state.learner = made;
  }
  return state.learner;
}

/** In Teach mode, a frame is an example of the held class, or is classified. */
async function teachFrame(image) {
  const learner = await currentLearner();
  if (state.capturing) {
    await learner.addExample(image, state.capturing, { augment: ui.augment.checked });
    renderClasses(learner);
    return;
  }
  if (!learner.trained) {
    showNote(teachHint(learner));
    return;
  }
  const start = performance.now();
  const predictions = await learner.classify(image, { topK: Math.min(5, learner.labels.length) });
  showPredictions(predictions, performance.now() - start, "custom");
}

function teachHint(learner) {
  const taught = learner.labels.length;
  if (taught < 2) return `Add examples of ${taught ? "one more class" : "two classes or more"} to see predictions.`;
  return "Train the linear head to see predictions.";
}

function showNote(text) {
  const item = document.createElement("li");
  item.className = "note";
  item.textContent = text;
  ui.predictions.dataset.arch = "custom";
  ui.predictions.replaceChildren(item);
}

/** The class list with each class's example count; also enables what can be done now. */
async function renderClasses(learner) {
  learner ??= await state.learner;
  const counts = learner?.counts ?? {};
  for (const label of learner?.labels ?? []) if (!state.classes.includes(label)) state.classes.push(label);
  const rows = state.classes.map((label) => {
    const item = document.createElement("li");
    item.dataset.label = label;
    const name = document.createElement("span");
    name.className = "class-name";
    name.textContent = label;
    const count = document.createElement("span");
    count.className = "count";
    const n = counts[label] ?? 0;
    count.textContent = `${n} example${n === 1 ? "" : "s"}`;
    const hold = document.createElement("button");
    hold.type = "button";
    hold.className = "hold";
    hold.textContent = "Hold to add";
    hold.setAttribute("aria-label", `Hold to add examples of ${label}`);
    if (state.capturing === label) hold.classList.add("active");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${label}`);
    item.append(name, count, hold, remove);
    return item;
  });
  ui.classes.replaceChildren(...rows);
  setTeachBusy();
  const taught = learner?.labels.length ?? 0;
  ui.train.disabled = state.training || ui.headSelect.value !== "linear" || taught < 2;
  ui.exportHead.disabled = taught < 1;
}

function startCapture(label) {
  if (state.training) return;
  if (!state.live) {
    // No camera: the shown image is one example.
    if (!ui.still.hidden) addStill(label);
    return;
  }
  state.capturing = label;
  ui.classes.querySelector(`li[data-label="${CSS.escape(label)}"] .hold`)?.classList.add("active");
}

function stopCapture() {
  state.capturing = null;
  for (const button of ui.classes.querySelectorAll(".hold.active")) button.classList.remove("active");
}

async function addStill(label) {
  try {
    const learner = await currentLearner();
    await learner.addExample(ui.still, label, { augment: ui.augment.checked });
    await renderClasses(learner);
    await classifyStill();
  } catch (error) {
    say(`Could not add the example: ${error.message}`);
  }
}

async function removeClass(label) {
  if (state.training || state.replacing) return;
  const learner = await currentLearner();
  if (learner.labels.includes(label)) await learner.removeClass(label);
  state.classes = state.classes.filter((l) => l !== label);
  await renderClasses(learner);
}

/**
 * Replaces the learner with `make(previous)`, one replacement at a time; on failure the previous
 * learner stays, and the head picker shows its head again.
 */
async function replaceLearner(make) {
  if (state.replacing) return;
  state.replacing = true;
  setTeachBusy();
  try {
    const classifier = await currentClassifier();
    const previous = await currentLearner().catch(() => null);
    const next = await make(classifier, previous);
    state.learner = Promise.resolve(next);
    state.learnerOwner = classifier;
    previous?.dispose();
    return next;
  } finally {
    state.replacing = false;
    const learner = await currentLearner().catch(() => null);
    if (learner) ui.headSelect.value = learner.head;
    await renderClasses();
  }
}

async function switchHead() {
  const head = ui.headSelect.value;
  try {
    // The examples move to the new head; with none yet, a fresh learner.
    await replaceLearner(async (classifier, previous) =>
      previous?.labels.length
        ? classifier.learner({ from: await previous.export(), head })
        : classifier.learner({ head }),
    );
    ui.trainProgress.value = 0;
    ui.trainStatus.textContent = head === "linear" ? "Train the linear head on your examples." : "";
  } catch (error) {
    say(`Could not switch heads: ${error.message}`);
  }
}

async function train() {
  const learner = await currentLearner();
  stopCapture();
  state.training = true;
  ui.train.disabled = true;
  setTeachBusy();
  const started = performance.now();
  try {
    const last = await learner.train({
      onEpoch: ({ epoch, epochs, loss, accuracy }) => {
        ui.trainProgress.value = epoch / epochs;
        ui.trainStatus.textContent = `Epoch ${epoch}/${epochs} · loss ${loss.toFixed(3)} · accuracy ${(accuracy * 100).toFixed(0)} %`;
      },
    });
    const examples = Object.values(learner.counts).reduce((a, b) => a + b, 0);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    ui.trainStatus.textContent = `Trained on ${examples} examples in ${seconds} s: ${last.epochs} epochs, training accuracy ${(last.accuracy * 100).toFixed(0)} %.`;
  } catch (error) {
    ui.trainStatus.textContent = `Training failed: ${error.message}`;
  } finally {
    state.training = false;
    await renderClasses(learner);
  }
}

async function exportHead() {
  const learner = await currentLearner();
  try {
    const bytes = await learner.export();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    const arch = (await currentClassifier()).info.arch;
    link.download = `${arch}-head-${learner.labels.length}-classes.safetensors`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    say(`Could not export the head: ${error.message}`);
  }
}

async function importHead(file) {
  if (!file) return;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const imported = await replaceLearner((classifier) => classifier.learner({ from: bytes }));
    if (!imported) return;
    state.classes = [...imported.labels];
    ui.trainProgress.value = imported.trained ? 1 : 0;
    ui.trainStatus.textContent = `Imported ${imported.labels.length} classes from ${file.name}.`;
    say("");
    await renderClasses(imported);
    if (!ui.still.hidden) await classifyStill();
  } catch (error) {
    say(`Could not import ${file.name}: ${error.message}`);
  } finally {
    ui.importHead.value = "";
  }
}

/** While training or swapping learners, what would change the learner under it is disabled. */
function setTeachBusy() {
  const busy = state.training || state.replacing;
  ui.headSelect.disabled = busy;
  ui.importHead.disabled = busy;
  for (const button of ui.classes.querySelectorAll(".remove")) button.disabled = busy;
}

ui.modeImagenet.addEventListener("click", () => setMode("imagenet"));
ui.modeTeach.addEventListener("click", () => setMode("teach"));
ui.addClass.addEventListener("submit", (event) => {
  event.preventDefault();
  const label = ui.className.value.trim();
  if (!label) return;
  if (!state.classes.includes(label)) state.classes.push(label);
  ui.className.value = "";
  renderClasses();
});
ui.classes.addEventListener("pointerdown", (event) => {
  const hold = event.target.closest(".hold");
  if (!hold) return;
  hold.setPointerCapture(event.pointerId);
  startCapture(hold.closest("li").dataset.label);
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  ui.classes.addEventListener(type, stopCapture);
}
ui.classes.addEventListener("keydown", (event) => {
  const hold = event.target.closest(".hold");
  if (hold && (event.key === " " || event.key === "Enter") && !event.repeat) {
    event.preventDefault();
    startCapture(hold.closest("li").dataset.label);
  }
});
ui.classes.addEventListener("keyup", (event) => {
  if (event.target.closest(".hold")) stopCapture();
});
ui.classes.addEventListener("click", (event) => {
  const remove = event.target.closest(".remove");
  if (remove) removeClass(remove.closest("li").dataset.label);
});
ui.headSelect.addEventListener("change", switchHead);
ui.train.addEventListener("click", train);
ui.exportHead.addEventListener("click", exportHead);
ui.importHead.addEventListener("change", () => importHead(ui.importHead.files[0]));

// ------------------------------------------------------------------ wiring

ui.cameraToggle.addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
ui.cameraSelect.addEventListener("change", () => startCamera(ui.cameraSelect.value));
ui.modelSelect.addEventListener("change", () => switchModel(ui.modelSelect.value));
ui.hubForm.addEventListener("submit", (event) => {
  event.preventDefault();
  loadHubId(ui.hubId.value.trim());
});
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
