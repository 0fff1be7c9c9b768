// TensorFlow.js (wasm backend: XNNPACK, one thread) versions of our MobileNets, built from the same
// PyTorch-layout safetensors checkpoints, so the bench can time TF.js on exactly our weights.
// The graphs are built the way a TF.js user tuning for speed would: NHWC, BatchNorm folded into the
// conv weights, fused conv/depthwise/matMul kernels with bias and ReLU/ReLU6, weights uploaded once.
//
// The page needs an import map for "@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm" and the
// Node built-ins that the wasm backend's ESM bundle imports but only uses under Node ("fs", "path",
// "os", "perf_hooks"; any empty module will do).
import * as tf from "@tensorflow/tfjs-core";
import { setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/**
 * Selects the wasm backend with `threads` threads (default 1), loading its .wasm files from
 * `wasmDir` (a URL or path ending in a directory). Call once, before `tfjsModel`. Returns the tf
 * namespace.
 */
export async function setupTfjs(wasmDir, threads = 1) {
  // One thread: pinning the flag keeps even an isolated page on the non-threaded
  // tfjs-backend-wasm-simd.wasm. More: the threaded module, which needs cross-origin isolation,
  // and a pool of that many threads (the backend's own default would be hardwareConcurrency / 2).
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", threads > 1);
  setThreadsCount(threads);
  setWasmPaths(wasmDir.endsWith("/") ? wasmDir : `${wasmDir}/`);
  if (!(await tf.setBackend("wasm"))) throw new Error("TF.js: the wasm backend failed to initialize");
  await tf.ready();
  tf.enableProdMode();
  return tf;
}

/**
 * What the graph of each architecture needs of a checkpoint beyond its tensors: the builder, and the
 * BatchNorm eps its checkpoints were trained with. Channel counts come from the tensor shapes, so
 * the width variants need nothing more.
 */
const ARCHITECTURES = {
  mobilenet_v3_small: { arch: "v3_small", eps: 1e-3 },
  mobilenet_v3_large: { arch: "v3_large", eps: 1e-3 },
  mobilenet_v2: { arch: "v2", eps: 1e-5 },
  mobilenet_v1: { arch: "v1", eps: 1e-3 },
  mobilenext: { arch: "mobilenext", eps: 1e-5 },
};

/**
 * A checkpoint of tests/models.json as the graph builders read it: architecture, padding ("tf": TF
 * "SAME"; "torch": symmetric k/2), BatchNorm eps and, for V1, its activation. Of timm's folders,
 * MobileNetV4's conv models are built.
 */
function checkpointConfig({ name, options = {}, timm }) {
  if (timm) {
    if (!name.startsWith("mobilenetv4_conv")) throw new Error(`TF.js: timm's ${name} is not built here`);
    return { arch: "v4", padding: "torch", eps: 1e-5 };
  }
  const architecture = ARCHITECTURES[options.arch];
  if (!architecture) throw new Error(`TF.js: unknown architecture ${options.arch} (${name})`);
  return { ...architecture, padding: options.padding ?? "torch", act: options.activation ?? "relu6" };
}

/**
 * Builds the TF.js model of `checkpoint` (an entry of tests/models.json: `{ name, options }`, or a
 * timm folder's `{ name, timm }`) from its safetensors bytes. `predict` takes a 1x3xHxW NCHW
 * Float32Array (H = W = 224 unless given) and returns the logits.
 */
export async function tfjsModel(checkpoint, safetensorsBytes) {
  const config = checkpointConfig(checkpoint);
  const net = new Net(readSafetensors(safetensorsBytes), config);
  let forward;
  try {
    forward = BUILDERS[config.arch](net, config);
  } catch (e) {
    net.dispose();
    throw e;
  }
  return {
    predict(nchw, height = 224, width = 224) {
      return tf.tidy(() => {
        const x = tf.transpose(tf.tensor4d(nchw, [1, 3, height, width]), [0, 2, 3, 1]);
        return forward(x).dataSync();
      });
    },
    dispose: () => net.dispose(),
  };
}

/** Name → { shape, data: Float32Array }, from safetensors bytes (F32, F16, BF16 or F64). */
function readSafetensors(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const base = 8 + headerLength;
  const tensors = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry;
    const count = shape.reduce((a, b) => a * b, 1);
    const size = { F32: 4, F16: 2, BF16: 2, F64: 8 }[dtype];
    if (!size) throw new Error(`TF.js: ${name} has dtype ${dtype}; expected F32, F16, BF16 or F64`);
    if (count * size !== end - begin) throw new Error(`TF.js: ${name} has ${end - begin} bytes for shape [${shape}]`);
    // slice() copies to an aligned buffer; typed arrays read it in host order, little-endian in
    // every browser, as safetensors is.
    const raw = bytes.slice(base + begin, base + end).buffer;
    let data;
    if (dtype === "F32") data = new Float32Array(raw);
    else if (dtype === "F64") data = new Float32Array(new Float64Array(raw));
    else if (dtype === "BF16") data = new Float32Array(new Uint32Array(new Uint16Array(raw)).map((h) => h << 16).buffer);
    else {
      const half = new Uint16Array(raw);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(half[i]);
    }
    tensors.set(name, { shape, data });
  }
  return tensors;
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Checkpoint tensors turned into TF.js layers; owns every tensor it creates. */
class Net {
  constructor(tensors, { padding, eps }) {
    this.tensors = tensors;
    this.padding = padding;
    this.eps = eps;
    this.owned = [];
    this.three = this.keep(tf.scalar(3));
    this.six = this.keep(tf.scalar(6));
  }

  keep(t) {
    this.owned.push(t);
    return t;
  }

  dispose() {
    this.owned.forEach((t) => t.dispose());
    this.owned = [];
  }

  get(name) {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`TF.js: the checkpoint has no tensor ${name}`);
    return t;
  }

  has(name) {
    return this.tensors.has(name);
  }

  /**
   * Conv `conv` (a module prefix: `${conv}.weight`, optional `${conv}.bias`) followed by the
   * BatchNorm `bn`, folded in float64. Returns x => act(conv(x)) as one fused TF.js op, plus its
   * shape so builders can check the wiring.
   */
  conv(conv, bn, { stride = 1, act = "linear" } = {}) {
    const { shape, data } = this.get(`${conv}.weight`);
    const [out, inPerGroup, kh, kw] = shape;
    const depthwise = inPerGroup === 1 && kh > 1;
    const scale = new Float64Array(out).fill(1);
    const shift = new Float64Array(out);
    if (this.has(`${conv}.bias`)) this.get(`${conv}.bias`).data.forEach((b, o) => (shift[o] = b));
    if (bn) {
      const [gamma, beta, mean, variance] = ["weight", "bias", "running_mean", "running_var"].map((n) => this.get(`${bn}.${n}`).data);
      for (let o = 0; o < out; o++) {
        const s = gamma[o] / Math.sqrt(variance[o] + this.eps);
        shift[o] = (shift[o] - mean[o]) * s + beta[o];
        scale[o] = s;
      }
    }
    // OIHW → HWIO for conv2d, [C,1,kh,kw] → [kh,kw,C,1] for depthwiseConv2d: both are
    // (y, x, i, o)-major with the output channel fastest.
    const filter = new Float32Array(data.length);
    const per = inPerGroup * kh * kw;
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inPerGroup; i++) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            filter[((y * kw + x) * inPerGroup + i) * out + o] = data[o * per + (i * kh + y) * kw + x] * scale[o];
          }
        }
      }
    }
    const weights = this.keep(depthwise ? tf.tensor4d(filter, [kh, kw, out, 1]) : tf.tensor4d(filter, [kh, kw, inPerGroup, out]));
    const bias = this.keep(tf.tensor1d(Float32Array.from(shift)));
    const pad = kh === 1 && kw === 1 ? "valid" : this.padding === "tf" ? "same" : Math.floor(kh / 2);
    const fused = act === "hardswish" ? "linear" : act;
    const run = depthwise
      ? (x) => tf.fused.depthwiseConv2d({ x, filter: weights, strides: stride, pad, bias, activation: fused })
      : (x) => tf.fused.conv2d({ x, filter: weights, strides: stride, pad, bias, activation: fused });
    const layer = act === "hardswish" ? (x) => this.hardswish(run(x)) : run;
    return Object.assign(layer, { inChannels: depthwise ? out : inPerGroup, outChannels: out, kernel: kh, depthwise });
  }

  /**
   * x => act(x · Wᵀ + b) for the Linear (or 1x1 conv) `name`, its bias shifted by `biasShift`.
   * W is stored transposed, [in, out]: with transposeB the wasm backend skips XNNPACK for a slow
   * fallback that also adds a fused bias wrongly (tfjs 4.22).
   */
  linear(name, act = "linear", biasShift = 0) {
    const { shape, data } = this.get(`${name}.weight`);
    const [out, inputs] = shape;
    const transposed = new Float32Array(out * inputs);
    for (let o = 0; o < out; o++) for (let i = 0; i < inputs; i++) transposed[i * out + o] = data[o * inputs + i];
    const b = this.keep(tf.tensor2d(transposed, [inputs, out]));
    const bias = this.keep(tf.tensor1d(this.get(`${name}.bias`).data.map((v) => v + biasShift)));
    const fused = act === "hardswish" ? "linear" : act;
    const run = (x) => tf.fused.matMul({ a: x, b, bias, activation: fused });
    const layer = act === "hardswish" ? (x) => this.hardswish(run(x)) : run;
    return Object.assign(layer, { inChannels: inputs, outChannels: out });
  }

  /** x · relu6(x + 3) / 6, as torch's Hardswish: the wasm backend has no fused form. */
  hardswish(x) {
    return tf.div(tf.mul(x, tf.relu6(tf.add(x, this.three))), this.six);
  }

  /**
   * Squeeze-and-excite: x · hardsigmoid(fc2(relu(fc1(mean(x))))). The hardsigmoid's +3 goes into
   * fc2's bias so its relu6 fuses; the /6 then runs on C values only.
   */
  squeezeExcite(prefix) {
    const fc1 = this.linear(`${prefix}.fc1`, "relu");
    const fc2 = this.linear(`${prefix}.fc2`, "relu6", 3);
    const channels = fc2.outChannels;
    return (x) => {
      const gate = tf.div(fc2(fc1(globalAvgPool(x))), this.six);
      return tf.mul(x, tf.reshape(gate, [1, 1, 1, channels]));
    };
  }
}

