// The README's first example, as written, in a blank page: the package npm-installed, an import
// map for the bare specifier, one <img>, and the example's code as the page's module. The Hub it
// loads from is answered from ../shared/reference/timm (tests/support/hub.mjs).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, installPackage, launchChromium, serveDir, serveShared, sharedFile } from "./support/harness.mjs";
import { routeHub, timmFolder } from "./support/hub.mjs";

let shared, site, browser;

before(async () => {
  shared = await serveShared();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await Promise.all([site?.close(), shared?.close()]);
});

/** The first ```js block of a Markdown file. */
function firstExample(file) {
  const text = readFileSync(file, "utf8");
  const match = /```js\n([\s\S]*?)```/.exec(text);
  assert.ok(match, `${file} has a js example`);
  return match[1];
}

test("the README's first example loads a Hub model and classifies an image, as written", async () => {
  const example = firstExample(join(ROOT, "README.md"));
  assert.equal(firstExample(join(ROOT, "pkg-template/README.md")), example, "both READMEs open alike");
  const id = /Classifier\.load\("([^"]+)"\)/.exec(example)?.[1];
  assert.match(id ?? "", /^timm\//, "the first example loads a Hub id");

  const dir = installPackage("readme-site");
  writeFileSync(join(dir, "example.js"), example);
  writeFileSync(
    join(dir, "index.html"),
    `<!doctype html>
<script type="importmap">{ "imports": { "mobilenet-wasm": "./node_modules/mobilenet-wasm/index.js" } }</script>
<img src="${shared.url}/images/coffee.png" crossorigin="anonymous" alt="">
<script type="module" src="example.js"></script>
`,
  );
  site = await serveDir(dir);
  const context = await browser.newContext();
  await routeHub(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const logged = new Promise((resolve) =>
    page.on("console", async (message) => {
      if (message.type() === "log") resolve(await message.args()[0].jsonValue());
    }),
  );
  await page.goto(`${site.url}/index.html`);
  const predictions = await Promise.race([
    logged,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no output; errors: ${errors}`)), 120_000)),
  ]);
  await context.close();
  assert.deepEqual(errors, []);
  const reference = JSON.parse(sharedFile(`reference/timm/${timmFolder(id)}.json`));
  const expected = reference.images.find((e) => e.file === "coffee.png").top5;
  assert.deepEqual(
    predictions.map((p) => [p.index, p.label]),
    expected.map((p) => [p.index, p.label]),
  );
});
