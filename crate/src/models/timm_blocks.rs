//! timm's block notation and its builder's rules (`_efficientnet_builder.py`): a stage table of
//! strings such as `ir_r2_k3_s2_e6_c24_se0.25_nre` becomes blocks with every channel resolved.
//!
//! A string is a block type then `_`-separated options: `r` repeats, `k` (depthwise) kernel,
//! `a`/`p` the kernels of UIB's depthwise convs before/after, `s` stride, `e` expansion ratio,
//! `c` output channels, `se` squeeze-excite ratio, `n` activation (`re`, `r6`, `hs`), `noskip` /
//! `skip`. Types: `ds` depthwise separable, `dsa` the same with an activation after the pointwise
//! conv and no skip, `ir` inverted residual, `er` FusedIB (edge residual), `cn` conv + BN + act,
//! `uir` universal inverted bottleneck.

use crate::error::{Error, Result};
use crate::layers::{make_divisible, Activation, ConvSpec};
use crate::plan::{BlockKind, BlockSpec, Role, Step};
use crate::preprocess::round_half_even;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockType {
    DepthwiseSeparable,
    /// `dsa`: pointwise activation, never a skip.
    DepthwiseSeparableActivated,
    InvertedResidual,
    EdgeResidual,
    Conv,
    UniversalInverted,
}

/// One decoded string (before its repeats are scaled).
#[derive(Debug, Clone, PartialEq)]
struct BlockArgs {
    block: BlockType,
    repeats: usize,
    /// `k`: the (middle) kernel; 0 for a UIB without middle depthwise conv.
    kernel: usize,
    /// `a`: UIB's depthwise conv before the expansion (0: none).
    start_kernel: usize,
    /// `p`: UIB's depthwise conv after the projection (0: none).
    end_kernel: usize,
    stride: usize,
    expansion: f64,
    out: usize,
    se_ratio: f64,
    activation: Option<Activation>,
    /// `skip` / `noskip`, if given.
    skip: Option<bool>,
}

fn decode(text: &str) -> Result<BlockArgs> {
    let bad = |why: &str| Error::Internal(format!("block string `{text}`: {why}"));
    let mut ops = text.split('_');
    let block = match ops.next() {
        Some("ds") => BlockType::DepthwiseSeparable,
        Some("dsa") => BlockType::DepthwiseSeparableActivated,
        Some("ir") => BlockType::InvertedResidual,
        Some("er") => BlockType::EdgeResidual,
        Some("cn") => BlockType::Conv,
        Some("uir") => BlockType::UniversalInverted,
        _ => return Err(bad("unknown block type")),
    };
    let mut args = BlockArgs {
        block,
        repeats: 0,
        kernel: 0,
        start_kernel: 0,
        end_kernel: 0,
        stride: 0,
        expansion: 1.0,
        out: 0,
        se_ratio: 0.0,
        activation: None,
        skip: None,
    };
    for op in ops {
        match op {
            "noskip" => args.skip = Some(false),
            "skip" => args.skip = Some(true),
            "nre" => args.activation = Some(Activation::Relu),
            "nr6" => args.activation = Some(Activation::Relu6),
            "nhs" => args.activation = Some(Activation::Hardswish),
            _ => {
                // A key of letters, then a number: timm's `re.split(r'(\d.*)', op)`.
                let split = op
                    .find(|c: char| c.is_ascii_digit())
                    .ok_or_else(|| bad(op))?;
                let (key, value) = op.split_at(split);
                let number: f64 = value.parse().map_err(|_| bad(op))?;
                let whole = || {
                    (number.fract() == 0.0 && number >= 0.0)
                        .then_some(number as usize)
                        .ok_or_else(|| bad(op))
                };
                match key {
                    "r" => args.repeats = whole()?,
                    "k" => args.kernel = whole()?,
                    "a" => args.start_kernel = whole()?,
                    "p" => args.end_kernel = whole()?,
                    "s" => args.stride = whole()?,
                    "c" => args.out = whole()?,
                    "e" => args.expansion = number,
                    "se" => args.se_ratio = number,
                    _ => return Err(bad(op)),
                }
            }
        }
    }
    if args.repeats == 0 || args.out == 0 || !(1..=2).contains(&args.stride) {
        return Err(bad("needs r >= 1, c >= 1 and s of 1 or 2"));
    }
    Ok(args)
}