/** [1, H, W, C] → [1, C]. avgPool, not mean: the wasm Mean over H,W first transposes the map. */
function globalAvgPool(x) {
  const [, h, w, c] = x.shape;
  return tf.reshape(tf.avgPool(x, [h, w], 1, "valid"), [1, c]);
}

function sequence(layers) {
  return (x) => layers.reduce((h, layer) => layer(h), x);
}

/** Throws unless `layer` takes `channels` inputs; returns its output channels. */
function wire(layer, channels, where) {
  if (layer.inChannels !== channels) {
    throw new Error(`TF.js: ${where} takes ${layer.inChannels} channels, the previous layer gives ${channels}`);
  }
  return layer.outChannels;
}

function classifierHead(features, classifier) {
  return (x) => sequence(classifier)(globalAvgPool(features(x)));
}

/** MobileNetV3 rows (paper Tables 1 and 2): kernel, SE, activation, stride. */
const V3_SMALL = [
  [3, true, "relu", 2], [3, false, "relu", 2], [3, false, "relu", 1], [5, true, "hardswish", 2],
  [5, true, "hardswish", 1], [5, true, "hardswish", 1], [5, true, "hardswish", 1], [5, true, "hardswish", 1],
  [5, true, "hardswish", 2], [5, true, "hardswish", 1], [5, true, "hardswish", 1],
];
const V3_LARGE = [
  [3, false, "relu", 1], [3, false, "relu", 2], [3, false, "relu", 1], [5, true, "relu", 2],
  [5, true, "relu", 1], [5, true, "relu", 1], [3, false, "hardswish", 2], [3, false, "hardswish", 1],
  [3, false, "hardswish", 1], [3, false, "hardswish", 1], [3, true, "hardswish", 1], [3, true, "hardswish", 1],
  [5, true, "hardswish", 2], [5, true, "hardswish", 1], [5, true, "hardswish", 1],
];

