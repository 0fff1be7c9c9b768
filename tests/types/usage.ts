// Compiled with `tsc --strict` against the built package's typings: the documented API must type-
// check, and misuse must not (each @ts-expect-error fails the build if the line compiles).
import {
  Classifier,
  DEFAULT_MODEL,
  MobileNetError,
  WorkerClassifier,
  relaxedSimdSupported,
  setWasmUrl,
  wasmMemoryBytes,
  type EpochStats,
  type ErrorCode,
  type HubId,
  type HubModel,
  type Learner,
  type LearnerPrediction,
  type ImageInput,
  type ModelInfo,
  type Prediction,
} from "mobilenet-wasm";

async function usage(video: HTMLVideoElement, canvas: OffscreenCanvas, frame: VideoFrame) {
  setWasmUrl(new URL("https://cdn.example/mobilenet_wasm_bg.wasm"));
  const classifier: Classifier = await Classifier.load("/models/mobilenet_v3_small.safetensors", {
    onProgress: (loaded: number, total: number | undefined) => console.log(loaded, total),
    integrity: "sha256-abc",
    cache: "models",
  });
  const fromHub = await Classifier.load("timm/mobilenetv4_conv_small.e2400_r224_in1k", {
    hubUrl: "https://hub.example",
    revision: "main",
    interpolation: "bicubic",
    cropPct: 0.95,
  });
  const byDefault: Classifier = await Classifier.load();
  const inWorker: WorkerClassifier = await Classifier.loadInWorker();
  const offered: readonly HubModel[] = Classifier.models;
  const id: HubId = offered[0].id;
  const first: HubId = DEFAULT_MODEL;
  const filter: "bilinear" | "bicubic" = fromHub.info.interpolation;
  console.log(byDefault, inWorker, id, first, filter, offered[0].bytes, offered[0].arch);
  // @ts-expect-error: not a filter the package implements
  await Classifier.load(first, { interpolation: "lanczos" });
  const relaxed: boolean = relaxedSimdSupported();
  const plain = await Classifier.load(new ArrayBuffer(8), {
    relaxedSimd: relaxed,
    relaxedWasmUrl: "https://cdn.example/mobilenet_wasm_relaxed_bg.wasm",
    arch: "mobilenet_v1",
    width: 0.75,
    padding: "tf",
    activation: "relu6",
    labels: ["a", "b"],
  });
  const info: ModelInfo = plain.info;
  const simd: "relaxed-simd" | "simd128" = info.simd;
  const threaded = await Classifier.loadInWorker("timm/mobilenetv3_small_100.lamb_in1k", {
    threads: 2,
    threadsWasmUrl: new URL("https://cdn.example/mobilenet_wasm_threads_bg.wasm"),
  });
  const threads: number = threaded.info.threads;
  const nonFinite: ErrorCode = "NON_FINITE";
  const quantized = await Classifier.load("/mobilenetv2-int8.safetensors", { compute: "int8" });
  const compute: "float32" | "int8" = quantized.info.compute;
  console.log(threads, nonFinite, compute);
  const top: Prediction[] = await classifier.classify(video, { topK: 3 });
  const label: string | null = top[0].label;
  const logits: Float32Array = await classifier.logits(canvas);
  const features: Float32Array = await classifier.embed({ data: new Uint8ClampedArray(4), width: 1, height: 1 });
  const fromTensor: Float32Array = await classifier.logitsFromTensor(new Float32Array(3 * 224 * 224), 224, 224);
  const worker: WorkerClassifier = await Classifier.loadInWorker(new Uint8Array(8), { arch: "mobilenet_v2" });
  await worker.classify(frame);
  worker.dispose();
  const bytes: number = await wasmMemoryBytes();
  try {
    await classifier.classify(video);
  } catch (e) {
    if (e instanceof MobileNetError) {
      const code: ErrorCode = e.code;
      console.log(code, info.arch, simd, label, logits.length, features.length, bytes, fromTensor.length);
    }
  }

  const learner: Learner = await classifier.learner({ head: "linear" });
  const examples: number = await learner.addExample(video, "thumbs up", { augment: true });
  await learner.addEmbedding(features, "thumbs down");
  const last: EpochStats = await learner.train({
    epochs: 20,
    learningRate: 0.01,
    seed: 1,
    onEpoch: ({ epoch, loss, accuracy }) => console.log(epoch, loss, accuracy),
  });
  const mine: LearnerPrediction[] = await learner.classify(frame, { topK: 2 });
  const name: string = mine[0].label;
  const counts: number = learner.counts["thumbs up"] + learner.labels.length;
  const head: Uint8Array = await learner.export({ examples: false });
  const again: Learner = await worker.learner({ from: head, head: "knn", k: 5 });
  const combined: Uint8Array = await again.exportModel("/models/mobilenet_v3_small.safetensors");
  const custom = await Classifier.load(combined);
  console.log(examples, last.accuracy, name, counts, custom.info.customHead, custom.info.embeddingSize);
  learner.dispose();
  // @ts-expect-error: the head is "knn" or "linear"
  await classifier.learner({ head: "svm" });
  // @ts-expect-error: a label is a string
  await learner.addExample(video, 3);

  // @ts-expect-error: unknown architecture
  await Classifier.load("/m", { arch: "resnet50" });
  // @ts-expect-error: relaxedSimd is a boolean
  await Classifier.load("/m", { relaxedSimd: "yes" });
  // @ts-expect-error: compute is "float32" or "int8"
  await Classifier.load("/m", { compute: "int4" });
  // @ts-expect-error: threads is a number
  await Classifier.loadInWorker("/m", { threads: "2" });
  // @ts-expect-error: padding is "torch" or "tf"
  await Classifier.load("/m", { padding: "same" });
  // @ts-expect-error: a string is not an image
  await classifier.classify("cat.jpg");
  // @ts-expect-error: topK is a number
  await classifier.classify(video, { topK: "5" });
  // @ts-expect-error: not a known error code
  const bad: ErrorCode = "OOPS";
  const input: ImageInput = video;
  return [bad, input];
}

export { usage };
