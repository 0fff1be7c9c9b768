// npm run bench: our package vs onnxruntime-web in one headless Chromium page, single thread,
// 224x224, on the same weights (../shared/weights or reference/synthetic, and ../shared/onnx).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, copyInto, installPackage, launchChromium, serveDir, serveShared, tarball } from "../support/harness.mjs";

const WARMUP = 10;
const RUNS = 50;
const MODELS = [
  { name: "mobilenetv3_small_100", weights: "weights/mobilenetv3_small_100.safetensors", options: { arch: "mobilenet_v3_small", padding: "tf" } },
  { name: "mobilenetv2_100", weights: "weights/mobilenetv2_100.safetensors", options: { arch: "mobilenet_v2" } },
  { name: "mobilenetv1_075", weights: "weights/mobilenetv1_075.safetensors", options: { arch: "mobilenet_v1", width: 0.75, padding: "tf" } },
  { name: "tv_mobilenet_v3_large", weights: "reference/synthetic/tv_mobilenet_v3_large.safetensors", options: { arch: "mobilenet_v3_large" } },
  { name: "mobilenext_100", weights: "reference/synthetic/mobilenext_100.safetensors", options: { arch: "mobilenext" } },
].map((m) => ({ ...m, onnx: `onnx/${m.name}.onnx` }));

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

const shared = await serveShared();
const server = await serveDir(site);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${server.url}/index.html?shared=${shared.url}`);
  await page.waitForFunction(() => window.benchReady === true);
  const { compileMs, results, userAgent } = await page.evaluate(
    ([models, warmup, runs]) => window.runBench(models, warmup, runs),
    [MODELS, WARMUP, RUNS],
  );
  const wasm = readFileSync(join(site, "node_modules/mobilenet-wasm/mobilenet_wasm_bg.wasm"));
  const ortVersion = JSON.parse(readFileSync(join(ROOT, "node_modules/onnxruntime-web/package.json"))).version;
  console.log(`${userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? userAgent}, one thread, 224x224, ${WARMUP} warm-ups + ${RUNS} runs`);
  console.log(`ours: ${tarball().split("/").pop()}, wasm ${(wasm.length / 1024).toFixed(0)} kB (${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} kB gzipped), compiled in ${compileMs.toFixed(0)} ms; onnxruntime-web ${ortVersion} (wasm, SIMD)`);
  const row = (cells) => console.log(cells.map((c, i) => (i === 0 ? String(c).padEnd(24) : String(c).padStart(11))).join(" "));
  row(["model", "ours med", "ours p90", "ort med", "ort p90", "ours/ort", "GFLOP/s", "load ms", "640x480 ms", "max |Δ|"]);
  for (const r of results) {
    const gflops = (2 * multiplyAdds[r.name]) / r.ours.median / 1e6;
    row([
      r.name,
      r.ours.median.toFixed(2),
      r.ours.p90.toFixed(2),
      r.ort.median.toFixed(2),
      r.ort.p90.toFixed(2),
      (r.ours.median / r.ort.median).toFixed(2),
      gflops.toFixed(1),
      r.loadMs.toFixed(1),
      r.frame.median.toFixed(2),
      r.diff.toExponential(1),
    ]);
  }
} finally {
  await browser.close();
  await server.close();
  await shared.close();
}
