// A minimal app as a Vite user writes it: import the package, classify an image and teach a linear
// head, in the page and in a worker. The model and image come from another origin (?shared=...), as from a CDN.
import { Classifier } from "mobilenet-wasm";

async function run() {
  const shared = new URLSearchParams(location.search).get("shared");
  const text = await (await fetch(`${shared}/weights/imagenet_classes.txt`)).text();
  const options = { arch: "mobilenet_v3_small", padding: "tf", labels: text.trimEnd().split("\n") };
  const url = `${shared}/weights/mobilenetv3_small_100.safetensors`;
  const img = new Image();
  img.crossOrigin = "anonymous";
  img.src = `${shared}/images/chelsea.png`;
  await img.decode();
  const inPage = await Classifier.load(url, options);
  const inWorker = await Classifier.loadInWorker(url, options);
  // Training loads the package's second module (the trainer), in the page and in the worker.
  const taught = [];
  const blank = { data: new Uint8Array(64 * 64 * 4).fill(255), width: 64, height: 64 };
  for (const classifier of [inPage, inWorker]) {
    const learner = await classifier.learner({ head: "linear" });
    await learner.addExample(img, "cat");
    await learner.addExample(blank, "blank");
    await learner.train({ epochs: 5 });
    for (const image of [img, blank]) taught.push((await learner.classify(image, { topK: 1 }))[0].label);
  }
  // A Hub model (the test answers huggingface.co): its ImageNet labels are one of the package's assets.
  const hub = await Classifier.loadInWorker("timm/mobilenetv3_small_100.lamb_in1k");
  const hubTop = (await hub.classify(img, { topK: 1 }))[0];
  hub.dispose();
  return {
    hub: hubTop,
    page: (await inPage.classify(img, { topK: 1 }))[0],
    worker: (await inWorker.classify(img, { topK: 1 }))[0],
    simd: [inPage.info.simd, inWorker.info.simd],
    taught,
  };
}

run().then(
  (result) => {
    window.outcome = result;
    document.getElementById("result").textContent = `${result.page.label} / ${result.worker.label}`;
  },
  (error) => {
    window.outcome = { error: `${error.code}: ${error.message}` };
  },
);
