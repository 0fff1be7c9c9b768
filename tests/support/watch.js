// Added to the pages the test servers send to Firefox and WebKit, before any script of the page:
// WebDriver (unlike Playwright in Chromium) cannot listen to a page's console, so the page keeps
// what it logs as an error, and the downloads it offers, for the tests to read.
(() => {
  const errors = (window.__mnwErrors = []);
  window.__mnwDownloads = [];
  addEventListener("error", (e) => errors.push(`pageerror: ${e.message}`));
  addEventListener("unhandledrejection", (e) => errors.push(`pageerror: ${e.reason?.message ?? e.reason}`));
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    errors.push(`console: ${args.map(String).join(" ")}`);
    consoleError(...args);
  };
  // browsers.mjs's evaluate(): a test's function, as a module of this origin, called here.
  const U = "\u0000undefined";
  window.__mnwCall = async (key, arg) => {
    const { default: fn } = await import(`/__mnw_fn/${key}.js`);
    const value = await fn(JSON.parse(arg, (k, v) => (v === U ? undefined : v)));
    return JSON.stringify(value === undefined ? U : value, (k, v) => (v === undefined ? U : v));
  };
  // A download link's file is kept in the page instead of being saved by the browser (its blob,
  // as URL.createObjectURL made it, or else what its URL gives).
  const blobs = new Map();
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (object) => {
    const url = createObjectURL(object);
    if (object instanceof Blob) blobs.set(url, object);
    return url;
  };
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (!this.download) return click.call(this);
    const download = { name: this.download, bytes: null, error: null };
    window.__mnwDownloads.push(download);
    const blob = blobs.get(this.href);
    (blob ? blob.arrayBuffer() : fetch(this.href).then((r) => r.arrayBuffer())).then(
      (b) => (download.bytes = Array.from(new Uint8Array(b))),
      (e) => (download.error = String(e)),
    );
  };
})();
