//! MobileNetV3 (Howard et al., "Searching for MobileNetV3", 2019), torchvision layout.

use super::{conv_bn, num_classes, Network};
use crate::checkpoint::Weights;
use crate::config::{Architecture, ModelConfig};
use crate::error::Result;
use crate::layers::{
    make_divisible, Activation, BuildContext, ConvSpec, InvertedResidual, Linear, SqueezeExcite,
};

/// One row of the paper's Tables 1 and 2.
struct Bneck {
    input: usize,
    kernel: usize,
    expanded: usize,
    output: usize,
    squeeze_excite: bool,
    activation: Activation,
    stride: usize,
}

const RE: Activation = Activation::Relu;
const HS: Activation = Activation::Hardswish;

const fn bneck(
    input: usize,
    kernel: usize,
    expanded: usize,
    output: usize,
    squeeze_excite: bool,
    activation: Activation,
    stride: usize,
) -> Bneck {
    Bneck {
        input,
        kernel,
        expanded,
        output,
        squeeze_excite,
        activation,
        stride,
    }
}

/// Table 2 (MobileNetV3-Small): input, kernel, exp size, out, SE, NL, stride.
#[rustfmt::skip]
const SMALL: [Bneck; 11] = [
    bneck(16, 3, 16, 16, true, RE, 2),
    bneck(16, 3, 72, 24, false, RE, 2),
    bneck(24, 3, 88, 24, false, RE, 1),
    bneck(24, 5, 96, 40, true, HS, 2),
    bneck(40, 5, 240, 40, true, HS, 1),
    bneck(40, 5, 240, 40, true, HS, 1),
    bneck(40, 5, 120, 48, true, HS, 1),
    bneck(48, 5, 144, 48, true, HS, 1),
    bneck(48, 5, 288, 96, true, HS, 2),
    bneck(96, 5, 576, 96, true, HS, 1),
    bneck(96, 5, 576, 96, true, HS, 1),
];
const SMALL_LAST_CHANNEL: usize = 1024;

/// Table 1 (MobileNetV3-Large).
#[rustfmt::skip]
const LARGE: [Bneck; 15] = [
    bneck(16, 3, 16, 16, false, RE, 1),
    bneck(16, 3, 64, 24, false, RE, 2),
    bneck(24, 3, 72, 24, false, RE, 1),
    bneck(24, 5, 72, 40, true, RE, 2),
    bneck(40, 5, 120, 40, true, RE, 1),
    bneck(40, 5, 120, 40, true, RE, 1),
    bneck(40, 3, 240, 80, false, HS, 2),
    bneck(80, 3, 200, 80, false, HS, 1),
    bneck(80, 3, 184, 80, false, HS, 1),
    bneck(80, 3, 184, 80, false, HS, 1),
    bneck(80, 3, 480, 112, true, HS, 1),
    bneck(112, 3, 672, 112, true, HS, 1),
    bneck(112, 5, 672, 160, true, HS, 2),
    bneck(160, 5, 960, 160, true, HS, 1),
    bneck(160, 5, 960, 160, true, HS, 1),
];
const LARGE_LAST_CHANNEL: usize = 1280;

pub fn build(config: &ModelConfig, ctx: &BuildContext, root: Weights) -> Result<Network> {
    let (table, last_channel): (&[Bneck], usize) = match config.arch {
        Architecture::MobileNetV3Large => (&LARGE, LARGE_LAST_CHANNEL),
        _ => (&SMALL, SMALL_LAST_CHANNEL),
    };
    let channels = |c: usize| make_divisible(c as f64 * config.width, 8);
    let features = root.pp("features");
    let mut layers: Vec<Box<dyn candle_core::Module + Send + Sync>> = Vec::new();

    let stem = channels(table[0].input);
    layers.push(Box::new(conv_bn(
        &features.pp(0),
        ConvSpec::dense(3, stem, 3, 2, HS),
        ctx,
    )?));

    for (i, row) in table.iter().enumerate() {
        let block = features.pp(i + 1).pp("block");
        let (input, expanded, output) = (
            channels(row.input),
            channels(row.expanded),
            channels(row.output),
        );
        // torchvision numbers the block's sub-modules in order, skipping absent ones.
        let mut index = 0;
        let mut next = || {
            index += 1;
            block.pp(index - 1)
        };
        let expand = if expanded != input {
            let spec = ConvSpec::pointwise(input, expanded, row.activation);
            Some(conv_bn(&next(), spec, ctx)?)
        } else {
            None
        };
        let dw = ConvSpec::depthwise(expanded, row.kernel, row.stride, row.activation);
        let depthwise = conv_bn(&next(), dw, ctx)?;
        let squeeze_excite = if row.squeeze_excite {
            let squeeze = make_divisible((expanded / 4) as f64, 8);
            Some(SqueezeExcite::load(next(), expanded, squeeze)?)
        } else {
            None
        };
        let project = ConvSpec::pointwise(expanded, output, Activation::Identity);
        let project = conv_bn(&next(), project, ctx)?;
        layers.push(Box::new(InvertedResidual {
            expand,
            depthwise,
            squeeze_excite,
            project,
        }));
    }

    let last_in = channels(table[table.len() - 1].output);
    let last_conv = 6 * last_in;
    layers.push(Box::new(conv_bn(
        &features.pp(table.len() + 1),
        ConvSpec::pointwise(last_in, last_conv, HS),
        ctx,
    )?));

    let hidden = channels(last_channel);
    let head = root.pp("classifier");
    let classes = num_classes(config, &head.pp(3))?;
    Ok(Network {
        features: layers,
        classifier: vec![
            Linear::load(head.pp(0), last_conv, hidden, HS)?,
            Linear::load(head.pp(3), hidden, classes, Activation::Identity)?,
        ],
    })
}
