//! Converts a plain PyTorch-layout checkpoint, or a timm model folder as the Hugging Face Hub
//! holds it (`config.json` + `model.safetensors`), into a self-describing model file.
//!
//! ```text
//! mobilenet-convert --arch mobilenet_v3_small --padding tf \
//!     --labels ../shared/weights/imagenet_classes.txt [--f16 | --int8] [--fold-bn] IN.safetensors OUT.safetensors
//! mobilenet-convert --labels imagenet_classes.txt [--f16 | --int8] TIMM_FOLDER OUT.safetensors
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mobilenet_wasm::checkpoint::StoreDtype;
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::hub::parse_config;
use mobilenet_wasm::{Error, ModelConfig};

const USAGE: &str = "usage: mobilenet-convert --arch ARCH [--width W] [--padding torch|tf]
       [--activation relu6|relu] [--bn-eps EPS] [--input-size N] [--crop-pct P]
       [--interpolation bilinear|bicubic] [--labels FILE] [--f16 | --int8] [--fold-bn]
       INPUT OUTPUT.safetensors

INPUT: a PyTorch-layout .safetensors checkpoint (needs --arch), or a timm model folder as the
       Hugging Face Hub holds it (config.json + model.safetensors; config.json describes it)
ARCH: mobilenet_v3_small | mobilenet_v3_large | mobilenet_v2 | mobilenet_v1 | mobilenext, or a
      timm name such as mobilenetv3_small_100 or mobilenetv4_conv_small
--labels: one class name per line, in class-index order
--int8: convolution and fully connected weights as int8 with a scale per output channel (about a
        quarter of the f32 file); the package runs its 1x1 convs in int8, the rest in float32";

struct Args {
    config: ModelConfig,
    options: ConvertOptions,
    /// The checkpoint file (in a timm folder, its `model.safetensors`).
    input: PathBuf,
    output: String,
}

/// A timm folder's config and checkpoint; `None` for a plain checkpoint file.
fn timm_folder(input: &Path) -> Result<Option<(ModelConfig, PathBuf)>, String> {
    if !input.is_dir() {
        return Ok(None);
    }
    let config_file = input.join("config.json");
    let json = std::fs::read_to_string(&config_file).map_err(|e| {
        format!(
            "{}: {e} (a model folder needs config.json)",
            config_file.display()
        )
    })?;
    let config = parse_config(&json)
        .map_err(|e| format!("{}: [{}] {e}", config_file.display(), e.code()))?;
    Ok(Some((config, input.join("model.safetensors"))))
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut arch = None;
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut options = ConvertOptions {
        dtype: StoreDtype::F32,
        fold_batch_norm: false,
    };
    let mut files = Vec::new();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--f16" => options.dtype = StoreDtype::F16,
            "--int8" => options.dtype = StoreDtype::Int8,
            "--fold-bn" => options.fold_batch_norm = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            flag if flag.starts_with("--") => {
                let value = it.next().ok_or(format!("{flag} needs a value"))?.clone();
                if flag == "--arch" {
                    arch = Some(value);
                } else {
                    settings.push((flag.to_string(), value));
                }
            }
            file => files.push(file.to_string()),
        }
    }
    let [input, output]: [String; 2] = files
        .try_into()
        .map_err(|_| format!("expected INPUT and OUTPUT\n\n{USAGE}"))?;
    let (mut config, input) = match (timm_folder(Path::new(&input))?, arch) {
        (Some(_), Some(_)) => return Err("--arch is not needed with a model folder".into()),
        (Some((config, checkpoint)), None) => (config, checkpoint),
        (None, None) => {
            return Err(format!(
                "--arch is required for a checkpoint file\n\n{USAGE}"
            ))
        }
        (None, Some(arch)) => (
            ModelConfig::new(arch.parse().map_err(|e: Error| e.to_string())?),
            PathBuf::from(input),
        ),
    };
    for (flag, value) in settings {
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("{flag}: `{value}` is not a number"))
        };
        match flag.as_str() {
            "--width" => config.width = number()?,
            "--padding" => config.padding = value.parse().map_err(|e: Error| e.to_string())?,
            "--activation" => {
                config.v1_activation = value.parse().map_err(|e: Error| e.to_string())?
            }
            "--bn-eps" => config.bn_eps = number()?,
            "--input-size" => config = config.with_input_size(number()? as u32),
            "--crop-pct" => config = config.with_crop_pct(number()?).map_err(|e| e.to_string())?,
            "--interpolation" => {
                config.interpolation = value.parse().map_err(|e: Error| e.to_string())?
            }
            "--labels" => {
                let text = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                config.labels = Some(text.lines().map(|l| l.trim_end().to_string()).collect());
            }
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    Ok(Args {
        config,
        options,
        input,
        output,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let source = match std::fs::read(&args.input) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {}: {e}", args.input.display());
            return ExitCode::FAILURE;
        }
    };
    let converted = match convert(&source, args.config, args.options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&args.output, &converted.bytes) {
        eprintln!("error: {}: {e}", args.output);
        return ExitCode::FAILURE;
    }
    let config = converted.model.config();
    println!(
        "{}: {} width {} padding {} input {}, {} classes{}, {} parameters, {} bytes ({:?}{})",
        args.output,
        config.arch,
        config.width,
        config.padding.name(),
        config.input_size,
        converted.model.num_classes(),
        if config.labels.is_some() {
            " with labels"
        } else {
            ""
        },
        converted.model.parameters(),
        converted.bytes.len(),
        args.options.dtype,
        if config.bn_folded {
            ", BatchNorm folded"
        } else {
            ""
        },
    );
    ExitCode::SUCCESS
}
