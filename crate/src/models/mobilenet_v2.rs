//! MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018),
//! torchvision layout.

use super::{conv_bn, num_classes, Network};
use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{
    make_divisible, Activation, BuildContext, ConvBnAct, ConvSpec, InvertedResidual, Linear,
};

/// Table 2 of the paper: expansion factor t, output channels c, repeats n, first stride s.
const BOTTLENECKS: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];
const STEM_CHANNELS: usize = 32;
const LAST_CHANNEL: usize = 1280;
const ACT: Activation = Activation::Relu6;

pub fn build(config: &ModelConfig, ctx: &BuildContext, root: Weights) -> Result<Network> {
    let width = config.width;
    let features = root.pp("features");
    let mut layers: Vec<Box<dyn candle_core::Module + Send + Sync>> = Vec::new();

    let mut input = make_divisible(STEM_CHANNELS as f64 * width, 8);
    let spec = ConvSpec::dense(3, input, 3, 2, ACT);
    layers.push(Box::new(conv_bn(&features.pp(0), spec, ctx)?));

    let mut index = 1;
    for [t, c, n, s] in BOTTLENECKS {
        let output = make_divisible(c as f64 * width, 8);
        for repeat in 0..n {
            let stride = if repeat == 0 { s } else { 1 };
            let hidden = input * t;
            let conv = features.pp(index).pp("conv");
            // With t = 1 there is no expand conv and the numbering starts at the depthwise conv.
            let (expand, first) = if t == 1 {
                (None, 0)
            } else {
                let spec = ConvSpec::pointwise(input, hidden, ACT);
                (Some(conv_bn(&conv.pp(0), spec, ctx)?), 1)
            };
            let spec = ConvSpec::depthwise(hidden, 3, stride, ACT);
            let depthwise = conv_bn(&conv.pp(first), spec, ctx)?;
            let spec = ConvSpec::pointwise(hidden, output, Activation::Identity);
            let project = ConvBnAct::load(conv.pp(first + 1), conv.pp(first + 2), spec, ctx)?;
            layers.push(Box::new(InvertedResidual {
                expand,
                depthwise,
                squeeze_excite: None,
                project,
            }));
            input = output;
            index += 1;
        }
    }

    // The last conv never narrows below 1280, whatever the width.
    let last = make_divisible(LAST_CHANNEL as f64 * width.max(1.0), 8);
    let spec = ConvSpec::pointwise(input, last, ACT);
    layers.push(Box::new(conv_bn(&features.pp(index), spec, ctx)?));

    let head = root.pp("classifier").pp(1);
    let classes = num_classes(config, &head)?;
    Ok(Network {
        features: layers,
        classifier: vec![Linear::load(head, last, classes, Activation::Identity)?],
    })
}
