//! The seeds, made in memory at start (a clean clone with no data fuzzes too): a tiny randomly
//! initialised model of every architecture and layout, written self-describing by the library's
//! own converter; heads of both kinds made by its learner; combined files; config texts.
//!
//! A random checkpoint needs every tensor's name and shape; the loader says them: built from an
//! incomplete checkpoint, it names the first missing tensor (`MISSING_TENSOR`), then the shape
//! it expects (`TENSOR_SHAPE`), until the network builds.

use std::collections::{BTreeMap, HashMap};

use mobilenet_wasm::checkpoint::{write_safetensors, Checkpoint, StoreDtype};
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::transfer::combine;
use mobilenet_wasm::{
    Architecture, Backbone, Error, HeadKind, Interpolation, Learner, Model, ModelConfig,
    PaddingMode, Pixels, V1Activation,
};

use crate::records;
use crate::rng::Rng;
use crate::targets::Context;

/// A seed model: its self-describing file, the plain checkpoint it was converted from, and the
/// model loaded from the file.
pub struct SeedModel {
    pub name: String,
    pub file: Vec<u8>,
    pub plain: Vec<u8>,
    pub model: Model,
}

pub const LABELS: [&str; 3] = ["cat", "dog", "bird"];

/// `(architecture, width, input size, stored as, BatchNorm folded)`: every torchvision-layout
/// family and a timm model of each timm family (their widths are part of their names), at small
/// sizes; a few stored as f16, as int8 weights with scales, or with BatchNorm folded, one with TF
/// padding and ReLU.
const MODELS: [(&str, f64, u32, StoreDtype, bool); 10] = [
    ("mobilenet_v3_small", 0.1, 32, StoreDtype::F32, false),
    ("mobilenet_v3_large", 0.1, 32, StoreDtype::F16, false),
    ("mobilenet_v2", 0.1, 32, StoreDtype::F32, true),
    ("mobilenet_v1", 0.25, 32, StoreDtype::Int8, false),
    ("mobilenext", 0.1, 48, StoreDtype::F32, false),
    ("mobilenetv1_100", 1.0, 32, StoreDtype::F16, false),
    ("mobilenetv2_035", 0.35, 32, StoreDtype::Int8, false),
    ("mobilenetv3_small_050", 0.5, 32, StoreDtype::F32, true),
    (
        "tf_mobilenetv3_small_minimal_100",
        1.0,
        32,
        StoreDtype::F16,
        false,
    ),
    (
        "mobilenetv4_conv_small_035",
        0.35,
        32,
        StoreDtype::F32,
        false,
    ),
];

/// The seed models, the same on every run (their own fixed random stream, not `--seed`).
pub fn models() -> Result<Vec<SeedModel>, Error> {
    let mut rng = Rng::new(0x5EED);
    MODELS
        .iter()
        .enumerate()
        .map(|(i, &(arch, width, input, dtype, fold))| {
            let arch: Architecture = arch.parse()?;
            let mut config = ModelConfig::new(arch)
                .with_width(width)
                .with_input_size(input)
                .with_labels(LABELS.map(String::from).to_vec());
            config.num_classes = Some(LABELS.len());
            match i {
                3 => {
                    config = config
                        .with_padding(PaddingMode::TfSame)
                        .with_v1_activation(V1Activation::Relu)
                }
                6 => config.interpolation = Interpolation::Bicubic,
                _ => {}
            }
            let plain = random_checkpoint(&config, &mut rng)?;
            let options = ConvertOptions {
                dtype,
                fold_batch_norm: fold,
            };
            let converted = convert(&plain, config, options)?;
            Ok(SeedModel {
                name: arch.name().to_string(),
                file: canonical(&converted.bytes),
                plain,
                model: converted.model,
            })
        })
        .collect()
}

