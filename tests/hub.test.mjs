// Models from the Hugging Face Hub by id, as a user loads them: the packed package in a plain page
// asks https://huggingface.co (answered from ../shared/reference/timm by Playwright routing) or a
// `hubUrl` server (which, like the Hub, redirects to its storage), in the page and in a worker.
// Playwright's routing is Chromium's only: in Firefox and WebKit "the Hub" is a second such server,
// given as `hubUrl` to every load (the page's `hubOptions`), and the same assertions hold.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HUB_MODELS, DEFAULT_MODEL } from "../pkg-template/models.js";
import {
  ROOT,
  SHARED,
  WEBDRIVER,
  copyInto,
  installPackage,
  launchBrowser,
  maxAbsDiff,
  npy,
  serveDir,
  serveShared,
  sharedFile,
} from "./support/harness.mjs";
import { HUB, routeHub, serveHub, timmFolder } from "./support/hub.mjs";

/** timm's outputs for a Hub id's architecture. */
const timmReference = (id) => JSON.parse(sharedFile(`reference/timm/${timmFolder(id)}.json`));

/** The timm issue's tolerance: max |Δ| <= 1e-4 · max(1, max |ref|). */
const timmTolerance = (ref) => 1e-4 * Math.max(1, ...ref.map(Math.abs));

// PNGs without alpha: decoded by the browser exactly as by PIL.
const EXACT_PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "camera.png"];

const config = (id) => sharedFile(`reference/timm/${timmFolder(id)}/config.json`).toString();
const v4Small = "timm/mobilenetv4_conv_small.e2400_r224_in1k";
const v4SmallFile = join(SHARED, "reference/timm/mobilenetv4_conv_small/model.safetensors");
/** Repositories the tests make up: one whose config names its classes, and ways for a download to go wrong. */
const BROKEN = {
  "timm/mobilenetv4_conv_small.named": {
    "config.json": JSON.stringify({
      ...JSON.parse(config(v4Small)),
      label_names: Array.from({ length: 1000 }, (_, i) => `class ${i}`),
    }),
    "model.safetensors": v4SmallFile,
  },
  "timm/mobilenetv4_conv_small.pytorch_only": { "config.json": config(v4Small) },
  "timm/mobilenetv4_conv_small.lanczos": {
    "config.json": config(v4Small).replace('"bicubic"', '"lanczos"'),
    "model.safetensors": v4SmallFile,
  },
  "timm/mobilenetv4_hybrid_medium.e500_r224_in1k": {
    "config.json": config(v4Small).replace('"mobilenetv4_conv_small"', '"mobilenetv4_hybrid_medium"'),
    "model.safetensors": v4SmallFile,
  },
  "timm/mobilenetv4_conv_small.not_json": { "config.json": "<html>Hub</html>", "model.safetensors": v4SmallFile },
  "timm/mobilenetv4_conv_small.null_json": { "config.json": "null", "model.safetensors": v4SmallFile },
  "timm/mobilenetv4_conv_small.wrong_weights": {
    "config.json": config(v4Small),
    "model.safetensors": join(SHARED, "reference/timm/mobilenetv3_small_100/model.safetensors"),
  },
};

let shared, site, hub, hubMain, browser, page, requested;
/** Where the page's Hub is: https://huggingface.co (routed) in Chromium, a local server elsewhere. */
let HUB_BASE = HUB;

before(async () => {
  const dir = installPackage("hub-site");
  copyInto(dir, join(ROOT, "tests/page"));
  shared = await serveShared();
  site = await serveDir(dir);
  hub = await serveHub(BROKEN);
  browser = await launchBrowser();
  const context = await browser.newContext();
  if (WEBDRIVER) {
    hubMain = await serveHub(BROKEN);
    requested = hubMain.requested;
    HUB_BASE = hubMain.url;
  } else {
    requested = await routeHub(context.context, BROKEN);
  }
  page = await context.newPage();
  // The bad-repository tests make the browser log their failed requests.
  page.expectErrorsFrom(new RegExp(`^(${HUB}|${hub.url})/`));
  await page.goto(`${site.url}/index.html?shared=${shared.url}`);
  await page.waitForFunction(() => window.pageReady === true);
  await page.evaluate((hubUrl) => (window.hubOptions = hubUrl ? { hubUrl } : {}), hubMain?.url);
});

