// Minimal static file server (no dependencies): serves a directory on 127.0.0.1 with correct MIME
// types (application/wasm for streaming compilation); with `cors`, cross-origin headers so pages
// on another origin can fetch from it, as they would from a CDN; with `--isolate`, the headers
// that make its pages cross-origin isolated (COOP and COEP), as threads need.
//
//   node scripts/serve.mjs --root DIR [--port 8080] [--cors] [--isolate]   (port 0: any free port)
//   import { serve } from "./serve.mjs"; const { url, close } = await serve({ root, port: 0 });
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

/** What makes a page cross-origin isolated, so that its workers may share memory (threads). */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

/**
 * `intercept(req, res, headers)`, if given, sees each request first and returns true when it has
 * answered it (the page tests log requests, stand in for files and add a script to pages).
 */
export function serve({ root, port = 8080, cors = false, headers: extra = {}, intercept }) {
  root = resolve(root);
  const server = createServer((req, res) => {
    const headers = { ...extra, ...(cors ? { "Access-Control-Allow-Origin": "*" } : {}) };
    if (intercept?.(req, res, headers)) return;
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400, headers).end("bad request: the path is not a valid URL");
      return;
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403, headers).end("forbidden");
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, "index.html");
      const size = statSync(file).size;
      res.writeHead(200, {
        ...headers,
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Content-Length": size,
        "Cache-Control": "no-cache",
      });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, headers).end("not found");
    }
  });
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      done({ url, close: () => new Promise((closed) => server.close(closed)) });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const root = option("--root", ".");
  const headers = args.includes("--isolate") ? ISOLATION_HEADERS : {};
  const { url } = await serve({ root, port: Number(option("--port", "8080")), cors: args.includes("--cors"), headers });
  console.log(`serving ${resolve(root)} at ${url}/`);
}