/// A plain checkpoint of random values for `config`, its tensors found by asking the loader.
fn random_checkpoint(config: &ModelConfig, rng: &mut Rng) -> Result<Vec<u8>, Error> {
    // The loader refuses a file with no tensors: one that is not the model's stands in until then.
    const PLACEHOLDER: &str = "fuzz.placeholder";
    let mut shapes: BTreeMap<String, Vec<usize>> = BTreeMap::from([(PLACEHOLDER.into(), vec![1])]);
    let write = |shapes: &BTreeMap<String, Vec<usize>>,
                 fill: &mut dyn FnMut(&str, &[usize]) -> Vec<f32>| {
        let tensors: Vec<_> = shapes
            .iter()
            .map(|(name, shape)| (name.clone(), shape.clone(), fill(name, shape)))
            .collect();
        write_safetensors(&tensors, StoreDtype::F32, HashMap::new())
    };
    let mut built = false;
    for _ in 0..10_000 {
        let bytes = write(&shapes, &mut |_, shape| vec![1.0; shape.iter().product()])?;
        match Model::from_checkpoint(Checkpoint::from_bytes(&bytes)?, config.clone()) {
            Ok(_) => {
                built = true;
                break;
            }
            Err(Error::MissingTensor { name }) => shapes.insert(name, vec![1]),
            Err(Error::TensorShape { name, expected, .. }) => {
                // A BatchNorm's four tensors have one shape: guessed together (one the module
                // does not have is then reported unused, and dropped).
                if let (Some((module, _)), [_]) = (name.rsplit_once('.'), &expected[..]) {
                    for sibling in ["weight", "bias", "running_mean", "running_var"] {
                        shapes
                            .entry(format!("{module}.{sibling}"))
                            .or_insert(expected.clone());
                    }
                }
                shapes.insert(name, expected)
            }
            Err(Error::UnusedTensors { example, .. }) => shapes.remove(&example),
            Err(other) => return Err(other),
        };
    }
    if !built {
        return Err(Error::Internal(format!(
            "no checkpoint found for {}",
            config.arch.name()
        )));
    }
    write(&shapes, &mut |name, shape| initial_values(rng, name, shape))
}

/// Values that keep activations of unit size: uniform weights scaled by fan-in, BatchNorm near
/// identity.
fn initial_values(rng: &mut Rng, name: &str, shape: &[usize]) -> Vec<f32> {
    let count: usize = shape.iter().product();
    let (centre, spread) = if name.ends_with("running_var") {
        (1.0, 0.5)
    } else if name.ends_with("bias") || name.ends_with("running_mean") {
        (0.0, 0.1)
    } else if shape.len() == 1 {
        (1.0, 0.5) // a BatchNorm's weight
    } else {
        let fan_in: usize = shape[1..].iter().product();
        (0.0, (3.0 / fan_in.max(1) as f64).sqrt())
    };
    (0..count)
        .map(|_| (centre + spread * (2.0 * rng.unit() - 1.0)) as f32)
        .collect()
}

/// A deterministic RGBA test card of `width × height`.
pub fn image(width: u32, height: u32, seed: u8) -> Vec<u8> {
    (0..width * height * 4)
        .map(|i| (i.wrapping_mul(37).wrapping_add(seed as u32 * 101) % 251) as u8)
        .collect()
}

/// A head file's, a combined file's and a learner's makings: a learner of `kind` taught three
/// classes from the model's embeddings of test cards; a linear one gets random weights.
pub fn learner(model: &Model, kind: HeadKind, rng: &mut Rng) -> Result<Learner, Error> {
    let mut learner = Learner::new(kind, model.backbone());
    for i in 0..6u8 {
        let card = image(20 + i as u32, 17, i);
        let embedding = model.embed(&Pixels::rgba(&card, 20 + i as u32, 17))?;
        learner.add(&embedding, LABELS[i as usize % 3])?;
    }
    if kind == HeadKind::Linear {
        let data = learner.training_data()?;
        let (classes, dim, revision) = (data.num_classes, data.dim, data.revision);
        let weight = (0..classes * dim)
            .map(|_| rng.unit() as f32 - 0.5)
            .collect();
        let bias = (0..classes).map(|_| rng.unit() as f32 - 0.5).collect();
        learner.set_linear(weight, bias, revision)?;
    }
    Ok(learner)
}

/// Head files for the first model's backbone (the head target's): kNN, and linear with and
/// without its examples; then one made for another backbone.
pub fn heads(models: &[SeedModel]) -> Result<(Backbone, Vec<Vec<u8>>), Error> {
    let mut rng = Rng::new(0x4EAD);
    let model = &models[0].model;
    let mut files = vec![
        learner(model, HeadKind::Knn { k: 3 }, &mut rng)?.to_bytes(true)?,
        learner(model, HeadKind::Knn { k: 1 }, &mut rng)?.to_bytes(true)?,
    ];
    let linear = learner(model, HeadKind::Linear, &mut rng)?;
    files.push(linear.to_bytes(true)?);
    files.push(linear.to_bytes(false)?);
    files.push(learner(&models[1].model, HeadKind::Linear, &mut rng)?.to_bytes(false)?);
    Ok((model.backbone(), files))
}

/// Model files with a head appended, by the library's `combine`, of a few architectures.
pub fn combined(models: &[SeedModel]) -> Result<Vec<Vec<u8>>, Error> {
    let mut rng = Rng::new(0xC0B1);
    let mut files = Vec::new();
    for (i, seed) in models
        .iter()
        .enumerate()
        .filter(|(i, _)| [0, 2, 4, 10].contains(i))
    {
        let kind = if i % 4 == 0 {
            HeadKind::Knn { k: 3 }
        } else {
            HeadKind::Linear
        };
        let learner = learner(&seed.model, kind, &mut rng)?;
        files.push(canonical(&combine(
            &seed.file,
            &seed.model,
            learner.head(),
        )?));
    }
    Ok(files)
}