/// The network-wide settings timm's generators hand the builder.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// `channel_multiplier`: output channels become `round_channels(c · width)`.
    pub width: f64,
    /// `depth_multiplier`: each stage's repeats scaled, rounded up.
    pub depth: f64,
    /// `fix_first_last`: the first and last stages keep their depth.
    pub fix_first_last: bool,
    /// The model's activation, for blocks whose string names none.
    pub activation: Activation,
}

impl Rules {
    /// timm's `round_channels`.
    pub fn channels(&self, c: usize) -> usize {
        make_divisible(c as f64 * self.width, 8)
    }

    /// The stages of `table` on `input` channels (the stem's).
    pub fn stages(&self, table: &[&[&str]], input: usize) -> Result<Vec<Vec<BlockSpec>>> {
        let mut input = input;
        let last = table.len().saturating_sub(1);
        table
            .iter()
            .enumerate()
            .map(|(s, strings)| {
                let args = strings
                    .iter()
                    .map(|t| decode(t))
                    .collect::<Result<Vec<_>>>()?;
                let fixed = self.fix_first_last && (s == 0 || s == last);
                let repeats: Vec<usize> = args.iter().map(|a| a.repeats).collect();
                let repeats = scale_depth(&repeats, if fixed { 1.0 } else { self.depth });
                let mut blocks = Vec::new();
                for (a, n) in args.iter().zip(repeats) {
                    for _ in 0..n {
                        // Only a stage's first block strides.
                        let stride = if blocks.is_empty() { a.stride } else { 1 };
                        let block = self.block(a, input, stride)?;
                        input = block.out_channels();
                        blocks.push(block);
                    }
                }
                Ok(blocks)
            })
            .collect()
    }

    /// `EfficientNetBuilder._make_block` and the block's own constructor.
    fn block(&self, a: &BlockArgs, input: usize, stride: usize) -> Result<BlockSpec> {
        use BlockType as T;
        let out = self.channels(a.out);
        let act = a.activation.unwrap_or(self.activation);
        let hidden = make_divisible(input as f64 * a.expansion, 8);
        // timm's MobileNetV3 squeeze-excite: `round_channels(channels · ratio)`, ReLU inside.
        let se = |channels: usize| {
            (a.se_ratio > 0.0).then(|| Step::SqueezeExcite {
                channels,
                squeeze: make_divisible(channels as f64 * a.se_ratio, 8),
            })
        };
        let conv = |role, spec| Some(Step::Conv(role, spec));
        let no_skip = a.skip == Some(false);
        let (kind, steps, skip) = match a.block {
            T::DepthwiseSeparable | T::DepthwiseSeparableActivated => {
                let activated = a.block == T::DepthwiseSeparableActivated;
                let project = if activated { act } else { Activation::Identity };
                (
                    BlockKind::DepthwiseSeparable,
                    vec![
                        conv(
                            Role::Depthwise,
                            ConvSpec::depthwise(input, a.kernel, stride, act),
                        ),
                        se(input),
                        conv(Role::Project, ConvSpec::pointwise(input, out, project)),
                    ],
                    !activated && !no_skip,
                )
            }
            T::InvertedResidual => (
                BlockKind::InvertedResidual,
                vec![
                    conv(Role::Expand, ConvSpec::pointwise(input, hidden, act)),
                    conv(
                        Role::Depthwise,
                        ConvSpec::depthwise(hidden, a.kernel, stride, act),
                    ),
                    se(hidden),
                    conv(
                        Role::Project,
                        ConvSpec::pointwise(hidden, out, Activation::Identity),
                    ),
                ],
                !no_skip,
            ),
            T::EdgeResidual => (
                BlockKind::EdgeResidual,
                vec![
                    conv(
                        Role::Expand,
                        ConvSpec::dense(input, hidden, a.kernel, stride, act),
                    ),
                    se(hidden),
                    conv(
                        Role::Project,
                        ConvSpec::pointwise(hidden, out, Activation::Identity),
                    ),
                ],
                !no_skip,
            ),
            T::Conv => {
                let spec = match a.kernel {
                    1 if stride == 1 => ConvSpec::pointwise(input, out, act),
                    k => ConvSpec::dense(input, out, k, stride, act),
                };
                (
                    BlockKind::Conv,
                    vec![conv(Role::Conv, spec)],
                    a.skip == Some(true),
                )
            }
            T::UniversalInverted => {
                let (start, mid, end) = (a.start_kernel, a.kernel, a.end_kernel);
                // The stride goes to the first depthwise conv after the expansion, if any.
                let start_stride = if mid > 0 { 1 } else { stride };
                let end_stride = if start == 0 && mid == 0 { stride } else { 1 };
                let linear = Activation::Identity;
                (
                    BlockKind::UniversalInverted,
                    vec![
                        (start > 0).then(|| {
                            let dw = ConvSpec::depthwise(input, start, start_stride, linear);
                            Step::Conv(Role::DepthwiseStart, dw)
                        }),
                        conv(Role::Expand, ConvSpec::pointwise(input, hidden, act)),
                        (mid > 0).then(|| {
                            let dw = ConvSpec::depthwise(hidden, mid, stride, act);
                            Step::Conv(Role::Depthwise, dw)
                        }),
                        se(hidden),
                        conv(Role::Project, ConvSpec::pointwise(hidden, out, linear)),
                        (end > 0).then(|| {
                            let dw = ConvSpec::depthwise(out, end, end_stride, linear);
                            Step::Conv(Role::DepthwiseEnd, dw)
                        }),
                    ],
                    !no_skip,
                )
            }
        };
        if steps.iter().flatten().any(|s| match s {
            Step::Conv(_, spec) => spec.stride > 1 && spec.kernel == 1,
            Step::SqueezeExcite { .. } => false,
        }) {
            return Err(Error::Internal(format!("{a:?}: a strided 1×1 conv")));
        }
        Ok(BlockSpec::new(
            kind,
            steps.into_iter().flatten().collect(),
            skip,
        ))
    }
}

