// Placeholder demo: load the default model, classify a chosen image.
import { Classifier } from "./pkg/index.js";

const status = document.getElementById("status");
const results = document.getElementById("results");
const canvas = document.getElementById("preview");

function loadModel() {
  return Classifier.load("models/mobilenet_v3_small.safetensors", {
    onProgress: (loaded, total) => {
      status.textContent = `Loading model… ${Math.round((100 * loaded) / (total ?? loaded))} %`;
    },
  });
}

function show(predictions, ms) {
  results.replaceChildren(
    ...predictions.map((p) => {
      const li = document.createElement("li");
      li.textContent = p.label ?? `class ${p.index}`;
      const prob = document.createElement("span");
      prob.textContent = `${(p.probability * 100).toFixed(1)} %`;
      li.append(prob);
      return li;
    }),
  );
  status.textContent = `Classified in ${ms.toFixed(1)} ms.`;
}

const model = loadModel().then(
  (m) => {
    const { arch, parameters } = m.info;
    status.textContent = `${arch} ready (${(parameters / 1e6).toFixed(2)} M parameters). Choose an image.`;
    return m;
  },
  (err) => {
    status.textContent = `Could not load the model: ${err.message}`;
    throw err;
  },
);

document.getElementById("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const m = await model;
    const start = performance.now();
    const predictions = await m.classify(bitmap, { topK: 5 });
    show(predictions, performance.now() - start);
  } catch (err) {
    status.textContent = `Could not classify: ${err.message}${err.code ? ` (${err.code})` : ""}`;
  }
});
