// The development server (scripts/serve.mjs), which the demo and every page test sit on.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { serve } from "../scripts/serve.mjs";
import { ROOT } from "./support/harness.mjs";

let server;
before(async () => {
  server = await serve({ root: `${ROOT}/www`, port: 0 });
});
after(() => server?.close());

/** Status of a GET of `path`, sent as written (fetch would normalise a bad escape away). */
function status(path) {
  return new Promise((done, fail) => {
    const { hostname, port } = new URL(server.url);
    request({ hostname, port, path }, (res) => {
      res.resume();
      done(res.statusCode);
    })
      .on("error", fail)
      .end();
  });
}

test("a bad % escape is a 400, and the server goes on serving", async () => {
  assert.equal(await status("/%E0%A4%A"), 400);
  assert.equal(await status("/%"), 400);
  assert.equal(await status("/index.html"), 200);
  assert.equal(await status("/../../etc/passwd"), 404);
});