/// timm's `_scale_stage_depth` (mode `ceil`): the stage's total repeats times `depth`, rounded
/// up, shared out from the last block string back (Python's `round`: halves to even).
fn scale_depth(repeats: &[usize], depth: f64) -> Vec<usize> {
    let mut total = repeats.iter().sum::<usize>();
    let mut scaled_total = (total as f64 * depth).ceil() as usize;
    let mut scaled: Vec<usize> = repeats
        .iter()
        .rev()
        .map(|&r| {
            let share = round_half_even(r as f64 / total as f64 * scaled_total as f64) as usize;
            let share = share.max(1);
            total -= r;
            scaled_total = scaled_total.saturating_sub(share);
            share
        })
        .collect();
    scaled.reverse();
    scaled
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn strings_decode_as_timm_reads_them() {
        let a = decode("ir_r3_k5_s2_e3.67_c40_se0.25_nre").unwrap();
        assert_eq!(a.block, BlockType::InvertedResidual);
        assert_eq!((a.repeats, a.kernel, a.stride, a.out), (3, 5, 2, 40));
        assert_eq!((a.expansion, a.se_ratio), (3.67, 0.25));
        assert_eq!(a.activation, Some(Activation::Relu));
        let u = decode("uir_r1_a5_k0_s1_e4_c512").unwrap();
        assert_eq!((u.start_kernel, u.kernel, u.end_kernel), (5, 0, 0));
        assert_eq!(decode("ds_r1_k3_s1_c16_noskip").unwrap().skip, Some(false));
        for bad in [
            "xx_r1_c8_s1",
            "ir_k3_s1_c8",
            "ir_r1_k3_s3_c8",
            "ir_r1_k3_s1_c8_q7",
        ] {
            assert_eq!(decode(bad).unwrap_err().code(), "INTERNAL", "{bad}");
        }
    }

    #[test]
    fn depth_scaling_is_timms() {
        // mobilenetv2_110d (depth 1.2) and mobilenetv3_large_150d: ceil, then shared from the end.
        assert_eq!(scale_depth(&[3], 1.2), [4]);
        assert_eq!(scale_depth(&[1], 1.2), [2]);
        assert_eq!(scale_depth(&[1, 1, 2], 1.2), [1, 2, 2]);
        assert_eq!(scale_depth(&[4], 1.4), [6]);
        assert_eq!(scale_depth(&[1, 2], 1.0), [1, 2]);
    }

    #[test]
    fn uir_strides_where_timm_does() {
        let rules = Rules {
            width: 1.0,
            depth: 1.0,
            fix_first_last: false,
            activation: Activation::Relu,
        };
        let stages = rules.stages(&[&["uir_r1_a5_k5_s2_e3_c96"]], 64).unwrap();
        let strides: Vec<(Role, usize, usize)> = stages[0][0]
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Conv(role, spec) => Some((*role, spec.kernel, spec.stride)),
                _ => None,
            })
            .collect();
        assert_eq!(
            strides,
            [
                (Role::DepthwiseStart, 5, 1),
                (Role::Expand, 1, 1),
                (Role::Depthwise, 5, 2),
                (Role::Project, 1, 1)
            ]
        );
        assert!(!stages[0][0].residual);
    }
}
