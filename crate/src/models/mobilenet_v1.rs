//! MobileNetV1 (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
//! Applications", 2017) in the flat layout `features.{i}` = conv → BN → activation.

use super::{conv_bn, num_classes, Network};
use crate::checkpoint::Weights;
use crate::config::{ModelConfig, V1Activation};
use crate::error::Result;
use crate::layers::{Activation, BuildContext, ConvSpec, Linear};

/// Table 1 of the paper after the stem: each row is a depthwise 3×3 conv with this stride followed
/// by a pointwise conv to this many channels.
const SEPARABLE: [(usize, usize); 13] = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
];
const STEM_CHANNELS: usize = 32;
/// TF-slim's `min_depth`: no layer is thinner than this, whatever the width multiplier.
const MIN_DEPTH: usize = 8;

pub fn build(config: &ModelConfig, ctx: &BuildContext, root: Weights) -> Result<Network> {
    let depth = |c: usize| ((c as f64 * config.width) as usize).max(MIN_DEPTH);
    let act = match config.v1_activation {
        V1Activation::Relu6 => Activation::Relu6,
        V1Activation::Relu => Activation::Relu,
    };
    let features = root.pp("features");
    let layer = |index: usize, spec: ConvSpec| conv_bn(&features.pp(index), spec, ctx);
    let mut layers: Vec<Box<dyn candle_core::Module + Send + Sync>> = Vec::new();

    let mut input = depth(STEM_CHANNELS);
    layers.push(Box::new(layer(0, ConvSpec::dense(3, input, 3, 2, act))?));
    for (i, (stride, channels)) in SEPARABLE.into_iter().enumerate() {
        let output = depth(channels);
        layers.push(Box::new(layer(
            2 * i + 1,
            ConvSpec::depthwise(input, 3, stride, act),
        )?));
        layers.push(Box::new(layer(
            2 * i + 2,
            ConvSpec::pointwise(input, output, act),
        )?));
        input = output;
    }

    let head = root.pp("classifier");
    let classes = num_classes(config, &head)?;
    Ok(Network {
        features: layers,
        classifier: vec![Linear::load(head, input, classes, Activation::Identity)?],
    })
}
