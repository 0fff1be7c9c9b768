// The Hugging Face Hub models the package is tested with: timm's checkpoints as the Hub publishes
// them (config.json + float32 model.safetensors). The tests load stand-ins with exactly these
// architectures, tensor names and configs; `bytes` is the Hub file's size.

/** Loaded by `Classifier.load()` with no source. */
export const DEFAULT_MODEL = "timm/mobilenetv4_conv_small.e2400_r224_in1k";

export const HUB_MODELS = Object.freeze(
  [
    { id: DEFAULT_MODEL, name: "MobileNetV4-Conv-Small", parameters: 3774024, bytes: 15.2e6 },
    { id: "timm/mobilenetv4_conv_medium.e500_r224_in1k", name: "MobileNetV4-Conv-Medium", parameters: 9715512, bytes: 39.2e6 },
    { id: "timm/mobilenetv3_small_100.lamb_in1k", name: "MobileNetV3-Small", parameters: 2542856, bytes: 10.2e6 },
    { id: "timm/mobilenetv3_large_100.ra_in1k", name: "MobileNetV3-Large", parameters: 5483032, bytes: 22.1e6 },
    { id: "timm/mobilenetv2_050.lamb_in1k", name: "MobileNetV2 0.5", parameters: 1968680, bytes: 8.0e6 },
    { id: "timm/mobilenetv1_100.ra4_e3600_r224_in1k", name: "MobileNetV1", parameters: 4231976, bytes: 17.0e6 },
  ].map((model) => Object.freeze({ ...model, arch: model.id.slice("timm/".length).split(".")[0] })),
);
