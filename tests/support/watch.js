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
  // A download link's file is kept in the page instead of being saved by the browser.
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (!this.download) return click.call(this);
    const download = { name: this.download, bytes: null };
    window.__mnwDownloads.push(download);
    fetch(this.href)
      .then((r) => r.arrayBuffer())
      .then((b) => (download.bytes = Array.from(new Uint8Array(b))));
  };
})();