/** torchvision MobileNetV3: block sub-modules are numbered in order, absent ones skipped. */
function buildV3(net, table) {
  const layers = [];
  const stem = net.conv("features.0.0", "features.0.1", { stride: 2, act: "hardswish" });
  let channels = wire(stem, 3, "features.0");
  layers.push(stem);
  table.forEach(([kernel, se, act, stride], i) => {
    const block = `features.${i + 1}.block`;
    let index = 0;
    const parts = [];
    const input = channels;
    // An expand conv is 1x1; when exp == in the block starts at the depthwise conv.
    if (net.get(`${block}.0.0.weight`).shape[2] === 1) {
      const expand = net.conv(`${block}.0.0`, `${block}.0.1`, { act });
      channels = wire(expand, channels, `${block}.0`);
      parts.push(expand);
      index++;
    }
    const dw = net.conv(`${block}.${index}.0`, `${block}.${index}.1`, { stride, act });
    if (!dw.depthwise || dw.kernel !== kernel) throw new Error(`TF.js: ${block}.${index} is not a ${kernel}x${kernel} depthwise conv`);
    channels = wire(dw, channels, `${block}.${index}`);
    parts.push(dw);
    index++;
    if (se) parts.push(net.squeezeExcite(`${block}.${index++}`));
    const project = net.conv(`${block}.${index}.0`, `${block}.${index}.1`);
    channels = wire(project, channels, `${block}.${index}`);
    parts.push(project);
    const body = sequence(parts);
    layers.push(stride === 1 && input === channels ? (x) => tf.add(body(x), x) : body);
  });
  const last = `features.${table.length + 1}`;
  const lastConv = net.conv(`${last}.0`, `${last}.1`, { act: "hardswish" });
  channels = wire(lastConv, channels, last);
  layers.push(lastConv);
  const hidden = net.linear("classifier.0", "hardswish");
  const classifier = net.linear("classifier.3");
  wire(classifier, wire(hidden, channels, "classifier.0"), "classifier.3");
  return classifierHead(sequence(layers), [hidden, classifier]);
}

