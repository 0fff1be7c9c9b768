// Where model and head files come from: URLs (downloaded with progress, verified against an
// integrity string, kept in Cache Storage), bytes, Responses, and Hugging Face Hub repositories.
import { isDetached, MobileNetError } from "./errors.js";
import { DEFAULT_MODEL } from "./models.js";

const DEFAULT_CACHE = "mobilenet-wasm";
/** The header of a cached model's length (see readResponse). */
const STORED_LENGTH = "X-Mobilenet-Length";
export const HUB_URL = "https://huggingface.co";

export function baseUrl() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

/** `bytes` (an ArrayBuffer or a view of one), refused (BAD_SOURCE) if its buffer is detached. */
export function checkAttached(bytes) {
  if (isDetached(bytes instanceof ArrayBuffer ? bytes : bytes.buffer)) {
    throw new MobileNetError(
      "BAD_SOURCE",
      "the model's ArrayBuffer is detached (transferred elsewhere, e.g. to a worker): its bytes are gone",
    );
  }
  return bytes;
}

/** Model bytes from a URL, ArrayBuffer, typed array or Response. */
export async function readSource(source, options = {}) {
  const { onProgress, integrity } = options;
  let bytes;
  if (typeof source === "string" || source instanceof URL) {
    return fetchBytes(new URL(source, baseUrl()), options);
  } else if (source instanceof ArrayBuffer) {
    bytes = new Uint8Array(checkAttached(source));
  } else if (ArrayBuffer.isView(source)) {
    bytes = new Uint8Array(checkAttached(source).buffer, source.byteOffset, source.byteLength);
  } else if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw new MobileNetError("FETCH", `the response is HTTP ${source.status}`);
    bytes = await readResponse(source, onProgress);
  } else {
    throw new MobileNetError(
      "BAD_SOURCE",
      'the model source must be a Hub id ("owner/name"), URL, string, ArrayBuffer, Uint8Array or Response',
    );
  }
  if (integrity && !(await hasIntegrity(bytes, integrity))) {
    throw new MobileNetError("INTEGRITY", `the model does not match its integrity ${integrity}`);
  }
  return bytes;
}

async function openCache(cache) {
  if (cache === false || typeof caches === "undefined") return null;
  try {
    return await caches.open(typeof cache === "string" ? cache : DEFAULT_CACHE);
  } catch {
    return null; // e.g. storage disabled: download every time
  }
}

async function fetchBytes(url, { cache = true, integrity, onProgress }) {
  const store = await openCache(cache);
  const cached = store && (await store.match(url.href).catch(() => undefined));
  if (cached) {
    const bytes = await readResponse(cached, onProgress);
    if (!integrity || (await hasIntegrity(bytes, integrity))) return bytes;
    await store.delete(url.href); // stale or tampered copy: download again
  }
  let response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new MobileNetError("FETCH", `could not download ${url}: ${cause.message}`, { cause });
  }
  if (!response.ok) {
    const error = new MobileNetError("FETCH", `could not download ${url}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  const bytes = await readResponse(response, onProgress);
  if (integrity && !(await hasIntegrity(bytes, integrity))) {
    throw new MobileNetError("INTEGRITY", `${url} does not match its integrity ${integrity}`);
  }
  if (store) {
    const headers = { "Content-Type": "application/octet-stream", [STORED_LENGTH]: String(bytes.length) };
    const copy = new Response(bytes, { headers });
    await store.put(url.href, copy).catch(() => {});
  }
  return bytes;
}

/** The whole body, reporting `(loaded, total)`; `total` is undefined when the size is unknown. */
async function readResponse(response, onProgress) {
  // Chromium and WebKit keep no Content-Length on responses read back from Cache Storage: the
  // size the package stored beside them says it there.
  const length = Number(response.headers.get("Content-Length") ?? response.headers.get(STORED_LENGTH));
  // A compressed body's length says nothing about the bytes we will read.
  const total = length > 0 && !response.headers.get("Content-Encoding") ? length : undefined;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

const DIGESTS = { sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };

async function hasIntegrity(bytes, integrity) {
  const match = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(String(integrity).trim());
  if (!match) {
    throw new MobileNetError("INTEGRITY", `integrity must look like "sha256-<base64>", got "${integrity}"`);
  }
  if (!globalThis.crypto?.subtle) {
    throw new MobileNetError(
      "INTEGRITY",
      "cannot verify integrity: crypto.subtle is unavailable (the page is not a secure context)",
    );
  }
  const digest = new Uint8Array(await crypto.subtle.digest(DIGESTS[match[1]], bytes));
  return btoa(String.fromCharCode(...digest)) === match[2];
}

// ---------------------------------------------------------------- the Hugging Face Hub

/**
 * Whether `source` names a Hub repository (`owner/name`, e.g.
 * "timm/mobilenetv4_conv_small.e2400_r224_in1k") rather than a URL: two path segments, no
 * scheme, no leading "./" or "/", and not a `.safetensors` file.
 */
export function isHubId(source) {
  return (
    typeof source === "string" &&
    /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(source) &&
    !/\.safetensors$/i.test(source)
  );
}

/** The Hub id to load: `source`, or the default model when none is given. */
export function hubSource(source) {
  if (source === undefined) return DEFAULT_MODEL;
  return isHubId(source) ? source : undefined;
}

/** A model's bytes from a Hub id or any source `readSource` takes. */
export async function readModelBytes(source, options = {}) {
  return isHubId(source) ? (await readHubModel(source, options)).bytes : readSource(source, options);
}

/**
 * A timm repository on the Hub: `{hubUrl}/{id}/resolve/{revision}/config.json` (its text, which
 * describes the network and its preprocessing) and `model.safetensors` (its bytes: progress,
 * integrity and Cache Storage as for any URL). Resolves to `{ bytes, config, json }`.
 */
export async function readHubModel(id, { hubUrl = HUB_URL, revision = "main", ...options } = {}) {
  let base;
  try {
    const root = String(hubUrl).replace(/\/+$/, "");
    base = new URL(`${root}/${id}/resolve/${encodeURIComponent(revision)}/`, baseUrl());
  } catch {
    throw new MobileNetError("BAD_CONFIG", `hubUrl must be a URL, got ${JSON.stringify(hubUrl)}`);
  }
  const configUrl = new URL("config.json", base);
  let text;
  try {
    text = new TextDecoder().decode(await fetchBytes(configUrl, { cache: options.cache }));
  } catch (error) {
    // The Hub answers 401 for repositories that do not exist (or are private).
    if (error.status !== 404 && error.status !== 401) throw error;
    const missing = new MobileNetError(
      "FETCH",
      `no model ${id} (revision ${revision}) on the Hub at ${hubUrl}: ${configUrl} is HTTP ${error.status}`,
      { cause: error },
    );
    missing.status = error.status;
    throw missing;
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    // (reported below)
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new MobileNetError("BAD_CONFIG", `${configUrl} is not a JSON object (a timm repository's config.json)`);
  }
  const modelUrl = new URL("model.safetensors", base);
  try {
    return { bytes: await fetchBytes(modelUrl, options), config: text, json };
  } catch (error) {
    if (error.status === 404) {
      throw new MobileNetError(
        "BAD_MODEL",
        `${id} has no model.safetensors (${modelUrl} is HTTP 404): only safetensors checkpoints load`,
        { cause: error },
      );
    }
    throw error;
  }
}
