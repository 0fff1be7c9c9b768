// The page tests' browser, one engine per run (MOBILENET_ENGINE, "chromium" by default):
//   chromium  Debian's Chromium through Playwright (playwright-core, never a downloaded browser);
//   firefox   Debian's firefox-esr through geckodriver (scripts/setup.sh installs it) and
//             selenium-webdriver;
//   webkit    WebKitGTK's MiniBrowser through WebKitWebDriver (Debian's webkit2gtk-driver), on an
//             Xvfb display of its own, since this MiniBrowser has no headless mode.
// `launchBrowser()` gives the same small page API in all three: Playwright's page in Chromium, and
// in the WebDriver engines a class with the methods of it that the tests use. What only Playwright
// can do (routing requests, console events) the tests do through the test servers
// (harness.mjs's serveSite/serveShared log requests, stand in for files, and add watch.js to the
// pages the WebDriver engines get, which keeps what the page logs as an error).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { chromium } from "playwright-core";
import { Builder, By } from "selenium-webdriver";
import firefox from "selenium-webdriver/firefox.js";

export const ENGINES = ["chromium", "firefox", "webkit"];
export const ENGINE = process.env.MOBILENET_ENGINE ?? "chromium";
if (!ENGINES.includes(ENGINE)) throw new Error(`MOBILENET_ENGINE must be one of ${ENGINES}, not ${ENGINE}`);
/** Whether this run drives a WebDriver engine (Firefox, WebKit) rather than Playwright's Chromium. */
export const WEBDRIVER = ENGINE !== "chromium";

const HOME = process.env.HOME ?? "/root";
const GECKODRIVER = process.env.GECKODRIVER ?? `${HOME}/.cargo/bin/geckodriver`;
const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? "/usr/bin/WebKitWebDriver";
const MINIBROWSER = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * The camera a launch gives pages:
 *   undefined    none asked for (the engine's default; the tests then use no camera)
 *   { video }    a granted fake camera; Chromium plays the .y4m file `video` (when given), Firefox
 *                its own generated pattern, WebKit its mock device's pattern
 *   "denied"     a camera exists but access is refused
 *   "missing"    access is granted but there is no camera
 */
function chromiumCameraFlags(camera) {
  const fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];
  if (camera === "denied") return ["--use-fake-device-for-media-stream"];
  if (camera === "missing") return ["--use-fake-ui-for-media-stream"];
  if (camera) return camera.video ? [...fake, `--use-file-for-fake-video-capture=${camera.video}`] : fake;
  return [];
}

function firefoxCameraPrefs(camera) {
  if (camera === "denied") return { "media.navigator.streams.fake": true, "permissions.default.camera": 2 };
  // No fake stream and this machine has no camera device.
  if (camera === "missing") return { "media.navigator.streams.fake": false, "media.navigator.permission.disabled": true };
  if (camera) return { "media.navigator.streams.fake": true, "media.navigator.permission.disabled": true };
  return {};
}

/** A launched browser of this run's engine: `newPage({ viewport })`, `close()`. */
export async function launchBrowser({ camera } = {}) {
  if (ENGINE === "chromium") {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [...CHROMIUM_FLAGS, ...chromiumCameraFlags(camera)],
    });
    return {
      engine: ENGINE,
      close: () => browser.close(),
      async newPage(options = {}) {
        const context = await browser.newContext(options.viewport ? { viewport: options.viewport } : {});
        return chromiumPage(await context.newPage());
      },
      async newContext() {
        const context = await browser.newContext();
        return { context, newPage: async () => chromiumPage(await context.newPage()) };
      },
    };
  }
  return ENGINE === "firefox" ? launchFirefox(camera) : launchWebKit(camera);
}

