//! The mutations: bytes and bits, interesting values, the safetensors length prefix, truncation
//! and extension, splicing two inputs; JSON-aware edits are in `json.rs`.

use crate::json::json_edit;
use crate::rng::Rng;

/// How a target's input is laid out, which decides where structure-aware mutations apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A safetensors file: an 8-byte header length, the JSON header, the data.
    Safetensors,
    /// One selector byte, then JSON text.
    Json,
    /// A small binary record of little-endian fields.
    Record,
}

/// The mutations, as bits of a mask: what made an input, so that a kind of mutation that produced
/// a slow input can be retired for the rest of a run (its reproducer is saved; repeating it would
/// only spend the run on the same slow input).
pub mod op {
    pub const BIT_FLIP: u32 = 1 << 0;
    pub const BYTE_SET: u32 = 1 << 1;
    pub const INTERESTING: u32 = 1 << 2;
    pub const HEADER_LENGTH: u32 = 1 << 3;
    pub const TRUNCATE: u32 = 1 << 4;
    pub const EXTEND: u32 = 1 << 5;
    pub const JSON_NUMBER: u32 = 1 << 6;
    pub const JSON_STRING: u32 = 1 << 7;
    pub const JSON_TOKEN: u32 = 1 << 8;
    pub const JSON_PAIR: u32 = 1 << 9;
    pub const HUGE_LABELS: u32 = 1 << 10;
    pub const MANY_TENSORS: u32 = 1 << 11;
    pub const SPLICE: u32 = 1 << 12;
    pub const EXTREME_VALUE: u32 = 1 << 13;
    /// The mutations whose inputs may be costly by size alone.
    pub const BULK: u32 = HUGE_LABELS | MANY_TENSORS;
    /// The mutations of a binary record.
    pub const RECORD: u32 = BIT_FLIP | BYTE_SET | INTERESTING | TRUNCATE | EXTEND | SPLICE;
    #[rustfmt::skip]
    pub const NAMES: [&str; 14] = [
        "bit flip", "byte set", "interesting value", "header length", "truncate", "extend",
        "JSON number", "JSON string", "JSON token", "JSON pair", "huge label list",
        "many tensors", "splice", "extreme value",
    ];
}

/// `input` mutated by one to four stacked mutations, and the mask of those applied.
/// `other` is another input of the same target, for splicing; `retired` masks mutations not to use.
pub fn mutate(
    rng: &mut Rng,
    input: &[u8],
    other: &[u8],
    layout: Layout,
    retired: u32,
) -> (Vec<u8>, u32) {
    let mut data = input.to_vec();
    let mut applied = 0;
    let stack = 1 + rng.below(4).min(rng.below(4));
    for _ in 0..stack {
        let kind = 1u32 << rng.below(op::NAMES.len());
        let skip = kind & retired != 0
            || (layout == Layout::Record && kind & op::RECORD == 0)
            // Large inputs are costly to make and to run: a quarter as often.
            || (kind & op::BULK != 0 && rng.chance(0.75));
        if skip {
            continue;
        }
        if apply(rng, &mut data, other, layout, kind) {
            applied |= kind;
        }
    }
    if applied == 0 {
        let at = rng.below(data.len().max(1));
        match data.get_mut(at) {
            Some(b) => *b ^= 1 << rng.below(8),
            None => data.push(rng.next() as u8),
        }
        applied = op::BIT_FLIP;
    }
    (data, applied)
}

/// The byte range of the JSON text: a safetensors header or everything after the selector byte.
pub fn json_range(data: &[u8], layout: Layout) -> Option<(usize, usize)> {
    match layout {
        Layout::Safetensors => {
            let len = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
            let end = 8usize.checked_add(usize::try_from(len).ok()?)?;
            (end <= data.len()).then_some((8, end))
        }
        Layout::Json => (!data.is_empty()).then_some((1, data.len())),
        Layout::Record => None,
    }
}

/// An offset, often in the first bytes or the header where the structure is.
fn offset(rng: &mut Rng, data: &[u8], layout: Layout) -> usize {
    let head = json_range(data, layout).map_or(64, |(_, end)| end);
    let limit = if rng.chance(0.8) { head } else { data.len() };
    rng.below(limit.min(data.len()).max(1))
}

