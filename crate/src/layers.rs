//! The building blocks of every MobileNet: conv + BatchNorm + activation, squeeze-excite, the block
//! that chains them (with its residual), and the classifier head. BatchNorm is folded into the
//! convolution when loading.
//!
//! Loaders take [`Weights`] positioned at the PyTorch module that [`crate::names`] names.

use candle_core::{Module, Tensor};

use crate::checkpoint::Weights;
use crate::config::{Compute, PaddingMode};
use crate::error::{Error, Result};
use crate::kernels::dense::DenseConv;
use crate::kernels::depthwise::DepthwiseConv;
use crate::kernels::finite::first_non_finite;
use crate::kernels::matvec::LinearOp;
use crate::kernels::parallel::in_pool;
use crate::kernels::pointwise::{prepare_weights, PointwiseConv};
use crate::kernels::pool::{GlobalAvgPool, SqueezeExciteOp};
use crate::kernels::quantized::Int8Weights;
use crate::kernels::residual::ResidualAdd;
use crate::kernels::{conv_output_size, ConvArgs, TensorKernel};

pub use crate::kernels::activation::Activation;

thread_local! {
    /// Multiply-adds done by convolutions and linear layers on this thread (see `Model::multiply_adds`).
    static MULTIPLY_ADDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_multiply_adds(n: u64) {
    MULTIPLY_ADDS.with(|c| c.set(c.get() + n));
}

/// The multiply-adds counted while `run` ran: on the thread that runs the layers, which is the
/// pool's where there is one (a forward pass runs there, see [`in_pool`]).
pub fn counting_multiply_adds<T: Send>(run: impl FnOnce() -> T + Send) -> (T, u64) {
    in_pool(|| {
        let before = MULTIPLY_ADDS.with(|c| c.get());
        let result = run();
        (result, MULTIPLY_ADDS.with(|c| c.get()) - before)
    })
}

/// What every layer builder needs besides its own shape.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext {
    pub padding: PaddingMode,
    pub bn_eps: f64,
    /// Conv weights already have BatchNorm folded in and carry a `bias`; no BN tensors exist.
    pub bn_folded: bool,
    /// What 1×1 convolutions compute in.
    pub compute: Compute,
}

/// (before, after) zero padding of one spatial dimension.
pub fn conv_pads(mode: PaddingMode, size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    match mode {
        PaddingMode::Torch => (kernel / 2, kernel / 2),
        PaddingMode::TfSame => {
            let out = size.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(size);
            (total / 2, total - total / 2)
        }
    }
}

/// torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, never below it, and
/// never more than 10 % below `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let rounded = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (rounded as f64) < 0.9 * v {
        rounded + divisor
    } else {
        rounded
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Full convolution (the stem: 3 input channels).
    Dense,
    /// 1×1 convolution: a matrix product.
    Pointwise,
    /// One filter per channel (`groups = channels`).
    Depthwise,
}

/// Shape of a conv layer as the paper's tables give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub kind: ConvKind,
    pub activation: Activation,
}

impl ConvSpec {
    pub fn dense(cin: usize, cout: usize, kernel: usize, stride: usize, act: Activation) -> Self {
        ConvSpec {
            in_channels: cin,
            out_channels: cout,
            kernel,
            stride,
            kind: ConvKind::Dense,
            activation: act,
        }
    }

    pub fn pointwise(cin: usize, cout: usize, act: Activation) -> Self {
        ConvSpec {
            in_channels: cin,
            out_channels: cout,
            kernel: 1,
            stride: 1,
            kind: ConvKind::Pointwise,
            activation: act,
        }
    }

    pub fn depthwise(channels: usize, kernel: usize, stride: usize, act: Activation) -> Self {
        ConvSpec {
            in_channels: channels,
            out_channels: channels,
            kernel,
            stride,
            kind: ConvKind::Depthwise,
            activation: act,
        }
    }

    fn weight_shape(&self) -> [usize; 4] {
        let in_per_group = match self.kind {
            ConvKind::Depthwise => 1,
            _ => self.in_channels,
        };
        [self.out_channels, in_per_group, self.kernel, self.kernel]
    }
}

/// Convolution with BatchNorm folded in, then an activation.
pub struct ConvBnAct {
    spec: ConvSpec,
    padding: PaddingMode,
    /// Folded weights as the kernel reads them: flattened for depthwise convs, else prepared for
    /// the matrix product by [`prepare_weights`]; empty when `int8` holds them.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// A 1×1 conv's weights when it computes in int8.
    int8: Option<Int8Weights>,
}

