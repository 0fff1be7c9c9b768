// Threads: on a cross-origin-isolated page a worker classifier runs the threaded module (its
// kernels split over a pool of workers); on a plain page the single-threaded one. Both give the
// same answers: the threaded module is the relaxed-SIMD build with atomics, and splits its work
// by output rows, so its logits are the relaxed module's to the bit.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ISOLATION_HEADERS } from "../scripts/serve.mjs";
import { ROOT, copyInto, installPackage, launchChromium, serveDir, serveShared, watchConsole } from "./support/harness.mjs";

let shared, plain, isolated, browser;

before(async () => {
  const dir = installPackage("threads");
  copyInto(dir, join(ROOT, "tests/page"));
  shared = await serveShared();
  plain = await serveDir(dir);
  isolated = await serveDir(dir, ISOLATION_HEADERS);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await plain?.close();
  await isolated?.close();
  await shared?.close();
});

/** In a fresh page of `site`: a worker classifier's info, top-5 and logits of two photos. */
async function workerAnswers(site, options = {}) {
  const page = await browser.newPage();
  const errors = watchConsole(page);
  try {
    await page.goto(`${site.url}/index.html?shared=${shared.url}`);
    await page.waitForFunction(() => window.pageReady === true);
    const result = await page.evaluate(async (options) => {
      const worker = await mnw.Classifier.loadInWorker(`${shared}/weights/mobilenetv2_100.safetensors`, {
        arch: "mobilenet_v2",
        cache: false,
        ...options,
      });
      const out = { isolated: crossOriginIsolated, info: worker.info, top: {}, logits: {} };
      for (const image of ["chelsea.png", "coffee.png"]) {
        const { raw } = await forms(image);
        out.top[image] = await worker.classify(raw, { topK: 5 });
        out.logits[image] = Array.from(await worker.logits(raw));
      }
      out.badThreads = await mnw.Classifier.loadInWorker(`${shared}/weights/mobilenetv2_100.safetensors`, {
        arch: "mobilenet_v2",
        threads: "2",
      }).catch((e) => e.code);
      worker.dispose();
      return out;
    }, options);
    assert.deepEqual(errors, [], "the page logged errors");
    return result;
  } finally {
    await page.close();
  }
}

test("an isolated page's worker runs threads, a plain page's one thread: the same answers, to the bit", async () => {
  const threaded = await workerAnswers(isolated);
  const single = await workerAnswers(plain);
  assert.equal(threaded.isolated, true);
  assert.equal(single.isolated, false);
  assert.ok(threaded.info.threads > 1, `threads: ${threaded.info.threads}`);
  assert.equal(single.info.threads, 1);
  assert.equal(threaded.info.simd, "relaxed-simd");
  assert.equal(single.info.simd, "relaxed-simd");
  assert.deepEqual(threaded.top, single.top);
  assert.deepEqual(threaded.logits, single.logits);
  assert.equal(threaded.top["chelsea.png"][0].index, 285);
  assert.equal(threaded.badThreads, "BAD_CONFIG");
});

test("threads: 1 keeps the single-threaded module on an isolated page", async () => {
  const one = await workerAnswers(isolated, { threads: 1 });
  assert.equal(one.isolated, true);
  assert.equal(one.info.threads, 1);
});
