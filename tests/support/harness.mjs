// Shared by the page tests: the packed package installed as a user installs it, servers for the
// test site and for ../shared (cross-origin, with CORS, like a CDN), and the browser of this run's
// engine (browsers.mjs).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../../scripts/serve.mjs";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS, ENGINE, PAGE_FUNCTIONS, WEBDRIVER } from "./browsers.mjs";

export { ENGINE, ENGINES, WEBDRIVER, launchBrowser } from "./browsers.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED = process.env.MOBILENET_SHARED_DIR ?? resolve(ROOT, "../shared");
export const WORK = join(ROOT, "tests/.work");
export const OUTPUT = join(ROOT, "tests/output");

/** tests/models.json: every checkpoint the tests, the benchmarks and the demo use. */
export const MANIFEST = JSON.parse(readFileSync(join(ROOT, "tests/models.json"), "utf8"));

/** The trained checkpoints, as plain PyTorch-layout files with the options they need. */
export const MODELS = Object.fromEntries(MANIFEST.plain.filter((c) => c.trained).map((c) => [c.name, c.options]));

export function reference(model) {
  return JSON.parse(readFileSync(join(SHARED, "reference", `${model}.json`), "utf8"));
}

/** The photos in ../shared/images, as the references list them. */
export const IMAGES = reference("mobilenetv2_100").images.map((e) => e.file);

export function sharedFile(path) {
  return readFileSync(join(SHARED, path));
}

/** The tarball `npm run build` packed. */
export function tarball() {
  const dir = join(ROOT, "target/npm");
  const file = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!file) throw new Error("no packed package in target/npm: run `npm run build` first");
  return join(dir, file);
}

/** A fresh directory with the packed package npm-installed into it, as a user's project has. */
export function installPackage(name, extraDependencies = {}) {
  // One directory per engine: the engines' runs may overlap.
  const dir = join(WORK, ENGINE, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pkg = {
    name,
    private: true,
    type: "module",
    dependencies: { "mobilenet-wasm": `file:${tarball()}`, ...extraDependencies },
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    stdio: "inherit",
  });
  return dir;
}

/**
 * A trained checkpoint of `MODELS` converted into `out` as an int8 file (mobilenet-convert --int8;
 * MOBILENET_CONVERT names the binary, by default the debug build scripts/test.sh makes).
 */
export function int8File(name, out, convert = process.env.MOBILENET_CONVERT ?? join(ROOT, "target/debug/mobilenet-convert")) {
  const { weights, options } = MANIFEST.plain.find((c) => c.name === name);
  const flags = Object.entries(options).flatMap(([key, value]) => [`--${key}`, String(value)]);
  execFileSync(convert, [...flags, "--int8", join(SHARED, weights), out], { stdio: "ignore" });
}

export function copyInto(dir, from) {
  cpSync(from, dir, { recursive: true });
}

const WATCH = readFileSync(join(ROOT, "tests/support/watch.js"));

/**
 * The test servers see every request first: they log its path (`requests`, which the tests read
 * in every engine, since only Playwright sees a page's requests), answer the paths in `routes` (a
 * file, or null for a 404) in place of the directory's files, and in the WebDriver engines add
 * watch.js to each page before its own scripts, and the functions the tests run in pages.
 */
function testServer(options) {
  const server = { requests: [], routes: {} };
  /** Sets the routes (a server's copy made with {...server} shares its requests, not its routes). */
  server.route = (routes) => {
    server.routes = routes;
  };
  const intercept = (req, res, headers) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      return false;
    }
    server.requests.push(path);
    if (path in server.routes) {
      const file = server.routes[path];
      if (file === null) res.writeHead(404, headers).end("not found (a test's route)");
      else res.writeHead(200, { ...headers, "Content-Type": "application/wasm", "Content-Length": statSync(file).size }).end(readFileSync(file));
      return true;
    }
    if (!WEBDRIVER) return false;
    if (path === "/__mnw_watch.js") {
      res.writeHead(200, { ...headers, "Content-Type": "text/javascript" }).end(WATCH);
      return true;
    }
    const fn = /^\/__mnw_fn\/(\w+)\.js$/.exec(path);
    if (fn && PAGE_FUNCTIONS.has(fn[1])) {
      res.writeHead(200, { ...headers, "Content-Type": "text/javascript" }).end(PAGE_FUNCTIONS.get(fn[1]));
      return true;
    }
    const file = join(options.root, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.endsWith(".html") || !file.startsWith(options.root) || !existsSync(file)) return false;
    const html = readFileSync(file, "utf8");
    const at = /<head[^>]*>/i.exec(html) ?? /<!doctype html>/i.exec(html);
    const index = at ? at.index + at[0].length : 0;
    const page = `${html.slice(0, index)}<script src="/__mnw_watch.js"></script>${html.slice(index)}`;
    res.writeHead(200, { ...headers, "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache" }).end(page);
    return true;
  };
  return serve({ ...options, port: 0, intercept }).then((s) => Object.assign(server, s));
}

export async function serveShared() {
  return testServer({ root: SHARED, cors: true });
}

export async function serveDir(root, headers) {
  return testServer({ root: resolve(root), headers });
}

/**
 * Headless Debian Chromium (never a downloaded browser), with a fresh profile, for the tests that
 * need Playwright itself (request routing for the Hub, a Vite app); the others use launchBrowser.
 */
export function launchChromium(extraFlags = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [...CHROMIUM_FLAGS, ...extraFlags],
  });
}

/**
 * Collects errors a Playwright page logs, which would otherwise pass unnoticed; `expected` matches
 * the URLs of failed requests a test provokes on purpose.
 */
export function watchConsole(page, expected = /$^/) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !expected.test(m.location()?.url ?? "")) {
      errors.push(`console: ${m.text()} (${m.location()?.url})`);
    }
  });
  return errors;
}

/** The tolerance: max |Δ| <= 1e-3 and <= 1e-4 · max(1, max |ref|). */
export function tolerance(ref) {
  return Math.min(1e-3, 1e-4 * Math.max(1, ...ref.map(Math.abs)));
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A float32 little-endian C-order `.npy` under ../shared: `{ values, shape }`. */
export function npy(path) {
  const bytes = sharedFile(path);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString("latin1");
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False")) {
    throw new Error(`${path}: not a float32 C-order array (${header})`);
  }
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(",").filter((d) => d.trim()).map(Number);
  const start = 10 + headerLength;
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  return { values, shape };
}