after(async () => {
  const errors = await page?.consoleErrors();
  await browser?.close();
  await Promise.all([site?.close(), shared?.close(), hub?.close(), hubMain?.close()]);
  assert.deepEqual(errors, [], "the page logged errors");
});

/** Logits of the page's classifier `expression` on the exact photos and on the .npy inputs. */
async function logitsOf(expression, id) {
  const inputs = timmReference(id).npy_inputs.map((e) => {
    const { values, shape } = npy(join("reference/synthetic", e.file));
    return { file: e.file, values: [...values], height: shape[2], width: shape[3] };
  });
  return page.evaluate(
    async ({ expression, photos, inputs }) => {
      const clf = window[expression];
      const out = { photos: {}, npy: {} };
      for (const photo of photos) out.photos[photo] = Array.from(await clf.logits((await forms(photo)).raw));
      for (const { file, values, height, width } of inputs) {
        out.npy[file] = Array.from(await clf.logitsFromTensor(new Float32Array(values), height, width));
      }
      return out;
    },
    { expression, photos: EXACT_PHOTOS, inputs },
  );
}

/** Holds `logits` to timm's, photo by photo and input by input. */
function assertTimmLogits(id, logits) {
  const reference = timmReference(id);
  for (const photo of EXACT_PHOTOS) {
    const ref = reference.images.find((e) => e.file === photo).logits;
    const diff = maxAbsDiff(logits.photos[photo], ref);
    assert.ok(diff <= timmTolerance(ref), `${id} ${photo}: max |Δlogit| ${diff}`);
  }
  for (const e of reference.npy_inputs) {
    const diff = maxAbsDiff(logits.npy[e.file], e.logits);
    assert.ok(diff <= timmTolerance(e.logits), `${id} ${e.file}: max |Δlogit| ${diff}`);
  }
}

test("every tested Hub model loads by id from huggingface.co and computes timm's logits", async () => {
  for (const model of HUB_MODELS) {
    const size = statSync(join(SHARED, "reference/timm", timmFolder(model.id), "model.safetensors")).size;
    const { info, progress, top } = await page.evaluate(async (id) => {
      const progress = [];
      window.hubModel = await mnw.Classifier.load(id, { ...hubOptions, onProgress: (...p) => progress.push(p) });
      const top = await hubModel.classify((await forms("coffee.png")).raw, { topK: 5 });
      return { info: hubModel.info, progress, top };
    }, model.id);
    assert.equal(info.arch, model.arch);
    assert.equal(info.parameters, model.parameters, `${model.id}: Classifier.models' parameter count`);
    assert.equal(info.numClasses, 1000);
    assert.equal(info.labels, true, `${model.id}: ImageNet's labels`);
    assert.equal(info.interpolation, "bicubic");
    assert.deepEqual(progress.at(-1), [size, size]);
    // timm's top-5 of the photo, labelled with ImageNet's names.
    const expected = timmReference(model.id).images.find((e) => e.file === "coffee.png").top5;
    assert.deepEqual(
      top.map((p) => [p.index, p.label]),
      expected.map((p) => [p.index, p.label]),
    );
    assertTimmLogits(model.id, await logitsOf("hubModel", model.id));
    await page.evaluate(() => hubModel.dispose());
  }
});

test("a second load comes from Cache Storage; revision and cache: false are honoured", async () => {
  const id = "timm/mobilenetv2_050.lamb_in1k";
  const before = requested.length;
  await page.evaluate(async (id) => (await mnw.Classifier.load(id, hubOptions)).dispose(), id);
  assert.deepEqual(requested.slice(before), [], "nothing downloaded again");
  await page.evaluate(async (id) => (await mnw.Classifier.load(id, { ...hubOptions, revision: "v2", cache: false })).dispose(), id);
  const fetched = requested.slice(before);
  assert.ok(fetched.includes(`${HUB_BASE}/${id}/resolve/v2/config.json`), fetched.join("\n"));
  assert.ok(fetched.includes(`${HUB_BASE}/${id}/resolve/v2/model.safetensors`), fetched.join("\n"));
});

