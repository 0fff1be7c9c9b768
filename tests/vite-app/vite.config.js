export default {
  // Serve the package as published in dev mode instead of pre-bundling it, so the .wasm and the
  // worker stay next to the code that finds them through import.meta.url.
  optimizeDeps: { exclude: ["mobilenet-wasm"] },
  logLevel: "warn",
};
