// Transfer learning through the npm package in this run's engine (Chromium, Firefox or WebKit):
// MobileNetV2 features of the real handwritten digits in ../shared/datasets/digits (drawn and split
// as its README says), both heads, export/import, the backbone+head model file, the worker variant
// and the typed errors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import {
  ROOT,
  SHARED,
  copyInto,
  installPackage,
  launchBrowser,
  serveDir,
  serveShared,
} from "./support/harness.mjs";

/** `numpy.random.RandomState(seed).permutation(n)`: MT19937 (init_genrand), numpy's legacy shuffle. */
function numpyPermutation(seed, n) {
  const mt = new Uint32Array(624);
  mt[0] = seed;
  for (let i = 1; i < 624; i++) {
    const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
    mt[i] = Math.imul(1812433253, prev) + i;
  }
  let index = 624;
  const next = () => {
    if (index === 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      index = 0;
    }
    let y = mt[index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    return (y ^ (y >>> 18)) >>> 0;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    let mask = i;
    for (const shift of [1, 2, 4, 8, 16]) mask |= mask >>> shift;
    let j;
    do j = (next() & mask) >>> 0;
    while (j > i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The 1,797 digits, in the README's permuted order: `{ ink: number[64], label: number }`. */
function digits() {
  const csv = gunzipSync(readFileSync(join(SHARED, "datasets/digits/digits.csv.gz"))).toString();
  const rows = csv
    .trim()
    .split("\n")
    .map((line) => {
      const values = line.split(",").map(Number);
      return { ink: values.slice(0, 64), label: values[64] };
    });
  return numpyPermutation(0, rows.length).map((i) => rows[i]);
}

const V2 = "weights/mobilenetv2_100.safetensors";
let shared, site, browser, page;

before(async () => {
  const dir = installPackage("learner-site");
  copyInto(dir, join(ROOT, "tests/page"));
  shared = await serveShared();
  site = { ...(await serveDir(dir)), dir };
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.goto(`${site.url}/index.html?shared=${shared.url}`);
  await page.waitForFunction(() => window.pageReady === true);
  const all = digits();
  const seconds = await page.evaluate(
    async ({ all, path }) => {
      window.digits = all.map(({ ink, label }) => ({ image: drawDigit(ink), label: String(label) }));
      window.v2url = `${shared}/${path}`;
      window.v2 = await mnw.Classifier.load(v2url, { arch: "mobilenet_v2" });
      const started = performance.now();
      for (const digit of digits) digit.embedding = await v2.embed(digit.image);
      return (performance.now() - started) / 1000;
    },
    { all, path: V2 },
  );
  console.log(`embedded ${all.length} digits with MobileNetV2 in ${seconds.toFixed(1)} s`);
});

after(async () => {
  const errors = await page?.consoleErrors();
  await browser?.close();
  await site?.close();
  await shared?.close();
  assert.deepEqual(errors, [], "the page logged errors");
});

test("numpy's permutation is reproduced", () => {
  // numpy: RandomState(0).permutation(1797)[:5] and [-3:]
  const order = numpyPermutation(0, 1797);
  assert.deepEqual(order.slice(0, 5), [1081, 1707, 927, 713, 262]);
  assert.deepEqual(order.slice(-3), [1653, 559, 684]);
});

test("digits: linear head >= 94 %, kNN (k=3) >= 93 %, linear on 10 per class >= 80 %", async () => {
  const r = await page.evaluate(async () => {
    const train = digits.slice(0, 1000);
    const testSet = digits.slice(1000);
    const accuracy = async (learner) => {
      let right = 0;
      for (const d of testSet) {
        const [top] = await learner.classifyEmbedding(d.embedding, { topK: 1 });
        if (top.label === d.label) right++;
      }
      return right / testSet.length;
    };
    const linear = await v2.learner({ head: "linear" });
    const knn = await v2.learner({ head: "knn", k: 3 });
    for (const d of train) {
      await linear.addEmbedding(d.embedding, d.label);
      await knn.addEmbedding(d.embedding, d.label);
    }
    const epochs = [];
    const started = performance.now();
    const last = await linear.train({ onEpoch: (s) => epochs.push(s) });
    const trainSeconds = (performance.now() - started) / 1000;
    const few = await v2.learner({ head: "linear" });
    for (let digit = 0; digit < 10; digit++) {
      for (const d of train.filter((d) => d.label === String(digit)).slice(0, 10)) {
        await few.addEmbedding(d.embedding, d.label);
      }
    }
    await few.train();
    window.trained = { linear, knn };
    return {
      linear: await accuracy(linear),
      knn: await accuracy(knn),
      few: await accuracy(few),
      fewCounts: few.counts,
      counts: linear.counts,
      trainSeconds,
      epochs,
      last,
      trainedFlags: [linear.trained, knn.trained],
    };
  });
  console.log(
    `digits on MobileNetV2 features: linear ${(r.linear * 100).toFixed(1)} % (trained in ` +
      `${r.trainSeconds.toFixed(2)} s including the trainer module's first load, ${r.epochs.length} epochs, ` +
      `last loss ${r.last.loss.toFixed(3)}), ` +
      `kNN k=3 ${(r.knn * 100).toFixed(1)} %, linear on 10 per class ${(r.few * 100).toFixed(1)} %`,
  );
  assert.ok(r.linear >= 0.94, `linear ${r.linear}`);
  assert.ok(r.knn >= 0.93, `kNN ${r.knn}`);
  assert.ok(r.few >= 0.8, `10 per class ${r.few}`);
  assert.equal(Object.values(r.counts).reduce((a, b) => a + b), 1000);
  assert.deepEqual(Object.values(r.fewCounts), Array(10).fill(10));
  assert.equal(r.epochs.length, 30);
  assert.deepEqual(r.epochs.map((s) => s.epoch), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.ok(r.epochs[29].loss < r.epochs[0].loss / 5, `loss ${r.epochs[0].loss} -> ${r.epochs[29].loss}`);
  assert.deepEqual(r.trainedFlags, [true, true]);
});

test("an image example is its embedding: addExample/classify agree with addEmbedding/classifyEmbedding", async () => {
  const r = await page.evaluate(async () => {
    const a = await v2.learner({ head: "knn", k: 1 });
    const b = await v2.learner({ head: "knn", k: 1 });
    for (const d of digits.slice(0, 30)) {
      await a.addExample(d.image, d.label);
      await b.addEmbedding(d.embedding, d.label);
    }
    const same = [];
    for (const d of digits.slice(1000, 1030)) {
      const viaImage = await a.classify(d.image, { topK: 3 });
      const viaEmbedding = await b.classifyEmbedding(d.embedding, { topK: 3 });
      same.push(JSON.stringify(viaImage) === JSON.stringify(viaEmbedding));
    }
    const augmented = await v2.learner();
    const added = await augmented.addExample(digits[0].image, "first", { augment: true });
    return { same, added, exported: [...(await a.export())].join() === [...(await b.export())].join() };
  });
  assert.ok(r.same.every(Boolean), JSON.stringify(r.same));
  assert.ok(r.exported, "learners taught from images and from their embeddings export the same bytes");
  assert.equal(r.added, 3, "an augmented example adds the image, its mirror and a zoomed crop");
});

test("export -> import gives identical predictions, for both heads, with and without examples", async () => {
  const r = await page.evaluate(async () => {
    const out = {};
    for (const [name, learner] of Object.entries(trained)) {
      for (const examples of name === "linear" ? [true, false] : [true]) {
        const bytes = await learner.export({ examples });
        const back = await v2.learner({ from: bytes });
        let identical = back.head === learner.head && back.labels.join() === learner.labels.join();
        for (const d of digits.slice(1000)) {
          const [x, y] = [await learner.classifyEmbedding(d.embedding), await back.classifyEmbedding(d.embedding)];
          identical &&= JSON.stringify(x) === JSON.stringify(y);
        }
        out[`${name}, examples: ${examples}`] = { identical, bytes: bytes.length };
      }
    }
    return out;
  });
  for (const [what, { identical, bytes }] of Object.entries(r)) {
    assert.ok(identical, `${what} (${bytes} bytes)`);
  }
  assert.ok(r["linear, examples: false"].bytes < 60_000, "a linear head alone is small");
});

test("backbone + head in one file: Classifier.load classifies with the custom labels", async () => {
  const r = await page.evaluate(async () => {
    const file = await trained.linear.exportModel(v2url);
    const custom = await mnw.Classifier.load(file);
    let same = true;
    const predictions = [];
    for (const d of digits.slice(1000, 1100)) {
      const top = await custom.classify(d.image, { topK: 2 });
      const expected = await trained.linear.classifyEmbedding(d.embedding, { topK: 2 });
      same &&= JSON.stringify(top) === JSON.stringify(expected);
      predictions.push(top[0].label);
    }
    const logits = await custom.logits(digits[1000].image);
    const info = custom.info;
    custom.dispose();
    return { same, info, logits: logits.length, predictions, size: file.length };
  });
  assert.ok(r.same, "the combined file answers as the learner does");
  assert.equal(r.info.customHead, true);
  assert.equal(r.info.numClasses, 10);
  assert.equal(r.info.arch, "mobilenet_v2");
  assert.equal(r.logits, 10);
  assert.ok(r.predictions.every((l) => /^[0-9]$/.test(l)), r.predictions.join());
});

test("the worker variant learns, trains (with progress) and exports exactly as the page does", async () => {
  const r = await page.evaluate(async () => {
    const worker = await mnw.Classifier.loadInWorker(v2url, { arch: "mobilenet_v2" });
    const here = await v2.learner({ head: "linear" });
    const there = await worker.learner({ head: "linear" });
    for (const d of digits.slice(0, 60)) {
      await here.addExample(d.image, d.label);
      await there.addExample(d.image, d.label);
    }
    const progress = [];
    const trainedDuring = [];
    const options = { epochs: 12, learningRate: 0.02, seed: 7 };
    const lastThere = await there.train({
      ...options,
      onEpoch: (s) => {
        progress.push(s.epoch);
        trainedDuring.push(there.trained);
      },
    });
    const lastHere = await here.train(options);
    const [a, b] = [await here.export(), await there.export()];
    const fromFile = await worker.learner({ from: a });
    const top = await fromFile.classify(digits[1500].image);
    const expected = await here.classify(digits[1500].image);
    // Sources with progress callbacks, through the worker: a head file by URL, a model file.
    const headUrl = URL.createObjectURL(new Blob([b]));
    const loadProgress = [];
    const byUrl = await worker.learner({ from: headUrl, onProgress: (loaded) => loadProgress.push(loaded) });
    const modelProgress = [];
    const combined = await byUrl.exportModel(v2url, { onProgress: (loaded) => modelProgress.push(loaded) });
    const state = { labels: there.labels.length, trained: there.trained, counts: there.counts["3"] };
    worker.dispose();
    return {
      progress,
      trainedDuring,
      loadProgress: loadProgress.at(-1) === b.length,
      modelProgress: modelProgress.length > 1,
      combined: combined.length > b.length,
      sameStats: JSON.stringify(lastHere) === JSON.stringify(lastThere),
      sameBytes: a.length === b.length && a.every((v, i) => v === b[i]),
      sameTop: JSON.stringify(top) === JSON.stringify(expected),
      state,
    };
  });
  assert.deepEqual(r.progress, Array.from({ length: 12 }, (_, i) => i + 1));
  assert.deepEqual(r.trainedDuring, Array(12).fill(true), "the page's state follows each epoch");
  assert.ok(r.loadProgress && r.modelProgress && r.combined, JSON.stringify(r));
  assert.ok(r.sameStats, "same seed, same examples: same training");
  assert.ok(r.sameBytes, "the worker's head file is byte-identical to the page's");
  assert.ok(r.sameTop);
  assert.equal(r.state.trained, true);
  assert.equal(r.state.labels, 10);
  assert.ok(r.state.counts > 0);
});

test("memory stays flat while a learner classifies frames and is retrained", async () => {
  const r = await page.evaluate(async () => {
    const learner = await v2.learner({ head: "linear" });
    for (const d of digits.slice(0, 100)) await learner.addEmbedding(d.embedding, d.label);
    const frame = digits[1200].image;
    const round = async () => {
      await learner.train({ epochs: 3 });
      for (let i = 0; i < 100; i++) await learner.classify(frame);
      (await learner.export()).length;
    };
    await round();
    const before = await mnw.wasmMemoryBytes();
    for (let i = 0; i < 5; i++) await round();
    const after = await mnw.wasmMemoryBytes();
    learner.dispose();
    return { before, after };
  });
  assert.equal(r.after, r.before, `wasm memory grew from ${r.before} to ${r.after} bytes`);
});

test("a trainerUrl is its own load's: a later load without one trains with the package's trainer", async () => {
  // A page that has not loaded the trainer yet.
  const fresh = await browser.newPage();
  await fresh.goto(`${site.url}/index.html?shared=${shared.url}`);
  await fresh.waitForFunction(() => window.pageReady === true);
  const outcomes = await fresh.evaluate(async (url) => {
    const train = async (classifier) => {
      const learner = await classifier.learner({ head: "linear" });
      const dim = classifier.info.embeddingSize;
      await learner.addEmbedding(new Float32Array(dim).fill(1), "ones");
      await learner.addEmbedding(new Float32Array(dim).map((_, i) => i % 2), "stripes");
      return learner.train({ epochs: 1 }).then(
        () => "trained",
        (e) => e.code,
      );
    };
    const elsewhere = await mnw.Classifier.load(url, { arch: "mobilenet_v2", trainerUrl: "/no-trainer-here.wasm" });
    const plain = await mnw.Classifier.load(url, { arch: "mobilenet_v2" });
    return { elsewhere: await train(elsewhere), plain: await train(plain) };
  }, `${shared.url}/${V2}`);
  await fresh.close();
  assert.deepEqual(outcomes, { elsewhere: "WASM_INIT", plain: "trained" });
});

test("bad use gets typed errors: no examples, one class, bad labels, corrupt or foreign heads", async () => {
  const codes = await page.evaluate(async (shared) => {
    const code = async (run) => {
      try {
        await run();
        return "no error";
      } catch (e) {
        return e instanceof mnw.MobileNetError ? e.code : `not a MobileNetError: ${e}`;
      }
    };
    const d = digits[0];
    const empty = await v2.learner({ head: "linear" });
    const one = await v2.learner({ head: "knn" });
    await one.addEmbedding(d.embedding, "zero");
    const untrained = await v2.learner({ head: "linear" });
    await untrained.addEmbedding(d.embedding, "a");
    await untrained.addEmbedding(digits[1].embedding, "b");
    const head = await trained.knn.export();
    const corrupt = head.slice(0, head.length - 10);
    // An example pointing at a class with no label: the 8-byte header length, the JSON header, then
    // the data; change the first class index (a float32 after the examples) to 99.
    const orphan = head.slice();
    const headerLength = Number(new DataView(orphan.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(orphan.subarray(8, 8 + headerLength)));
    const [start] = header["head.classes"].data_offsets;
    new DataView(orphan.buffer).setFloat32(8 + headerLength + start, 99, true);
    const weightsOnly = await trained.linear.export({ examples: false });
    const asKnn = await v2.learner({ from: weightsOnly, head: "knn" });
    const retrain = await v2.learner({ from: weightsOnly });
    await retrain.addEmbedding(d.embedding, d.label);
    // Classes that change while a head trains: the run is refused rather than mislabelled.
    const moving = await v2.learner({ head: "linear" });
    for (const e of digits.slice(0, 200)) await moving.addEmbedding(e.embedding, e.label);
    const changing = code(() => moving.train({ epochs: 200 })); // settles once the class is gone
    await new Promise((r) => setTimeout(r, 0));
    await moving.removeClass("0");
    const small = await mnw.Classifier.load(`${shared}/weights/mobilenetv3_small_100.safetensors`, {
      arch: "mobilenet_v3_small",
      padding: "tf",
    });
    const result = {
      noExamples: await code(() => empty.classify(d.image)),
      noExamplesTrain: await code(() => empty.train()),
      oneClass: await code(() => one.classifyEmbedding(d.embedding)),
      notTrained: await code(() => untrained.classifyEmbedding(d.embedding)),
      emptyLabel: await code(() => one.addExample(d.image, "")),
      labelNotString: await code(() => one.addEmbedding(d.embedding, 3)),
      unknownClass: await code(() => one.removeClass("nine")),
      badHead: await code(() => v2.learner({ head: "svm" })),
      badK: await code(() => v2.learner({ k: 0 })),
      badEpochs: await code(() => untrained.train({ epochs: 1.5 })),
      knnTrain: await code(() => trained.knn.train()),
      wrongEmbedding: await code(() => one.addEmbedding(new Float32Array(576), "x")),
      corrupt: await code(() => v2.learner({ from: corrupt })),
      orphanExample: await code(() => v2.learner({ from: orphan })),
      modelAsHead: await code(async () =>
        v2.learner({ from: await (await fetch(`${shared}/weights/mobilenetv3_small_100.safetensors`)).arrayBuffer() }),
      ),
      otherBackbone: await code(() => small.learner({ from: head })),
      otherBackboneModel: await code(() => trained.knn.exportModel(`${shared}/weights/mobilenetv3_small_100.safetensors`)),
      knnWithoutExamples: await code(() => asKnn.classifyEmbedding(d.embedding)),
      knnExportWithoutExamples: await code(() => trained.knn.export({ examples: false })),
      retrainMissingClasses: await code(() => retrain.train()),
      untrainedModel: await code(() => untrained.exportModel(v2url)),
      classesChangedWhileTraining: await changing,
      functionToWorker: await code(async () => {
        const worker = await mnw.Classifier.loadInWorker(`${shared}/weights/mobilenetv3_small_100.safetensors`, {
          arch: "mobilenet_v3_small",
          padding: "tf",
        });
        try {
          return await worker.classify(d.image, { topK: () => 1 });
        } finally {
          worker.dispose();
        }
      }),
    };
    small.dispose();
    for (const l of [empty, one, untrained, asKnn, retrain, moving]) l.dispose();
    result.disposed = await code(() => one.classifyEmbedding(d.embedding));
    return result;
  }, shared.url);
  assert.deepEqual(codes, {
    noExamples: "NO_EXAMPLES",
    noExamplesTrain: "NO_EXAMPLES",
    oneClass: "TOO_FEW_CLASSES",
    notTrained: "NOT_TRAINED",
    emptyLabel: "BAD_LABEL",
    labelNotString: "BAD_LABEL",
    unknownClass: "BAD_LABEL",
    badHead: "BAD_CONFIG",
    badK: "BAD_CONFIG",
    badEpochs: "BAD_CONFIG",
    knnTrain: "BAD_CONFIG",
    wrongEmbedding: "HEAD_MISMATCH",
    corrupt: "BAD_HEAD",
    orphanExample: "BAD_HEAD",
    modelAsHead: "BAD_HEAD",
    otherBackbone: "HEAD_MISMATCH",
    otherBackboneModel: "HEAD_MISMATCH",
    knnWithoutExamples: "NO_EXAMPLES",
    knnExportWithoutExamples: "BAD_CONFIG",
    retrainMissingClasses: "NO_EXAMPLES",
    untrainedModel: "NOT_TRAINED",
    classesChangedWhileTraining: "BAD_CONFIG",
    functionToWorker: "BAD_INPUT",
    disposed: "DISPOSED",
  });
});