test("label_names in a config.json name the classes, in place of ImageNet's", async () => {
  const top = await page.evaluate(async () => {
    const clf = await mnw.Classifier.load("timm/mobilenetv4_conv_small.named", { ...hubOptions, cache: false });
    const [best] = await clf.classify((await forms("coffee.png")).raw, { topK: 1 });
    clf.dispose();
    return best;
  });
  assert.equal(top.label, `class ${top.index}`);
  assert.equal(top.index, timmReference(v4Small).images.find((e) => e.file === "coffee.png").top5[0].index);
});

test("integrity is checked on the Hub's model.safetensors", async () => {
  const id = "timm/mobilenetv3_small_100.lamb_in1k";
  const digest = createHash("sha256").update(sharedFile("reference/timm/mobilenetv3_small_100/model.safetensors"));
  const integrity = `sha256-${digest.digest("base64")}`;
  const codes = await page.evaluate(
    async ({ id, integrity }) => {
      const code = (p) => p.then((c) => (c.dispose(), "ok"), (e) => e.code);
      const wrong = integrity.replace(/^sha256-./, (m) => (m.endsWith("A") ? "sha256-B" : "sha256-A"));
      return {
        right: await code(mnw.Classifier.load(id, { ...hubOptions, integrity, cache: false })),
        wrong: await code(mnw.Classifier.load(id, { ...hubOptions, integrity: wrong, cache: false })),
        wrongInWorker: await code(mnw.Classifier.loadInWorker(id, { ...hubOptions, integrity: wrong, cache: false })),
      };
    },
    { id, integrity },
  );
  assert.deepEqual(codes, { right: "ok", wrong: "INTEGRITY", wrongInWorker: "INTEGRITY" });
});

test("hubUrl points the same loads at another server", async () => {
  const id = "timm/mobilenetv1_100.ra4_e3600_r224_in1k";
  await page.evaluate(
    async ({ id, hubUrl }) => {
      window.mirrored = await mnw.Classifier.load(id, { hubUrl, cache: false });
    },
    { id, hubUrl: hub.url },
  );
  assertTimmLogits(id, await logitsOf("mirrored", id));
  await page.evaluate(() => mirrored.dispose());
});

test("loadInWorker takes Hub ids (and hubUrl) and gives the page's answers", async () => {
  const id = "timm/mobilenetv3_large_100.ra_in1k";
  const result = await page.evaluate(
    async ({ id, hubUrl }) => {
      const { raw } = await forms("astronaut.png");
      let events = 0;
      const here = await mnw.Classifier.load(id, hubOptions);
      const there = await mnw.Classifier.loadInWorker(id, { ...hubOptions, onProgress: () => events++ });
      const mirrored = await mnw.Classifier.loadInWorker(id, { hubUrl, cache: false });
      const out = {
        info: there.info,
        events,
        here: Array.from(await here.logits(raw)),
        there: Array.from(await there.logits(raw)),
        mirrored: Array.from(await mirrored.logits(raw)),
        top: await there.classify(raw, { topK: 1 }),
      };
      for (const c of [here, there, mirrored]) c.dispose();
      return out;
    },
    { id, hubUrl: hub.url },
  );
  assert.equal(result.info.arch, "mobilenetv3_large_100");
  assert.ok(result.events > 1, `${result.events} progress events`);
  assert.deepEqual(result.there, result.here);
  assert.deepEqual(result.mirrored, result.here);
  assert.equal(typeof result.top[0].label, "string");
});

test("Classifier.load() with no source loads the default Hub model", async () => {
  const result = await page.evaluate(async () => {
    const here = await mnw.Classifier.load(undefined, hubOptions);
    const there = await mnw.Classifier.loadInWorker(undefined, hubOptions);
    const out = {
      here: here.info.arch,
      there: there.info.arch,
      models: mnw.Classifier.models,
      defaultModel: mnw.DEFAULT_MODEL,
    };
    here.dispose();
    there.dispose();
    return out;
  });
  assert.equal(result.defaultModel, DEFAULT_MODEL);
  assert.equal(result.models[0].id, DEFAULT_MODEL);
  assert.deepEqual(result.models, JSON.parse(JSON.stringify(HUB_MODELS)));
  const arch = DEFAULT_MODEL.slice("timm/".length).split(".")[0];
  assert.deepEqual([result.here, result.there], [arch, arch]);
});