/** MobileNetV2 block strides (paper Table 2 expanded: t, c, n, s → one stride per block). */
const V2_STRIDES = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1];

function buildV2(net) {
  const stem = net.conv("features.0.0", "features.0.1", { stride: 2, act: "relu6" });
  let channels = wire(stem, 3, "features.0");
  const layers = [stem];
  V2_STRIDES.forEach((stride, i) => {
    const conv = `features.${i + 1}.conv`;
    const parts = [];
    const input = channels;
    // With t = 1 there is no expand conv and the numbering starts at the depthwise conv.
    let first = 0;
    if (net.get(`${conv}.0.0.weight`).shape[2] === 1) {
      parts.push(net.conv(`${conv}.0.0`, `${conv}.0.1`, { act: "relu6" }));
      first = 1;
    }
    parts.push(net.conv(`${conv}.${first}.0`, `${conv}.${first}.1`, { stride, act: "relu6" }));
    parts.push(net.conv(`${conv}.${first + 1}`, `${conv}.${first + 2}`));
    parts.forEach((p) => (channels = wire(p, channels, conv)));
    const body = sequence(parts);
    layers.push(stride === 1 && input === channels ? (x) => tf.add(body(x), x) : body);
  });
  const last = `features.${V2_STRIDES.length + 1}`;
  const lastConv = net.conv(`${last}.0`, `${last}.1`, { act: "relu6" });
  channels = wire(lastConv, channels, last);
  layers.push(lastConv);
  const classifier = net.linear("classifier.1");
  wire(classifier, channels, "classifier.1");
  return classifierHead(sequence(layers), [classifier]);
}

/** MobileNetV1 (flat layout): the depthwise strides of the 13 separable blocks. */
const V1_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];

function buildV1(net, { act }) {
  const layers = [net.conv("features.0.0", "features.0.1", { stride: 2, act })];
  V1_STRIDES.forEach((stride, i) => {
    layers.push(net.conv(`features.${2 * i + 1}.0`, `features.${2 * i + 1}.1`, { stride, act }));
    layers.push(net.conv(`features.${2 * i + 2}.0`, `features.${2 * i + 2}.1`, { act }));
  });
  const classifier = net.linear("classifier");
  wire(classifier, layers.reduce((c, l, i) => wire(l, c, `features.${i}`), 3), "classifier");
  return classifierHead(sequence(layers), [classifier]);
}

/** MobileNeXt stages (official mnext.py): reduction t, output channels c, blocks n, first stride s. */
const MOBILENEXT_STAGES = [
  [2, 96, 1, 2], [6, 144, 1, 1], [6, 192, 3, 2], [6, 288, 3, 2],
  [6, 384, 4, 1], [6, 576, 4, 2], [6, 960, 3, 1], [6, 1280, 1, 1],
];