fn apply(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], layout: Layout, kind: u32) -> bool {
    match kind {
        op::BIT_FLIP | op::BYTE_SET | op::INTERESTING if data.is_empty() => false,
        op::BIT_FLIP => {
            let at = offset(rng, data, layout);
            data[at] ^= 1 << rng.below(8);
            true
        }
        op::BYTE_SET => {
            let at = offset(rng, data, layout);
            data[at] = rng.next() as u8;
            true
        }
        op::INTERESTING => {
            let at = offset(rng, data, layout);
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            let value = interesting(rng, data.len() as u64);
            let bytes = value.to_le_bytes();
            let end = (at + width).min(data.len());
            data[at..end].copy_from_slice(&bytes[..end - at]);
            true
        }
        op::HEADER_LENGTH if layout == Layout::Safetensors && data.len() >= 8 => {
            let old = u64::from_le_bytes(data[..8].try_into().unwrap());
            let new = match rng.below(3) {
                0 => interesting(rng, data.len() as u64),
                1 => old.wrapping_add(rng.below(17) as u64).wrapping_sub(8),
                _ => (data.len() as u64 - 8 + rng.below(3) as u64).wrapping_sub(1),
            };
            data[..8].copy_from_slice(&new.to_le_bytes());
            true
        }
        op::TRUNCATE if !data.is_empty() => {
            let at = match json_range(data, layout) {
                Some((_, end)) if rng.chance(0.5) => rng.below(end + 1),
                _ => rng.below(data.len()),
            };
            data.truncate(at);
            true
        }
        op::EXTEND => {
            match rng.below(3) {
                0 => data.extend((0..1 + rng.below(64)).map(|_| rng.next() as u8)),
                1 => data.extend(std::iter::repeat_n(0, 1 + rng.below(4096))),
                _ => {
                    let from = rng.below(data.len());
                    let chunk = data[from..(from + 1 + rng.below(256)).min(data.len())].to_vec();
                    let at = offset(rng, data, layout);
                    data.splice(at..at, chunk);
                }
            }
            true
        }
        op::SPLICE if !other.is_empty() => {
            let at = rng.below(data.len() + 1);
            let from = rng.below(other.len());
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
            true
        }
        op::EXTREME_VALUE => extreme_values(rng, data, layout),
        op::JSON_NUMBER
        | op::JSON_STRING
        | op::JSON_TOKEN
        | op::JSON_PAIR
        | op::HUGE_LABELS
        | op::MANY_TENSORS => json_edit(rng, data, layout, kind),
        _ => false,
    }
}

/// Finite floats that overflow what is computed from them (or underflow it), as f32 and f16.
const EXTREME_F32: [f32; 10] = [
    f32::MAX,
    -f32::MAX,
    1e38,
    -1e38,
    1e30,
    1e-45,
    -1e-45,
    1e-38,
    65504.0,
    -0.0,
];
const EXTREME_F16: [u16; 7] = [0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0400, 0x0000, 0x8000];

/// One or a run of tensor values (after a safetensors header) set to an extreme finite value,
/// as f32 or f16 (the seeds hold both), aligned to its size.
fn extreme_values(rng: &mut Rng, data: &mut [u8], layout: Layout) -> bool {
    let Some((_, start)) = json_range(data, layout) else {
        return false;
    };
    let value = match rng.chance(0.5) {
        true => rng.pick(&EXTREME_F32).to_le_bytes().to_vec(),
        false => rng.pick(&EXTREME_F16).to_le_bytes().to_vec(),
    };
    let size = value.len();
    if data.len() < start + size {
        return false;
    }
    let run = if rng.chance(0.7) {
        1
    } else {
        1 + rng.below(64)
    };
    let first = start + rng.below(data.len() - start) / size * size;
    for at in (first..data.len() - size + 1).step_by(size).take(run) {
        data[at..at + size].copy_from_slice(&value);
    }
    true
}

/// Integers that break size and offset arithmetic.
fn interesting(rng: &mut Rng, len: u64) -> u64 {
    *rng.pick(&[
        0,
        1,
        0x7F,
        0x80,
        0xFF,
        0x7FFF,
        0xFFFF,
        0x1_0000,
        0x7FFF_FFFF,
        0x8000_0000,
        0xFFFF_FFFF,
        1 << 32,
        u64::MAX,
        u64::MAX / 2,
        len.wrapping_sub(1),
        len,
        len + 1,
        0x7FC0_0000, // a NaN's bits, as an f32 field
        0x7F80_0000, // +infinity
        0xFF80_0000, // -infinity
        0x7E96_7699, // 1e38
    ])
}
