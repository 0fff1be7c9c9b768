//! Converts a plain PyTorch-layout checkpoint into a self-describing model file.
//!
//! ```text
//! mobilenet-convert --arch mobilenet_v3_small --padding tf \
//!     --labels ../shared/weights/imagenet_classes.txt [--f16] [--fold-bn] IN.safetensors OUT.safetensors
//! ```

use std::process::ExitCode;

use mobilenet_wasm::checkpoint::StoreDtype;
use mobilenet_wasm::convert::{convert, ConvertOptions};
use mobilenet_wasm::{Error, ModelConfig};

const USAGE: &str = "usage: mobilenet-convert --arch ARCH [--width W] [--padding torch|tf]
       [--activation relu6|relu] [--bn-eps EPS] [--input-size N] [--labels FILE]
       [--f16] [--fold-bn] INPUT.safetensors OUTPUT.safetensors

ARCH: mobilenet_v3_small | mobilenet_v3_large | mobilenet_v2 | mobilenet_v1 | mobilenext
--labels: one class name per line, in class-index order";

struct Args {
    config: ModelConfig,
    options: ConvertOptions,
    input: String,
    output: String,
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
    let arch = arch.ok_or("--arch is required")?;
    let mut config = ModelConfig::new(arch.parse().map_err(|e: Error| e.to_string())?);
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
            "--labels" => {
                let text = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                config.labels = Some(text.lines().map(|l| l.trim_end().to_string()).collect());
            }
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    let [input, output]: [String; 2] = files
        .try_into()
        .map_err(|_| format!("expected INPUT and OUTPUT files\n\n{USAGE}"))?;
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
            eprintln!("error: {}: {e}", args.input);
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