impl ConvBnAct {
    /// `conv`: the `Conv2d` module; `bn`: its `BatchNorm2d`.
    pub fn load(conv: Weights, bn: Weights, spec: ConvSpec, ctx: &BuildContext) -> Result<Self> {
        let mut weights = conv.get(&spec.weight_shape(), "weight")?;
        let out = spec.out_channels;
        let bias = if ctx.bn_folded {
            conv.get(&[out], "bias")?
        } else {
            let bn = BatchNorm::load(bn, out, ctx.bn_eps)?;
            bn.fold_into(&mut weights)?
        };
        let mut int8 = None;
        // Not the stem's dense conv: its 7-bit inputs (the normalized image) lose half of the
        // pixels' 8 bits, which flipped V2's top-1 on rocket.jpg (a 3.4 % margin).
        if spec.kind == ConvKind::Pointwise && ctx.compute == Compute::Int8 {
            int8 = Some(Int8Weights::quantize(&weights, out, spec.in_channels));
            weights = Vec::new();
        } else if spec.kind != ConvKind::Depthwise {
            let inputs = weights.len() / out;
            weights = prepare_weights(weights, out, inputs);
        }
        Ok(ConvBnAct {
            spec,
            padding: ctx.padding,
            weights,
            bias,
            int8,
        })
    }

    pub fn spec(&self) -> &ConvSpec {
        &self.spec
    }

    /// Where the conv runs in int8: its inputs lie in `[0, max]` ([`Int8Weights::bound_inputs`]).
    pub fn bound_int8_inputs(&mut self, max: f32) {
        if let Some(weights) = &mut self.int8 {
            weights.bound_inputs(max);
        }
    }

    fn pads(&self, h: usize, w: usize) -> (usize, usize, usize, usize) {
        if self.spec.kernel == 1 {
            return (0, 0, 0, 0);
        }
        let (top, bottom) = conv_pads(self.padding, h, self.spec.kernel, self.spec.stride);
        let (left, right) = conv_pads(self.padding, w, self.spec.kernel, self.spec.stride);
        (top, bottom, left, right)
    }
}

impl Module for ConvBnAct {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let spec = &self.spec;
        if c != spec.in_channels {
            candle_core::bail!("conv expects {} channels, got {c}", spec.in_channels);
        }
        let (top, bottom, left, right) = self.pads(h, w);
        let out_h = conv_output_size(h, top, bottom, spec.kernel, spec.stride);
        let out_w = conv_output_size(w, left, right, spec.kernel, spec.stride);
        let per_output = spec.weight_shape()[1] * spec.kernel * spec.kernel;
        count_multiply_adds((n * spec.out_channels * out_h * out_w * per_output) as u64);
        let args = ConvArgs {
            weights: &self.weights,
            int8: self.int8.as_ref(),
            bias: &self.bias,
            kernel: spec.kernel,
            stride: spec.stride,
            pads: (top, bottom, left, right),
            activation: spec.activation,
        };
        match spec.kind {
            ConvKind::Depthwise => DepthwiseConv(args).apply(x),
            ConvKind::Pointwise => PointwiseConv(args).apply(x),
            ConvKind::Dense => DenseConv(args).apply(x),
        }
    }
}

/// Inference BatchNorm as a per-channel affine map, only ever used folded into the preceding conv:
/// `bn(conv(x)) = conv'(x) + b'` with `w' = w · γ/√(var+ε)` and `b' = β − mean · γ/√(var+ε)`.
pub struct BatchNorm {
    /// The module's name, for errors.
    prefix: String,
    scale: Vec<f64>,
    shift: Vec<f64>,
}

impl BatchNorm {
    fn load(bn: Weights, channels: usize, eps: f64) -> Result<Self> {
        BatchNorm::read(bn.prefix(), eps, |name| bn.get(&[channels], name))
    }

    /// The BatchNorm module `prefix`, its `weight` (γ), `bias` (β), `running_mean` and `running_var`
    /// fetched by `read(name)`.
    pub fn read(prefix: &str, eps: f64, read: impl Fn(&str) -> Result<Vec<f32>>) -> Result<Self> {
        let (gamma, beta) = (read("weight")?, read("bias")?);
        let (mean, var) = (read("running_mean")?, read("running_var")?);
        if let Some(channel) = var.iter().position(|&v| v as f64 + eps <= 0.0) {
            return Err(Error::bad_model(format!(
                "`{prefix}.running_var` is negative at channel {channel}"
            )));
        }
        let scale: Vec<f64> = gamma
            .iter()
            .zip(&var)
            .map(|(&g, &v)| g as f64 / (v as f64 + eps).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((&b, &m), s)| b as f64 - m as f64 * s)
            .collect();
        Ok(BatchNorm {
            prefix: prefix.to_string(),
            scale,
            shift,
        })
    }

    /// Scales each output channel's weights in place and returns the folded bias.
    /// Refused ([`Error::BadModel`]) where a folded value overflows float32: extreme statistics
    /// would otherwise load fine and answer NaN.
    pub fn fold_into(&self, weights: &mut [f32]) -> Result<Vec<f32>> {
        let per_channel = weights.len() / self.scale.len();
        for (chunk, s) in weights.chunks_exact_mut(per_channel).zip(&self.scale) {
            chunk.iter_mut().for_each(|w| *w = (*w as f64 * s) as f32);
        }
        let bias: Vec<f32> = self.shift.iter().map(|&b| b as f32).collect();
        if first_non_finite(weights).is_some() || first_non_finite(&bias).is_some() {
            return Err(Error::bad_model(format!(
                "BatchNorm `{}` folded into its layer overflows float32 (its statistics are out \
                 of range)",
                self.prefix
            )));
        }
        Ok(bias)
    }
}

