// npm run bench: our package vs onnxruntime-web and TensorFlow.js (wasm backends) in headless
// Chromium, single thread, 224x224, on the same weights (../shared/weights or reference/synthetic;
// ort-web reads their ONNX exports in ../shared/onnx, TF.js builds its graph from the safetensors).
// The single-thread rounds time LiteRT.js too, on the uint8 .tflite files that two of the trained
// checkpoints were dequantized from (../shared/weights/original).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { ISOLATION_HEADERS } from "../../scripts/serve.mjs";
import { MANIFEST, ROOT, SHARED, copyInto, installPackage, int8File, launchChromium, serveDir, serveShared, tarball } from "../support/harness.mjs";

const WARMUP = 10;
const RUNS = 50;
/** Rounds of the single-thread bench, each in a fresh browser (BENCH_ROUNDS overrides). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// The benchmarks' checkpoints of tests/models.json: plain files from ../shared, and timm folders
// made self-describing (f32, the same values) by mobilenet-convert below.
const MODELS = [
  ...MANIFEST.plain.filter((m) => m.bench),
  ...MANIFEST.timm.filter((m) => m.bench).map((m) => ({ ...m, timm: `reference/timm/${m.name}`, options: {} })),
]
  .map((m) => ({ onnx: `onnx/${m.name}.onnx`, ...m }))
  // BENCH_MODELS=v2,small times only the models whose names contain one of the words.
  .filter((m) => !process.env.BENCH_MODELS || process.env.BENCH_MODELS.split(",").some((w) => m.name.includes(w)));

const multiplyAdds = JSON.parse(
  execFileSync(join(ROOT, "target/release/mobilenet-bench"), ["--multiply-adds"], { encoding: "utf8" }),
);

const site = installPackage("bench");
copyInto(site, join(ROOT, "tests/bench"));
mkdirSync(join(site, "ort"), { recursive: true });
const ortDist = join(ROOT, "node_modules/onnxruntime-web/dist");
for (const file of ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]) {
  cpSync(join(ortDist, file), join(site, "ort", file));
}
mkdirSync(join(site, "tfjs"), { recursive: true });
for (const file of [
  "@tensorflow/tfjs-core/dist/tf-core.fesm.min.js",
  "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.min.js",
  "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
  "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
]) {
  cpSync(join(ROOT, "node_modules", file), join(site, "tfjs", file.split("/").pop()));
}
// LiteRT.js's modules without threads: relaxed SIMD, and the compat one for browsers without it.
mkdirSync(join(site, "litert"), { recursive: true });
const litert = join(ROOT, "node_modules/@litertjs");
cpSync(join(litert, "core/dist/index.js"), join(site, "litert/core.js"));
cpSync(join(litert, "wasm-utils/dist/index.js"), join(site, "litert/wasm-utils.js"));
for (const file of ["litert_wasm_internal", "litert_wasm_compat_internal"].flatMap((f) => [`${f}.js`, `${f}.wasm`])) {
  cpSync(join(litert, "core/wasm", file), join(site, "litert", file));
}

mkdirSync(join(site, "models"), { recursive: true });
for (const m of MODELS.filter((m) => m.timm)) {
  m.weights = `models/${m.name}.safetensors`;
  execFileSync(join(ROOT, "target/release/mobilenet-convert"), [join(SHARED, m.timm), join(site, m.weights)], { stdio: "ignore" });
}
// The trained checkpoints as int8 files (mobilenet-convert --int8), timed with int8 1×1 convs.
for (const m of MODELS.filter((m) => m.trained)) {
  m.int8 = `models/${m.name}-int8.safetensors`;
  int8File(m.name, join(site, m.int8), join(ROOT, "target/release/mobilenet-convert"));
}

const shared = await serveShared();
const server = await serveDir(site);
// The 2-thread section's page: cross-origin isolated, as threads need.
const isolated = await serveDir(site, ISOLATION_HEADERS);
// Weights from ../shared, or (converted timm folders) from the bench's own site.
for (const m of MODELS) m.url = m.timm ? m.weights : `${shared.url}/${m.weights}`;
// The quantized originals LiteRT.js runs (tests/models.json's `tflite`: V2's is TorchScript).
for (const m of MODELS) if (m.tflite) m.tflite = `${shared.url}/${m.tflite}`;

/** `run(page)` on `html` (of `site`) in a browser of its own (so nothing compiled is shared). */
async function inFreshBrowser(html, run, site = server) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${site.url}/${html}${html.includes("?") ? "&" : "?"}shared=${shared.url}`);
    await page.waitForFunction(() => window.benchReady === true || window.initReady === true);
    return await run(page);
  } finally {
    await browser.close();
  }
}

const benchPage = (settings, threads = 1) =>
  inFreshBrowser(
    `index.html?threads=${threads}`,
    (page) =>
      page.evaluate(
        ([models, warmup, runs, settings]) => window.runBench(models, warmup, runs, settings),
        [MODELS, WARMUP, RUNS, settings],
      ),
    threads > 1 ? isolated : server,
  );

/** Threads of the bench's threaded section. */
const THREADS = 2;

/**
 * Init of the first model, each time in a fresh browser (nothing compiled or cached), on a page
 * that loads only our package: its median and range over `INIT_RUNS`. The clock starts
 * `SETTLE_MS` after the page has loaded: a headless Chromium just launched goes on starting its
 * own processes for a few seconds, and on 2 cores that work would be timed as ours (it doubled
 * the median here), while a user's browser is long up when a page loads a model.
 */
const INIT_RUNS = 7;
const SETTLE_MS = 3000;
async function initTimes(relaxedSimd) {
  const ms = [];
  for (let i = 0; i < INIT_RUNS; i++) {
    const { initMs, simd } = await inFreshBrowser("init.html", async (page) => {
      await page.waitForTimeout(SETTLE_MS);
      return page.evaluate(([model, relaxed]) => window.runInit(model, relaxed), [MODELS[0], relaxedSimd]);
    });
    if (!relaxedSimd && simd !== "simd128") throw new Error(`init ran ${simd}, not SIMD128`);
    ms.push(initMs);
  }
  ms.sort((a, b) => a - b);
  const f = (v) => v.toFixed(1);
  return `${f(ms[ms.length >> 1])} ms (${f(ms[0])}–${f(ms[ms.length - 1])})`;
}

const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const sizes = (file) => {
  const wasm = readFileSync(join(site, "node_modules/mobilenet-wasm", file));
  return `${file} ${(wasm.length / 1024).toFixed(0)} kB (${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} kB gzipped)`;
};

/** min / median / max of `values`, to two decimals. */
const spread = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  return [sorted[0], sorted[sorted.length >> 1], sorted[sorted.length - 1]].map((v) => v.toFixed(2)).join(" / ");
};
const median = (values) => [...values].sort((x, y) => x - y)[values.length >> 1];
const labels = readFileSync(join(SHARED, "weights/imagenet_classes.txt"), "utf8").split("\n");
const loadAverage = () => loadavg().map((v) => v.toFixed(2)).join(" ");

try {
  // Rounds, each a fresh browser in which ours, ort-web, TF.js and LiteRT.js take turns run by run:
  // the machine's slow spells move them all, and the ratios' spread over rounds shows how much.
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const load = loadAverage();
    rounds.push({ ...(await benchPage({ relaxedSimd: true, withOthers: true })), load });
  }
  // The threaded section, rounds taking turns with the single-thread ones' order kept apart: a
  // neighbour holding the second core makes 2-thread timings bimodal, so each round's load shows.
  const threadedRounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const load = loadAverage();
    threadedRounds.push({ ...(await benchPage({ relaxedSimd: true, withOthers: true }, THREADS)), load });
  }
  const simd128 = await benchPage({ relaxedSimd: false, withOthers: false });
  const init = { relaxed: await initTimes(true), simd128: await initTimes(false) };
  const relaxed = rounds[0];
  if (relaxed.simd !== "relaxed-simd") console.log(`note: this browser has no relaxed SIMD; "ours" ran ${relaxed.simd}`);
  const ortVersion = JSON.parse(readFileSync(join(ROOT, "node_modules/onnxruntime-web/package.json"))).version;
  console.log(`${relaxed.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? relaxed.userAgent}, one thread, 224x224, ${ROUNDS} rounds of ${WARMUP} warm-ups + ${RUNS} runs taking turns (ours, ort-web, TF.js, LiteRT.js)`);
  console.log(`load average (1, 5, 15 min) at the start of each round: ${rounds.map((r) => r.load).join("; ")}; at the end: ${loadAverage()}`);
  console.log(`ours: ${tarball().split("/").pop()}: ${sizes("mobilenet_wasm_relaxed_bg.wasm")}, ${sizes("mobilenet_wasm_bg.wasm")}`);
  const tfjsVersion = JSON.parse(readFileSync(join(ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/package.json"))).version;
  const litertVersion = JSON.parse(readFileSync(join(litert, "core/package.json"))).version;
  console.log(`onnxruntime-web ${ortVersion} (wasm, SIMD, numThreads 1); TensorFlow.js ${tfjsVersion} (wasm backend: XNNPACK, SIMD, one thread)`);
  console.log(`LiteRT.js: @litertjs/core ${litertVersion} (wasm CPU: XNNPACK, its module without threads, relaxed SIMD, numThreads 1), on the uint8 .tflite originals`);
  console.log(
    `init (wasm compile + first model from bytes in memory), median (range) of ${INIT_RUNS} fresh browsers, ${SETTLE_MS / 1000} s after start-up: ` +
      `${MODELS[0].name} ${init.relaxed} relaxed, ${init.simd128} SIMD128`,
  );
  // `width`: every column's, or each column's.
  const row = (cells, width = 8) =>
    console.log(
      cells.map((c, i) => (i === 0 ? String(c).padEnd(22) : String(c).padStart(width[i] ?? width))).join(" "),
    );
  console.log("\nmedian ms of each round (ours, ort-web, TF.js, LiteRT.js):");
  row(["model", ...rounds.map((_, i) => `round ${i + 1}`)], 22);
  MODELS.forEach((m, i) => {
    const cell = (r) => [r.ours, r.ort, r.tfjs, r.litert].map((t) => t?.median.toFixed(1) ?? "–").join(" ");
    row([m.name, ...rounds.map((round) => cell(round.results[i]))], 22);
  });
  console.log("\nratios over the rounds, min / median / max, and the median round's figures:");
  const widths = [0, 8, 8, 8, 8, 8, 18, 18, 18, 8, 8, 8, 9, 9, 9];
  row(["model", "ours", "SIMD128", "ort-web", "TF.js", "LiteRT", "ours÷ort", "ours÷TF.js", "ours÷LiteRT", "GFLOP/s", "load ms", "640x480", "|Δ| ort", "|Δ| TF.js", "|Δ| 128"], widths);
  MODELS.forEach((m, i) => {
    const results = rounds.map((round) => round.results[i]);
    const byOrt = results.map((r) => r.ours.median / r.ort.median);
    const byTfjs = results.map((r) => r.ours.median / r.tfjs.median);
    const r = results.find((x) => x.ours.median / x.tfjs.median === median(byTfjs));
    const s = simd128.results[i];
    row(
      [
        m.name,
        r.ours.median.toFixed(2),
        s.ours.median.toFixed(2),
        r.ort.median.toFixed(2),
        r.tfjs.median.toFixed(2),
        r.litert?.median.toFixed(2) ?? "–",
        spread(byOrt),
        spread(byTfjs),
        r.litert ? spread(results.map((x) => x.ours.median / x.litert.median)) : "–",
        ((2 * multiplyAdds[m.name]) / r.ours.median / 1e6).toFixed(1),
        r.reloadMs.toFixed(1),
        r.frame.median.toFixed(2),
        maxDiff(r.oursLogits, r.ortLogits).toExponential(1),
        maxDiff(r.oursLogits, r.tfjsLogits).toExponential(1),
        maxDiff(r.oursLogits, s.oursLogits).toExponential(1),
      ],
      widths,
    );
  });
  console.log("\nint8 files (mobilenet-convert --int8), 1×1 convs in int8, taking turns with the rest; ratios min / median / max:");
  const int8Widths = [0, 9, 9, 18, 18, 18, 10];
  row(["model", "int8 ms", "SIMD128", "int8÷float32", "int8÷LiteRT", "int8÷TF.js", "|Δ| f32"], int8Widths);
  MODELS.forEach((m, i) => {
    if (!m.int8) return;
    const results = rounds.map((round) => round.results[i]);
    const by = (other) => (results[0][other] ? spread(results.map((r) => r.oursInt8.median / r[other].median)) : "–");
    const medianRound = results.find((r) => r.oursInt8.median === median(results.map((x) => x.oursInt8.median)));
    row(
      [
        m.name,
        medianRound.oursInt8.median.toFixed(2),
        simd128.results[i].oursInt8.median.toFixed(2),
        by("ours"),
        by("litert"),
        by("tfjs"),
        maxDiff(medianRound.int8Logits, medianRound.oursLogits).toExponential(1),
      ],
      int8Widths,
    );
  });
  const label = (index) => `${index} ${labels[index]}`;
  const top1s = MODELS.map((m, i) => [m.name, relaxed.results[i].photoTop1]).filter(([, top1]) => top1);
  if (top1s.length) {
    console.log(
      `top-1 on ${relaxed.photo} (round 1), LiteRT.js on the .tflite vs ours: ` +
        top1s.map(([name, top1]) => `${name} ${label(top1.litert)} (ours ${label(top1.ours)})`).join("; "),
    );
  }
  console.log(`\n${THREADS} threads, on a cross-origin-isolated page: ours in a worker (the threaded module, each tensor posted there and the logits back), ort-web numThreads ${THREADS}, TF.js setThreadsCount(${THREADS}) (its threaded SIMD module), and ours single-threaded in the page, taking turns`);
  console.log(`load average at the start of each round: ${threadedRounds.map((r) => r.load).join("; ")}`);
  console.log("median ms of each round (ours 1 thread, ours threaded, ort-web, TF.js):");
  row(["model", ...threadedRounds.map((_, i) => `round ${i + 1}`)], 26);
  MODELS.forEach((m, i) => {
    const cell = (r) => [r.ours, r.oursThreaded, r.ort, r.tfjs].map((t) => t.median.toFixed(1)).join(" ");
    row([m.name, ...threadedRounds.map((round) => cell(round.results[i]))], 26);
  });
  const threadWidths = [0, 18, 18, 18, 9];
  row(["model", "threaded÷1 thread", "threaded÷ort", "threaded÷TF.js", "|Δ| 1"], threadWidths);
  MODELS.forEach((m, i) => {
    const results = threadedRounds.map((round) => round.results[i]);
    const by = (other) => spread(results.map((r) => r.oursThreaded.median / r[other].median));
    const exact = Math.max(...results.map((r) => maxDiff(r.threadedLogits, r.oursLogits)));
    row([m.name, by("ours"), by("ort"), by("tfjs"), exact.toExponential(1)], threadWidths);
  });
  console.log(
    "\nours: the relaxed-SIMD module; SIMD128: the other module (a browser of its own, after the rounds);\n" +
      "LiteRT: LiteRT.js on the quantized .tflite the weights came from (uint8 kernels: not the same arithmetic; – where there is none);\n" +
      "ours÷ort, ours÷TF.js, ours÷LiteRT: ratios of medians, min / median / max over the rounds (below 1: ours is faster);\n" +
      "load ms: a model built again from bytes; 640x480: classify() of an RGBA frame, preprocessing included;\n" +
      "int8: the int8 file with compute \"int8\" (relaxed SIMD's 16-product dot; SIMD128: i32x4.dot_i16x8_s), |Δ| f32 from ours on the float32 file;\n" +
      "|Δ|: max logit difference from ours; |Δ| 1: the threaded module's from the single-threaded one (relaxed SIMD both)",
  );
} finally {
  await isolated.close();
  await server.close();
  await shared.close();
}