function buildMobileNeXt(net) {
  const stem = net.conv("features.0.0", "features.0.1", { stride: 2, act: "relu6" });
  let channels = wire(stem, 3, "features.0");
  const layers = [stem];
  let tableInput = 32;
  let index = 1;
  for (const [t, c, n, s] of MOBILENEXT_STAGES) {
    for (let r = 0; r < n; r++) {
      const stride = r === 0 ? s : 1;
      const keep3x3 = r === 0 && n === 1 && s === 1;
      // Which convs exist follows the official SGBlock's branches, in its order.
      let dwIn = true;
      let dwOut = 1;
      let identity = false;
      if (t === 2) dwOut = stride;
      else if (tableInput !== c && !keep3x3) [dwIn, dwOut] = [false, stride === 2 ? 2 : 0];
      else identity = !keep3x3;
      const conv = `features.${index}.conv`;
      let at = 0;
      // Modules are numbered conv, BN (, ReLU6) under `conv.`.
      const next = (spec) => {
        const layer = net.conv(`${conv}.${at}`, `${conv}.${at + 1}`, spec);
        at += spec.act === "relu6" ? 3 : 2;
        return layer;
      };
      const parts = [];
      if (dwIn) parts.push(next({ act: "relu6" }));
      parts.push(next({}));
      parts.push(next({ act: "relu6" }));
      if (dwOut) parts.push(next({ stride: dwOut }));
      parts.forEach((p) => (channels = wire(p, channels, conv)));
      const body = sequence(parts);
      layers.push(identity ? (x) => tf.add(body(x), x) : body);
      tableInput = c;
      index++;
    }
  }
  const classifier = net.linear("classifier.1");
  wire(classifier, channels, "classifier.1");
  return classifierHead(sequence(layers), [classifier]);
}

/**
 * timm's MobileNetV4 (conv): the block kinds read off timm's module names: `conv` (conv + BN +
 * ReLU, never a skip), `conv_exp` (FusedIB), `pw_exp` (UIB, with optional `dw_start` / `dw_mid`). Each stage but
 * the last starts with a stride of 2, on its first spatial conv (UIB: `dw_mid` if there is one).
 */
function buildV4(net) {
  const stem = net.conv("conv_stem", "bn1", { stride: 2, act: "relu" });
  let channels = wire(stem, 3, "conv_stem");
  const layers = [stem];
  const stages = new Map();
  for (const name of net.tensors.keys()) {
    const match = /^blocks\.(\d+)\.(\d+)\./.exec(name);
    if (match) stages.set(Number(match[1]), Math.max(stages.get(Number(match[1])) ?? 0, Number(match[2]) + 1));
  }
  const last = Math.max(...stages.keys());
  for (let s = 0; s <= last; s++) {
    for (let b = 0; b < stages.get(s); b++) {
      const block = `blocks.${s}.${b}`;
      const stride = b === 0 && s < last ? 2 : 1;
      const parts = [];
      // Conv blocks never skip; the others do where stride and channels allow.
      let skips = true;
      if (net.has(`${block}.conv.weight`)) {
        parts.push(net.conv(`${block}.conv`, `${block}.bn1`, { stride, act: "relu" }));
        skips = false;
      } else if (net.has(`${block}.conv_exp.weight`)) {
        parts.push(net.conv(`${block}.conv_exp`, `${block}.bn1`, { stride, act: "relu" }));
        parts.push(net.conv(`${block}.conv_pwl`, `${block}.bn2`));
      } else {
        const mid = net.has(`${block}.dw_mid.conv.weight`);
        if (net.has(`${block}.dw_start.conv.weight`)) {
          parts.push(net.conv(`${block}.dw_start.conv`, `${block}.dw_start.bn`, { stride: mid ? 1 : stride }));
        }
        parts.push(net.conv(`${block}.pw_exp.conv`, `${block}.pw_exp.bn`, { act: "relu" }));
        if (mid) parts.push(net.conv(`${block}.dw_mid.conv`, `${block}.dw_mid.bn`, { stride, act: "relu" }));
        parts.push(net.conv(`${block}.pw_proj.conv`, `${block}.pw_proj.bn`));
      }
      const input = channels;
      parts.forEach((p) => (channels = wire(p, channels, block)));
      const body = sequence(parts);
      layers.push(skips && stride === 1 && input === channels ? (x) => tf.add(body(x), x) : body);
    }
  }
  // After pooling: a 1x1 conv + BatchNorm + ReLU (`conv_head`, `norm_head`), then the classifier.
  const head = net.conv("conv_head", "norm_head", { act: "relu" });
  const classifier = net.linear("classifier");
  wire(classifier, wire(head, channels, "conv_head"), "classifier");
  const features = sequence(layers);
  return (x) => {
    const pooled = tf.reshape(globalAvgPool(features(x)), [1, 1, 1, channels]);
    return classifier(tf.reshape(head(pooled), [1, head.outChannels]));
  };
}

const BUILDERS = {
  v4: buildV4,
  v3_small: (net) => buildV3(net, V3_SMALL),
  v3_large: (net) => buildV3(net, V3_LARGE),
  v2: buildV2,
  v1: buildV1,
  mobilenext: buildMobileNeXt,
};