/// Squeeze-and-excite (MobileNetV3): avg pool → `fc1` → ReLU → `fc2` → hardsigmoid → scale.
pub struct SqueezeExcite(SqueezeExciteOp);

impl SqueezeExcite {
    /// `fc1`: the 1×1 conv down to `squeeze` channels; `fc2`: back up to `channels`.
    pub fn load(fc1: Weights, fc2: Weights, channels: usize, squeeze: usize) -> Result<Self> {
        Ok(SqueezeExcite(SqueezeExciteOp {
            fc1_weight: fc1.get(&[squeeze, channels, 1, 1], "weight")?,
            fc1_bias: fc1.get(&[squeeze], "bias")?,
            fc2_weight: fc2.get(&[channels, squeeze, 1, 1], "weight")?,
            fc2_bias: fc2.get(&[channels], "bias")?,
        }))
    }
}

impl Module for SqueezeExcite {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.apply(x)
    }
}

/// One step of a [`Block`].
pub enum Layer {
    Conv(ConvBnAct),
    SqueezeExcite(SqueezeExcite),
}

impl Layer {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Layer::Conv(conv) => conv.forward(x),
            Layer::SqueezeExcite(se) => se.forward(x),
        }
    }
}

/// Every MobileNet block (inverted residual, UIB, FusedIB, sandglass, …): its layers in order,
/// then its input added when `residual`.
pub struct Block {
    pub layers: Vec<Layer>,
    pub residual: bool,
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        if self.residual {
            h.inplace_op2(x, &ResidualAdd)?;
        }
        Ok(h)
    }
}

/// `y = act(x · Wᵀ + b)`.
pub struct Linear {
    /// `[out, in]` row-major, as stored: [`LinearOp`] reads each output's weights contiguously.
    weight: Vec<f32>,
    bias: Vec<f32>,
    activation: Activation,
}

impl Linear {
    pub fn load(
        module: Weights,
        input: usize,
        output: usize,
        activation: Activation,
    ) -> Result<Self> {
        Ok(Linear {
            weight: module.get(&[output, input], "weight")?,
            bias: module.get(&[output], "bias")?,
            activation,
        })
    }

    /// A 1×1 conv applied to pooled features (its `[out, in, 1, 1]` weight is `[out, in]` in
    /// memory), with its own `bias` or, with `bn`, the BatchNorm after it folded in.
    pub fn load_conv1x1(
        conv: Weights,
        bn: Option<Weights>,
        (input, output): (usize, usize),
        activation: Activation,
        ctx: &BuildContext,
    ) -> Result<Self> {
        let mut weight = conv.get(&[output, input, 1, 1], "weight")?;
        let bias = match bn {
            Some(bn) if !ctx.bn_folded => {
                BatchNorm::load(bn, output, ctx.bn_eps)?.fold_into(&mut weight)?
            }
            _ => conv.get(&[output], "bias")?,
        };
        Ok(Linear {
            weight,
            bias,
            activation,
        })
    }

    pub fn out_features(&self) -> usize {
        self.bias.len()
    }

    pub fn in_features(&self) -> usize {
        self.weight.len() / self.bias.len().max(1)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        count_multiply_adds((x.dim(0)? * self.weight.len()) as u64);
        LinearOp {
            weight: &self.weight,
            bias: &self.bias,
            activation: self.activation,
        }
        .apply(x)
    }
}

/// Global average pool `[N, C, H, W]` → `[N, C]`.
pub fn global_avg_pool(x: &Tensor) -> candle_core::Result<Tensor> {
    GlobalAvgPool.apply(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn make_divisible_matches_torchvision() {
        // Channel counts of torchvision's width-0.75 V3-Small and width-0.5 V2 (`_make_divisible`).
        assert_eq!(make_divisible(16.0 * 0.75, 8), 16);
        assert_eq!(make_divisible(72.0 * 0.75, 8), 56);
        assert_eq!(make_divisible(88.0 * 0.75, 8), 64);
        assert_eq!(make_divisible(1024.0 * 0.75, 8), 768);
        assert_eq!(make_divisible(32.0 * 0.5, 8), 16);
        assert_eq!(make_divisible(24.0 * 0.5, 8), 16);
        assert_eq!(make_divisible(96.0 * 0.5, 8), 48);
        assert_eq!(make_divisible(184.0 / 4.0, 8), 48);
    }

    #[test]
    fn tf_same_pads_follow_the_readme_rule() {
        assert_eq!(conv_pads(PaddingMode::TfSame, 224, 3, 2), (0, 1));
        assert_eq!(conv_pads(PaddingMode::TfSame, 224, 5, 2), (1, 2));
        assert_eq!(conv_pads(PaddingMode::TfSame, 129, 3, 2), (1, 1));
        assert_eq!(conv_pads(PaddingMode::TfSame, 33, 5, 2), (2, 2));
        assert_eq!(conv_pads(PaddingMode::TfSame, 56, 3, 1), (1, 1));
        assert_eq!(conv_pads(PaddingMode::Torch, 224, 5, 2), (2, 2));
    }
}
