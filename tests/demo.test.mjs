// The demo page (www/, as `npm run build` leaves it) in headless Chromium with a fake camera that
// plays a video made at test time from ../shared/images/chelsea.png.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { OUTPUT, ROOT, SHARED, WORK, launchChromium, reference, serveDir, watchConsole } from "./support/harness.mjs";

// A strict policy, sent as a header so that it also governs the worker.
const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
  "img-src 'self' blob: data:; media-src 'self' blob: mediastream:; style-src 'self'; connect-src 'self'";

const CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];

let site, video;

before(async () => {
  mkdirSync(WORK, { recursive: true });
  mkdirSync(OUTPUT, { recursive: true });
  video = join(WORK, "chelsea.y4m");
  execFileSync(
    "cargo",
    ["run", "--quiet", "--profile", "test", "--example", "image-to-y4m", "--", join(SHARED, "images/chelsea.png"), video, "30"],
    { cwd: ROOT, stdio: "inherit" },
  );
  site = await serveDir(join(ROOT, "www"), { "Content-Security-Policy": CSP });
});

after(() => site?.close());

/** A page of the demo in a browser launched with `flags`, watching console and requests. */
async function openDemo(flags, viewport = { width: 1280, height: 860 }) {
  const browser = await launchChromium(flags);
  const page = await browser.newPage({ viewport });
  const errors = watchConsole(page);
  const foreign = [];
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(site.url) && !/^(data|blob):/.test(url)) foreign.push(url);
  });
  await page.goto(`${site.url}/`);
  await modelReady(page, "mobilenet_v3_small");
  return { browser, page, errors, foreign };
}

function modelReady(page, arch) {
  return page.waitForFunction((arch) => document.getElementById("model-info").dataset.arch === arch, arch, {
    timeout: 30_000,
  });
}

/** Waits until `arch` has produced a top-1 and returns it with the stats. */
async function topPrediction(page, arch, label) {
  await page.waitForFunction(
    ({ arch, label }) => {
      const list = document.getElementById("predictions");
      const first = list.querySelector(".prediction-label span");
      return list.dataset.arch === arch && first?.textContent === label;
    },
    { arch, label },
    { timeout: 20_000 },
  );
  return page.evaluate(() => ({
    label: document.querySelector("#predictions .prediction-label span").textContent,
    count: document.querySelectorAll("#predictions li").length,
    fps: Number(document.getElementById("fps").textContent),
    latency: document.getElementById("latency").textContent,
    message: document.getElementById("message").textContent,
  }));
}

const expected = (model, image) => reference(model).images.find((e) => e.file === image).top5[0].label;

test("the camera is classified live, and switching to V2 keeps the camera and the label", async () => {
  const { browser, page, errors, foreign } = await openDemo([...CAMERA, `--use-file-for-fake-video-capture=${video}`]);
  try {
    await page.click("#camera-toggle");
    const cat = expected("mobilenetv3_small_100", "chelsea.png");
    const live = await topPrediction(page, "mobilenet_v3_small", cat);
    assert.equal(live.count, 5);
    await page.waitForFunction(() => Number(document.getElementById("fps").textContent) > 0, null, { timeout: 10_000 });
    assert.match(live.latency, /ms$/);
    const track = () => page.evaluate(() => document.getElementById("video").srcObject.getVideoTracks()[0].id);
    const before = await track();
    await page.screenshot({ path: join(OUTPUT, "demo-camera.png") });

    await page.selectOption("#model-select", "models/mobilenet_v2.safetensors");
    await modelReady(page, "mobilenet_v2");
    const switched = await topPrediction(page, "mobilenet_v2", expected("mobilenetv2_100", "chelsea.png"));
    assert.equal(await track(), before, "the camera was not restarted");
    await page.waitForFunction(() => Number(document.getElementById("fps").textContent) > 0);
    assert.equal(switched.message, "");
    await page.screenshot({ path: join(OUTPUT, "demo-camera-v2.png") });
    assert.deepEqual(errors, []);
    assert.deepEqual(foreign, [], "requests left the page's origin");
  } finally {
    await browser.close();
  }
});

test("a chosen, dropped or pasted image is classified with its reference top-1", async () => {
  const { browser, page, errors } = await openDemo(CAMERA);
  try {
    await page.setInputFiles("#file", join(SHARED, "images/coffee.png"));
    const result = await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "coffee.png"));
    assert.equal(result.count, 5);
    await page.setInputFiles("#file", join(SHARED, "images/grace_hopper.jpg"));
    await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "grace_hopper.jpg"));
    // Dropped and pasted images go the same way.
    const bytes = (image) => [...readFileSync(join(SHARED, "images", image))];
    const dropped = await page.evaluateHandle((data) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], "chelsea.png", { type: "image/png" }));
      return transfer;
    }, bytes("chelsea.png"));
    await page.dispatchEvent("#stage", "drop", { dataTransfer: dropped });
    await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "chelsea.png"));
    await page.evaluate((data) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], "camera.png", { type: "image/png" }));
      document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer }));
    }, bytes("camera.png"));
    await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "camera.png"));
    // Switching model re-classifies the image on screen.
    await page.selectOption("#model-select", "models/mobilenet_v1_075.safetensors");
    await topPrediction(page, "mobilenet_v1", expected("mobilenetv1_075", "camera.png"));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("denied permission or no camera: a clear message, and files still work", async () => {
  const cases = [
    // A camera exists but nobody grants access.
    { flags: ["--use-fake-device-for-media-stream"], message: /permission was denied/ },
    // Access is granted but there is no camera.
    { flags: ["--use-fake-ui-for-media-stream"], message: /No camera was found/ },
  ];
  for (const { flags, message } of cases) {
    const { browser, page } = await openDemo(flags);
    try {
      await page.click("#camera-toggle");
      await page.waitForFunction(() => !document.getElementById("message").hidden, null, { timeout: 10_000 });
      assert.match(await page.textContent("#message"), message);
      assert.equal(await page.textContent("#camera-toggle"), "Start camera");
      await page.setInputFiles("#file", join(SHARED, "images/coffee.png"));
      await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "coffee.png"));
    } finally {
      await browser.close();
    }
  }
});

test("on a phone-sized screen the page lays out in one column", async () => {
  const { browser, page } = await openDemo(CAMERA, { width: 390, height: 844 });
  try {
    await page.setInputFiles("#file", join(SHARED, "images/chelsea.png"));
    await topPrediction(page, "mobilenet_v3_small", expected("mobilenetv3_small_100", "chelsea.png"));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    const [stage, results] = await page.evaluate(() =>
      ["stage", "predictions"].map((id) => document.getElementById(id).getBoundingClientRect().left),
    );
    assert.ok(Math.abs(stage - results) < 40, "stage and results are stacked");
    await page.screenshot({ path: join(OUTPUT, "demo-phone.png"), fullPage: true });
  } finally {
    await browser.close();
  }
});