/// `file` with its header's keys, and its metadata's, in order: the library writes metadata from
/// a `HashMap`, whose order changes from run to run, and a seed must not.
fn canonical(file: &[u8]) -> Vec<u8> {
    let (mut header, data) = header(file);
    if let Some(metadata) = header.get_mut("__metadata__") {
        let sorted: BTreeMap<String, String> =
            serde_json::from_value(metadata.take()).expect("metadata is strings");
        *metadata = serde_json::json!(sorted);
    }
    let mut text = serde_json::to_string(&header).expect("JSON");
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    [
        &(text.len() as u64).to_le_bytes()[..],
        text.as_bytes(),
        data,
    ]
    .concat()
}

/// A safetensors file's header (as the library writes it: JSON) and data.
fn header(file: &[u8]) -> (BTreeMap<String, serde_json::Value>, &[u8]) {
    let len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&file[8..8 + len]).expect("the library writes JSON");
    (header, &file[8 + len..])
}

/// The parts of a self-describing file the config target puts its metadata between: the header's
/// tensor entries (JSON members, without braces) and the data after the header.
pub struct FileParts {
    pub entries: String,
    pub data: Vec<u8>,
}

/// `file`'s metadata as JSON object text, and its other parts.
pub fn split_metadata(file: &[u8]) -> (String, FileParts) {
    let (header, data) = header(file);
    let mut entries = String::new();
    let mut metadata = String::from("{}");
    for (key, value) in header {
        if key == "__metadata__" {
            metadata = value.to_string();
        } else {
            let comma = if entries.is_empty() { "" } else { "," };
            entries += &format!("{comma}{}:{value}", serde_json::Value::String(key));
        }
    }
    let data = data.to_vec();
    (metadata, FileParts { entries, data })
}

/// A timm `config.json` as the Hub serves it, for `seed` (a timm model).
pub fn timm_config(seed: &SeedModel) -> String {
    let config = seed.model.config();
    serde_json::json!({
        "architecture": seed.name,
        "num_classes": LABELS.len(),
        "label_names": LABELS,
        "global_pool": "avg",
        "model_args": {"in_chans": 3, "global_pool": "avg"},
        "pretrained_cfg": {
            "input_size": [3, config.input_size, config.input_size],
            "interpolation": config.interpolation.name(),
            "crop_pct": config.input_size as f64 / config.resize_size as f64,
            "crop_mode": "center",
            "mean": config.mean,
            "std": config.std,
        }
    })
    .to_string()
}

/// A target's inputs.
pub type Corpus = Vec<Vec<u8>>;

/// The seed models and each target's initial inputs (in the order of `TARGETS`).
pub fn context() -> Result<(Context, Vec<Corpus>), Error> {
    let models = models()?;
    let (backbone, heads) = heads(&models)?;
    let combined = combined(&models)?;
    let split: Vec<_> = models.iter().map(|m| split_metadata(&m.file)).collect();
    let timm: Vec<usize> = (0..models.len())
        .filter(|&i| models[i].model.arch().timm().is_some())
        .collect();
    let mut config: Vec<Vec<u8>> = split
        .iter()
        .enumerate()
        .map(|(i, (metadata, _))| [&[i as u8][..], metadata.as_bytes()].concat())
        .collect();
    config.extend(
        timm.iter()
            .enumerate()
            .map(|(k, &i)| [&[0x80 + k as u8][..], timm_config(&models[i]).as_bytes()].concat()),
    );
    let (pixels, tensor, learner) = records::seeds(models.len() as u8);
    let corpora = vec![
        models.iter().map(|m| m.file.clone()).collect(),
        heads,
        combined,
        config,
        pixels,
        tensor,
        learner,
    ];
    let ctx = Context {
        parts: split.into_iter().map(|(_, parts)| parts).collect(),
        models,
        backbone,
        timm,
    };
    Ok((ctx, corpora))
}

/// Writes each target's seeds to `dir/<target>/seed-NN.bin`.
pub fn write<'a>(
    dir: &std::path::Path,
    corpora: impl Iterator<Item = (&'a str, &'a Corpus)>,
) -> std::io::Result<()> {
    for (target, corpus) in corpora {
        std::fs::create_dir_all(dir.join(target))?;
        for (i, seed) in corpus.iter().enumerate() {
            std::fs::write(dir.join(target).join(format!("seed-{i:02}.bin")), seed)?;
        }
    }
    Ok(())
}
