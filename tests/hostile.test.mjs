// Hostile input to the packed package in a page, as a careless or malicious caller gives it:
// detached buffers, values of the wrong type, a page of HTML for a model, non-finite tensors, and
// an image far larger than any camera's. Each is a typed error with a message that says what is
// wrong, or (the huge image) an answer in bounded WebAssembly memory.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, copyInto, installPackage, launchChromium, serveDir, serveShared, watchConsole } from "./support/harness.mjs";

let shared, site, browser, page, errors;

before(async () => {
  const dir = installPackage("hostile");
  copyInto(dir, join(ROOT, "tests/page"));
  shared = await serveShared();
  site = await serveDir(dir);
  browser = await launchChromium();
  page = await browser.newPage();
  errors = watchConsole(page);
  await page.goto(`${site.url}/index.html?shared=${shared.url}`);
  await page.waitForFunction(() => window.pageReady === true);
  await page.evaluate(async () => {
    window.modelUrl = `${shared}/weights/mobilenetv3_small_100.safetensors`;
    window.modelOptions = { arch: "mobilenet_v3_small", padding: "tf" };
    window.clf = await mnw.Classifier.load(modelUrl, modelOptions);
    window.worker = await mnw.Classifier.loadInWorker(modelUrl, modelOptions);
    /** `buffer` transferred away (as postMessage's transfer list does): detached here. */
    window.detach = (buffer) => structuredClone(buffer, { transfer: [buffer] }) && buffer;
    window.failure = (promise) =>
      promise.then(
        () => ({ code: "ok" }),
        (e) => ({ code: e.code, message: e.message, typed: e instanceof mnw.MobileNetError }),
      );
  });
});

after(async () => {
  await page?.evaluate(() => window.worker.dispose());
  await browser?.close();
  await site?.close();
  await shared?.close();
  assert.deepEqual(errors, [], "the page logged errors");
});

test("detached buffers are BAD_SOURCE and BAD_IMAGE, in the page and in the worker", async () => {
  const result = await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
    const detachedModel = () => detach(bytes.slice().buffer);
    /** A view made before its buffer was transferred away. */
    const detachedView = (view) => detach(view.buffer) && view;
    const raw = () => ({ data: detachedView(new Uint8Array(64 * 48 * 4)), width: 64, height: 48 });
    const imageData = () => {
      const image = new ImageData(64, 48);
      detach(image.data.buffer);
      return image;
    };
    const out = {
      load: await failure(mnw.Classifier.load(detachedModel(), modelOptions)),
      loadView: await failure(mnw.Classifier.load(detachedView(bytes.slice()), modelOptions)),
      loadInWorker: await failure(mnw.Classifier.loadInWorker(detachedModel(), modelOptions)),
      raw: await failure(clf.classify(raw())),
      imageData: await failure(clf.classify(imageData())),
      workerRaw: await failure(worker.classify(raw())),
      workerImageData: await failure(worker.classify(imageData())),
      learner: await failure(clf.learner().then((l) => l.addExample(raw(), "a"))),
    };
    out.viewLength = detachedView(bytes.slice()).byteLength;
    // Both still classify.
    const good = { data: new Uint8Array(64 * 48 * 4).fill(128), width: 64, height: 48 };
    out.after = [(await clf.classify(good)).length, (await worker.classify(good)).length];
    return out;
  });
  const { viewLength, after: stillWorks, ...failures } = result;
  assert.equal(viewLength, 0);
  assert.deepEqual(stillWorks, [5, 5]);
  for (const [what, { code, message, typed }] of Object.entries(failures)) {
    const expected = what.startsWith("load") ? "BAD_SOURCE" : "BAD_IMAGE";
    assert.equal(code, expected, `${what}: ${message}`);
    assert.ok(typed || what.startsWith("worker"), `${what} is a MobileNetError`);
    assert.match(message, /detached/, what);
  }
});

test("messages name the wrong value: a string for a number, an HTML page for a model", async () => {
  const result = await page.evaluate(async () => {
    const pixels = new Uint8Array(2 * 2 * 4);
    return {
      width: await failure(clf.classify({ data: pixels, width: "2", height: 2 })),
      topK: await failure(clf.classify({ data: pixels, width: 2, height: 2 }, { topK: "5" })),
      html: await failure(
        mnw.Classifier.load(new TextEncoder().encode("<!DOCTYPE html><html><body>404</body></html>"), modelOptions),
      ),
      nan: await failure(clf.logitsFromTensor(new Float32Array(3 * 224 * 224).fill(NaN), 224, 224)),
    };
  });
  assert.equal(result.width.code, "BAD_IMAGE");
  assert.match(result.width.message, /image\.width must be a whole number, got "2" \(a string\)/);
  assert.equal(result.topK.code, "BAD_CONFIG");
  assert.match(result.topK.message, /topK must be a whole number >= 1, got "5" \(a string\)/);
  assert.equal(result.html.code, "BAD_MODEL");
  assert.match(result.html.message, /not a safetensors file: it looks like an HTML or XML page/);
  assert.equal(result.nan.code, "BAD_INPUT");
  assert.match(result.nan.message, /non-finite/);
});

// An image is read a strip of rows at a time (4 MiB of RGBA at most), and the resize keeps about a
// filter's height of rows: a 16000×16000 canvas (1 GiB of RGBA) grows wasm memory by no more than
// the strip, where it grew it by the whole image before (1,049,100,288 bytes, never given back).
const STRIP_BOUND = 8 << 20;

test("a 16000x16000 canvas classifies, and wasm memory grows by less than a strip", async () => {
  const result = await page.evaluate(async () => {
    const frame = Object.assign(document.createElement("canvas"), { width: 640, height: 480 });
    const context = frame.getContext("2d");
    context.fillStyle = "#8a5";
    context.fillRect(0, 0, 640, 480);
    await clf.classify(frame);
    const before = await mnw.wasmMemoryBytes();
    const huge = Object.assign(document.createElement("canvas"), { width: 16000, height: 16000 });
    const big = huge.getContext("2d");
    big.drawImage(frame, 0, 0, 16000, 16000);
    const top = await clf.classify(huge);
    const hugeBytes = await mnw.wasmMemoryBytes();
    // The same picture at webcam size gets the same answer.
    const small = await clf.classify(frame);
    return { before, after: hugeBytes, top, small };
  });
  assert.equal(result.top.length, 5);
  assert.ok(result.top.every((p) => Number.isFinite(p.probability)));
  assert.equal(result.top[0].index, result.small[0].index);
  const growth = result.after - result.before;
  console.log(`# 16000x16000 canvas: wasm memory ${result.before} -> ${result.after} bytes`);
  assert.ok(growth <= STRIP_BOUND, `wasm memory grew by ${growth} bytes`);
});
