// The packed package in a minimal Vite app: it installs from the tarball, builds, classifies and
// trains a linear head (the lazily loaded trainer module) in the browser, in the page and a worker,
// and loads a Hub model in a worker (its labels another asset of the package).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  ROOT,
  copyInto,
  installPackage,
  launchChromium,
  serveDir,
  serveShared,
  sharedFile,
  watchConsole,
} from "./support/harness.mjs";
import { routeHub } from "./support/hub.mjs";

test("a Vite app depending on the tarball builds, classifies and trains a head", async () => {
  const app = installPackage("vite-app", { vite: "7.3.8" });
  copyInto(app, join(ROOT, "tests/vite-app"));
  execFileSync(join(app, "node_modules/.bin/vite"), ["build"], { cwd: app, stdio: "inherit" });
  const assets = readdirSync(join(app, "dist/assets"));
  // Inference (SIMD128, relaxed SIMD and threaded) and the trainer.
  assert.equal(assets.filter((f) => f.endsWith(".wasm")).length, 4, `not four .wasm among ${assets}`);
  assert.ok(assets.some((f) => f.startsWith("worker")), `no worker among ${assets}`);

  const shared = await serveShared();
  const site = await serveDir(join(app, "dist"));
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    await routeHub(context);
    const page = await context.newPage();
    const errors = watchConsole(page);
    await page.goto(`${site.url}/index.html?shared=${shared.url}`);
    await page.waitForFunction(() => window.outcome !== undefined, null, { timeout: 60_000 });
    const result = await page.evaluate(() => window.outcome);
    assert.equal(result.error, undefined);
    assert.equal(result.page.index, 285);
    assert.equal(result.page.label, "Egyptian cat");
    assert.deepEqual(result.worker, result.page);
    assert.deepEqual(result.simd, ["relaxed-simd", "relaxed-simd"]);
    assert.deepEqual(result.taught, ["cat", "blank", "cat", "blank"]);
    const timm = JSON.parse(sharedFile("reference/timm/mobilenetv3_small_100.json"));
    const chelsea = timm.images.find((e) => e.file === "chelsea.png").top5[0];
    assert.deepEqual([result.hub.index, result.hub.label], [chelsea.index, chelsea.label]);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await site.close();
    await shared.close();
  }
});
