//! MobileNeXt (Zhou et al., "Rethinking Bottleneck Structure for Efficient Mobile Network Design",
//! ECCV 2020), as the official `mnext.py` builds it; its block variants differ from the paper's
//! drawing (see `../shared/reference/synthetic/README.md`).

use super::{conv_bn, num_classes, Network};
use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{
    make_divisible, Activation, BuildContext, ConvBnAct, ConvSpec, Linear, SandGlass,
};

/// The official configuration: reduction ratio t, output channels c, blocks n, first stride s.
const STAGES: [[usize; 4]; 8] = [
    [2, 96, 1, 2],
    [6, 144, 1, 1],
    [6, 192, 3, 2],
    [6, 288, 3, 2],
    [6, 384, 4, 1],
    [6, 576, 4, 2],
    [6, 960, 3, 1],
    [6, 1280, 1, 1],
];
const STEM_CHANNELS: usize = 32;
const ACT: Activation = Activation::Relu6;
const LINEAR: Activation = Activation::Identity;

pub fn build(config: &ModelConfig, ctx: &BuildContext, root: Weights) -> Result<Network> {
    let channels = |c: usize| make_divisible(c as f64 * config.width, 8);
    let features = root.pp("features");
    let mut layers: Vec<Box<dyn candle_core::Module + Send + Sync>> = Vec::new();

    let mut input = channels(STEM_CHANNELS);
    let spec = ConvSpec::dense(3, input, 3, 2, ACT);
    layers.push(Box::new(conv_bn(&features.pp(0), spec, ctx)?));

    let mut index = 1;
    for [t, c, n, s] in STAGES {
        let output = channels(c);
        for repeat in 0..n {
            let stride = if repeat == 0 { s } else { 1 };
            let keep_3x3 = repeat == 0 && n == 1 && s == 1;
            let block = sandglass(
                &features.pp(index).pp("conv"),
                input,
                output,
                t,
                stride,
                keep_3x3,
                ctx,
            )?;
            layers.push(Box::new(block));
            input = output;
            index += 1;
        }
    }

    let head = root.pp("classifier").pp(1);
    let classes = num_classes(config, &head)?;
    Ok(Network {
        features: layers,
        classifier: vec![Linear::load(head, input, classes, LINEAR)?],
    })
}

/// One `SGBlock`: which convs exist follows the official code's branches, in its order.
fn sandglass(
    conv: &Weights,
    input: usize,
    output: usize,
    t: usize,
    stride: usize,
    keep_3x3: bool,
    ctx: &BuildContext,
) -> Result<SandGlass> {
    let mut hidden = input / t;
    if (hidden as f64) < output as f64 / 6.0 {
        hidden = make_divisible((output as f64 / 6.0).ceil(), 16);
    }
    let (depthwise_in, depthwise_out_stride, identity) = if t == 2 {
        (true, Some(stride), false)
    } else if input != output && !keep_3x3 {
        (false, (stride == 2).then_some(2), false)
    } else {
        (true, Some(1), !keep_3x3)
    };
    // Modules are numbered conv, BN (, ReLU6) in order under `conv.`.
    let mut next = 0;
    let mut layer = |spec: ConvSpec| {
        let at = next;
        next += if spec.activation == LINEAR { 2 } else { 3 };
        ConvBnAct::load(conv.pp(at), conv.pp(at + 1), spec, ctx)
    };
    let depthwise_in = match depthwise_in {
        true => Some(layer(ConvSpec::depthwise(input, 3, 1, ACT))?),
        false => None,
    };
    let reduce = layer(ConvSpec::pointwise(input, hidden, LINEAR))?;
    let expand = layer(ConvSpec::pointwise(hidden, output, ACT))?;
    let depthwise_out = match depthwise_out_stride {
        Some(s) => Some(layer(ConvSpec::depthwise(output, 3, s, LINEAR))?),
        None => None,
    };
    Ok(SandGlass {
        depthwise_in,
        reduce,
        expand,
        depthwise_out,
        identity,
    })
}