test("a missing repository, one without safetensors, and configs we cannot honour are typed errors", async () => {
  const result = await page.evaluate(async ({ hubUrl }) => {
    const fail = (source, options = {}, load = mnw.Classifier.load.bind(mnw.Classifier)) =>
      load(source, { cache: false, ...hubOptions, ...options }).then(
        () => ({ code: "ok" }),
        (e) => ({ code: e.code, message: e.message, status: e.status }),
      );
    return {
      missing: await fail("timm/no_such_model.in1k"),
      missingThere: await fail("timm/no_such_model.in1k", { hubUrl }),
      noSafetensors: await fail("timm/mobilenetv4_conv_small.pytorch_only"),
      lanczos: await fail("timm/mobilenetv4_conv_small.lanczos"),
      hybrid: await fail("timm/mobilenetv4_hybrid_medium.e500_r224_in1k"),
      notJson: await fail("timm/mobilenetv4_conv_small.not_json"),
      nullJson: await fail("timm/mobilenetv4_conv_small.null_json"),
      wrongWeights: await fail("timm/mobilenetv4_conv_small.wrong_weights"),
      badHubUrl: await fail("timm/mobilenetv4_conv_small.e2400_r224_in1k", { hubUrl: "http://[" }),
      inWorker: await fail("timm/mobilenetv4_conv_small.lanczos", {}, mnw.Classifier.loadInWorker.bind(mnw.Classifier)),
    };
  }, { hubUrl: hub.url });
  const codes = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.code]));
  assert.deepEqual(codes, {
    missing: "FETCH",
    missingThere: "FETCH",
    noSafetensors: "BAD_MODEL",
    lanczos: "BAD_CONFIG",
    hybrid: "UNKNOWN_ARCH",
    notJson: "BAD_CONFIG",
    nullJson: "BAD_CONFIG",
    wrongWeights: "TENSOR_SHAPE",
    badHubUrl: "BAD_CONFIG",
    inWorker: "BAD_CONFIG",
  });
  assert.equal(result.missing.status, 401);
  assert.ok(result.missing.message.includes(`${HUB_BASE}/timm/no_such_model.in1k/resolve/main/config.json`), result.missing.message);
  assert.ok(result.missingThere.message.includes(hub.url), result.missingThere.message);
  assert.ok(
    result.noSafetensors.message.includes(`${HUB_BASE}/timm/mobilenetv4_conv_small.pytorch_only/resolve/main/model.safetensors`),
    result.noSafetensors.message,
  );
  for (const key of ["lanczos", "inWorker"]) assert.match(result[key].message, /pretrained_cfg\.interpolation/);
  assert.match(result.hybrid.message, /mobilenetv4_hybrid_medium.*attention/);
  for (const key of ["notJson", "nullJson"]) assert.match(result[key].message, /config\.json is not a JSON object/);
});

test("a learner on a Hub model exports one self-describing model file of your classes", async () => {
  const result = await page.evaluate(async () => {
    const id = "timm/mobilenetv2_050.lamb_in1k";
    const clf = await mnw.Classifier.load(id, hubOptions);
    const learner = await clf.learner({ head: "knn", k: 1 });
    const cat = (await forms("chelsea.png")).raw;
    const mug = (await forms("coffee.png")).raw;
    await learner.addExample(cat, "cat");
    await learner.addExample(mug, "mug");
    const file = await learner.exportModel(id, hubOptions);
    const mine = await mnw.Classifier.load(file);
    const out = { info: mine.info, top: (await mine.classify(mug, { topK: 1 }))[0].label };
    for (const c of [mine, learner, clf]) c.dispose();
    return out;
  });
  assert.equal(result.info.arch, "mobilenetv2_050");
  assert.equal(result.info.customHead, true);
  assert.equal(result.info.interpolation, "bicubic");
  assert.equal(result.top, "mug");
});