/** Playwright's page, with the few methods the WebDriver pages have that Playwright has not. */
function chromiumPage(page) {
  const errors = [];
  const requested = [];
  let expected = /$^/;
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !expected.test(m.location()?.url ?? "")) errors.push(`console: ${m.text()} (${m.location()?.url})`);
  });
  page.on("request", (r) => requested.push(r.url()));
  return Object.assign(page, {
    /** Errors the page logged; failed requests to URLs matching `expected` are not errors. */
    expectErrorsFrom(pattern) {
      expected = pattern;
    },
    consoleErrors: async () => [...errors],
    /** Every URL the page and its workers requested. */
    requestedUrls: async () => [...requested],
    /** Clicks `selector` and saves the download it starts to `path`. */
    async saveDownload(selector, path) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
      await download.saveAs(path);
    },
  });
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForPort(port, child, what) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const up = await new Promise((r) => {
      const socket = connect(port, "127.0.0.1", () => (socket.end(), r(true)));
      socket.on("error", () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on port ${port}`);
}

/** An Xvfb display of our own (its number chosen by Xvfb), for WebKitGTK's MiniBrowser. */
async function startXvfb() {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1600x1200x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "ignore", "pipe"],
  });
  const display = await new Promise((resolve, reject) => {
    let text = "";
    xvfb.stdio[3].on("data", (d) => {
      text += d;
      if (text.includes("\n")) resolve(`:${text.trim()}`);
    });
    xvfb.on("exit", (code) => reject(new Error(`Xvfb exited with ${code}`)));
  });
  return { display, stop: () => xvfb.kill() };
}

async function launchFirefox(camera) {
  const options = new firefox.Options().setBinary(FIREFOX).addArguments("-headless");
  const prefs = {
    "network.proxy.type": 0,
    "app.update.enabled": false,
    "datareporting.policy.dataSubmissionEnabled": false,
    "browser.shell.checkDefaultBrowser": false,
    ...firefoxCameraPrefs(camera),
  };
  for (const [name, value] of Object.entries(prefs)) options.setPreference(name, value);
  const driver = await new Builder()
    .forBrowser("firefox")
    .setFirefoxOptions(options)
    .setFirefoxService(new firefox.ServiceBuilder(GECKODRIVER))
    .build();
  return webDriverBrowser(driver, async () => {});
}

async function launchWebKit(camera) {
  const xvfb = process.env.DISPLAY ? null : await startXvfb();
  const port = await freePort();
  const driverProcess = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    env: { ...process.env, ...(xvfb ? { DISPLAY: xvfb.display } : {}) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  driverProcess.stderr.on("data", (d) => (log = (log + d).slice(-4000)));
  const stop = async () => {
    driverProcess.kill();
    xvfb?.stop();
  };
  try {
    await waitForPort(port, driverProcess, "WebKitWebDriver");
    // MiniBrowser's own options: the mock capture devices are WebKit's fake camera; it has no
    // switch to deny a camera, so "denied" has none there (and so is "missing" there too).
    const args = ["--automation", "--enable-media-stream=true"];
    if (camera && camera !== "denied" && camera !== "missing") args.push("--enable-mock-capture-devices=true");
    const driver = await new Builder()
      .usingServer(`http://127.0.0.1:${port}`)
      .withCapabilities({ browserName: "MiniBrowser", "webkitgtk:browserOptions": { binary: MINIBROWSER, args } })
      .build();
    return webDriverBrowser(driver, stop);
  } catch (error) {
    await stop();
    throw new Error(`${error.message}\n${log}`);
  }
}

const UNDEFINED = "\u0000undefined";
const encode = (value) => JSON.stringify(value === undefined ? UNDEFINED : value, (k, v) => (v === undefined ? UNDEFINED : v));
const decode = (text) => JSON.parse(text, (k, v) => (v === UNDEFINED ? undefined : v));

/**
 * The functions the tests run in pages, by key: the test servers answer `/__mnw_fn/KEY.js` with
 * the module `export default (SOURCE);`, which watch.js's `__mnwCall` imports and calls in the
 * page's own realm. (A WebDriver script runs in a realm of the driver's in Firefox, where typed
 * arrays it makes are not the page's, and the package rejects them; a module from the page's
 * origin also passes a Content-Security-Policy that forbids eval.)
 */
export const PAGE_FUNCTIONS = new Map();

function pageFunction(fn) {
  const source = fn.toString();
  const key = createHash("sha1").update(source).digest("hex");
  PAGE_FUNCTIONS.set(key, `export default (${source});\n`);
  return key;
}

/**
 * `fn(arg)` in the page, awaited, through WebDriver's asynchronous script: by watch.js's
 * `__mnwCall` where the page has it, else in the script itself (pages not from a test server, such
 * as about:blank). The argument and the result go as JSON (undefined kept as such).
 */
function scriptOf(fn) {
  return `const [key, arg, done] = arguments;
const U = ${JSON.stringify(UNDEFINED)};
const fail = (error) => done({ error: String(error?.message ?? error) + "\\n" + (error?.stack ?? "") });
if (window.__mnwCall) {
  window.__mnwCall(key, arg).then((value) => done({ value }), fail);
} else {
  Promise.resolve()
    .then(() => (${fn.toString()})(JSON.parse(arg, (k, v) => (v === U ? undefined : v))))
    .then((value) => done({ value: JSON.stringify(value === undefined ? U : value, (k, v) => (v === undefined ? U : v)) }), fail);
}`;
}

async function webDriverBrowser(driver, stop) {
  await driver.manage().setTimeouts({ script: 20 * 60_000, pageLoad: 120_000 });
  const pages = [];
  let current = await driver.getWindowHandle();
  let first = current;
  const browser = {
    engine: ENGINE,
    driver,
    async focus(handle) {
      if (handle !== current) {
        await driver.switchTo().window(handle);
        current = handle;
      }
    },
    async newPage({ viewport = { width: 1280, height: 860 } } = {}) {
      let handle = first;
      first = null;
      if (!handle) {
        await driver.switchTo().newWindow("window");
        handle = current = await driver.getWindowHandle();
      }
      const page = new WebDriverPage(browser, handle);
      pages.push(page);
      await page.setViewportSize(viewport);
      return page;
    },
    async newContext() {
      return { newPage: () => browser.newPage() };
    },
    async closePage(page) {
      pages.splice(pages.indexOf(page), 1);
      if (pages.length === 0 && first === null) {
        // The session's last window stays, blank, for the next page.
        await browser.focus(page.handle);
        await driver.get("about:blank");
        first = page.handle;
        return;
      }
      await browser.focus(page.handle);
      await driver.close();
      current = null;
      const [other] = await driver.getAllWindowHandles();
      await driver.switchTo().window(other);
      current = other;
    },
    async close() {
      try {
        await driver.quit();
      } finally {
        await stop();
      }
    },
  };
  return browser;
}

/** The part of Playwright's Page the tests use, in a WebDriver window. */
class WebDriverPage {
  #expected = /$^/;
  #hovered = null;

  constructor(browser, handle) {
    this.browser = browser;
    this.handle = handle;
    this.driver = browser.driver;
    this.mouse = {
      down: async () => {
        await this.#focus();
        await this.driver.actions().move({ origin: await this.#find(this.#hovered) }).press().perform();
      },
      up: async () => {
        await this.#focus();
        await this.driver.actions().release().perform();
      },
    };
  }

  async #focus() {
    await this.browser.focus(this.handle);
  }

  async #find(selector) {
    return this.driver.findElement(By.css(selector));
  }

  /** The window sized for a `width` × `height` viewport, as far as the engine allows (see demo.test.mjs). */
  async setViewportSize({ width, height }) {
    await this.#focus();
    await this.driver.manage().window().setRect({ width, height });
    const [innerWidth, innerHeight] = await this.evaluate(() => [innerWidth, innerHeight]);
    if (innerWidth !== width || innerHeight !== height) {
      await this.driver.manage().window().setRect({ width: 2 * width - innerWidth, height: 2 * height - innerHeight });
    }
  }

  async goto(url) {
    await this.#focus();
    await this.driver.get(url);
  }

  async evaluate(fn, arg) {
    await this.#focus();
    const result = await this.driver.executeAsyncScript(scriptOf(fn), pageFunction(fn), encode(arg));
    if (result.error !== undefined) throw new Error(`in the page: ${result.error}`);
    return decode(result.value);
  }

  /** Polls `fn(arg)` in the page every `polling` ms until it is truthy, and returns its value. */
  async waitForFunction(fn, arg, { timeout = 30_000, polling = 100 } = {}) {
    const started = Date.now();
    for (;;) {
      const value = await this.evaluate(fn, arg);
      if (value) return value;
      if (Date.now() - started > timeout) throw new Error(`waitForFunction timed out after ${timeout} ms: ${fn}`);
      await new Promise((r) => setTimeout(r, typeof polling === "number" ? polling : 100));
    }
  }

  waitForTimeout(ms) {
    return new Promise((r) => setTimeout(r, ms));
  }

  async click(selector) {
    await this.#focus();
    await (await this.#find(selector)).click();
  }

  async hover(selector) {
    this.#hovered = selector;
    await this.#focus();
    const element = await this.#find(selector);
    // Playwright scrolls the element into view first; WebDriver's pointer moves do not.
    await this.driver.executeScript("arguments[0].scrollIntoView({ block: 'center' })", element);
    await this.driver.actions().move({ origin: element }).perform();
  }

  /** Focuses `selector` and presses `key` (WebDriver's key down and up). */
  async press(selector, key) {
    await this.#focus();
    await (await this.#find(selector)).sendKeys(key);
  }

  async fill(selector, value) {
    await this.#focus();
    const element = await this.#find(selector);
    await element.clear();
    await element.sendKeys(value);
  }

  /** As Playwright does: the option selected, then input and change events. */
  async selectOption(selector, value) {
    await this.evaluate(
      ({ selector, value }) => {
        const select = document.querySelector(selector);
        select.value = value;
        if (select.value !== value) throw new Error(`${selector} has no option ${value}`);
        select.dispatchEvent(new Event("input", { bubbles: true }));
        select.dispatchEvent(new Event("change", { bubbles: true }));
      },
      { selector, value },
    );
  }

  async setInputFiles(selector, path) {
    await this.#focus();
    await (await this.#find(selector)).sendKeys(path);
  }

  textContent(selector) {
    return this.evaluate((selector) => document.querySelector(selector).textContent, selector);
  }

  inputValue(selector) {
    return this.evaluate((selector) => document.querySelector(selector).value, selector);
  }

  async screenshot({ path }) {
    await this.#focus();
    writeFileSync(path, Buffer.from(await this.driver.takeScreenshot(), "base64"));
  }

  expectErrorsFrom(pattern) {
    this.#expected = pattern;
  }

  /** What the page logged as an error (watch.js keeps it), less messages matching the expected. */
  async consoleErrors() {
    const errors = await this.evaluate(() => window.__mnwErrors ?? ["watch.js is not in this page"]);
    return errors.filter((e) => !this.#expected.test(e));
  }

  /**
   * The URLs the page requested (Resource Timing: the page's own requests; a worker's are not
   * seen here, unlike in Chromium, whose requests Playwright observes).
   */
  requestedUrls() {
    return this.evaluate(() => [location.href, ...performance.getEntriesByType("resource").map((e) => e.name)]);
  }

  /** Clicks `selector` and writes the file the page offers for download (watch.js keeps it) to `path`. */
  async saveDownload(selector, path) {
    const before = await this.evaluate(() => window.__mnwDownloads.length);
    await this.click(selector);
    const download = await this.waitForFunction(
      (n) => {
        const d = window.__mnwDownloads[n];
        return (d?.bytes || d?.error) && d;
      },
      before,
      { timeout: 30_000 },
    );
    if (download.error) throw new Error(`the download ${download.name} could not be read: ${download.error}`);
    writeFileSync(path, Buffer.from(download.bytes));
  }

  async close() {
    await this.browser.closePage(this);
  }
}
