// A stand-in for the Hugging Face Hub, which these machines cannot reach: it answers
// `/{id}/resolve/{revision}/{file}` for the Hub ids the package is tested with from
// ../shared/reference/timm (each folder holds what the Hub repository of that architecture holds),
// as Playwright routes for the real https://huggingface.co URLs or as a local server for `hubUrl`.
// Like the Hub, a missing file of a repository is 404 and a missing repository 401; the local
// server also answers model.safetensors with a redirect to its storage, as the Hub does (Playwright
// does not route the requests a fulfilled redirect leads to, so the routed Hub serves files
// directly).
import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HUB_MODELS } from "../../pkg-template/models.js";
import { SHARED } from "./harness.mjs";

export const HUB = "https://huggingface.co";

const CORS = { "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Content-Length" };

/** The timm folder of ../shared/reference/timm holding a Hub id's files. */
export const timmFolder = (id) => id.slice("timm/".length).split(".")[0];

/**
 * The answer for the Hub path `pathname`: `{ status, body?, type?, redirect? }`. `extra` maps
 * more ids to `{ "config.json": text | undefined, "model.safetensors": path | undefined }`
 * (undefined: the repository has no such file).
 */
export function hubAnswer(pathname, extra = {}) {
  const match = /^\/([\w.-]+\/[\w.-]+)\/resolve\/([^/]+)\/([^/]+)$/.exec(decodeURIComponent(pathname));
  if (!match) return { status: 404, body: "Not found" };
  const [, id, , file] = match;
  let files = extra[id];
  if (!files && HUB_MODELS.some((m) => m.id === id)) {
    const folder = join(SHARED, "reference/timm", timmFolder(id));
    files = { "config.json": readFileSync(join(folder, "config.json"), "utf8"), "model.safetensors": join(folder, "model.safetensors") };
  }
  if (!files) return { status: 401, body: "Repository not found" };
  const content = files[file];
  if (content === undefined) return { status: 404, body: "Entry not found" };
  if (file === "config.json") return { status: 200, body: content, type: "application/json" };
  if (!existsSync(content)) throw new Error(`no file ${content}`);
  return { status: 200, path: content, type: "application/octet-stream" };
}

/**
 * Answers `context`'s requests to https://huggingface.co with `hubAnswer`. Returns the list of
 * URLs requested, for tests that count downloads.
 */
export async function routeHub(context, extra = {}) {
  const requested = [];
  await context.route(`${HUB}/**`, async (route) => {
    const url = new URL(route.request().url());
    requested.push(url.href);
    const answer = hubAnswer(url.pathname, extra);
    const body = answer.path ? { path: answer.path } : { body: answer.body };
    return route.fulfill({ status: answer.status, headers: CORS, contentType: answer.type ?? "text/plain", ...body });
  });
  return requested;
}

/**
 * The same answers from a local server (CORS allowed), for `hubUrl`; model files through a
 * redirect to `/storage/…`, as the Hub sends them to its storage hosts. `requested` lists the URLs
 * asked for.
 */
export function serveHub(extra = {}) {
  const requested = [];
  let base;
  const server = createServer((req, res) => {
    try {
      const { pathname } = new URL(req.url, "http://x");
      requested.push(`${base}${pathname}`);
      const stored = pathname.startsWith("/storage/");
      const answer = hubAnswer(stored ? pathname.slice("/storage".length) : pathname, extra);
      if (answer.path && !stored) {
        res.writeHead(302, { ...CORS, Location: `/storage${pathname}` }).end();
        return;
      }
      const body = answer.path ? readFileSync(answer.path) : answer.body;
      res.writeHead(answer.status, { ...CORS, "Content-Type": answer.type ?? "text/plain", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    } catch (error) {
      res.writeHead(500, CORS).end(String(error));
    }
  });
  return new Promise((done) =>
    server.listen(0, "127.0.0.1", () =>
      done({
        url: (base = `http://127.0.0.1:${server.address().port}`),
        requested,
        close: () => new Promise((c) => server.close(c)),
      }),
    ),
  );
}
