//! int8 weights with a float32 scale per output channel (symmetric: zero is 0), as model files
//! store them to be a quarter of the size: `NAME` holds the int8 values (the float tensor's shape),
//! `NAME_scale` one f32 per row of the first dimension, and each weight is `q · scale[row]`. A
//! loader dequantizes them into the float32 the kernels read.

use crate::error::{Error, Result};

/// The name of the scales of the quantized tensor `name`.
pub fn scale_name(name: &str) -> String {
    format!("{name}{SCALE_SUFFIX}")
}

/// What [`scale_name`] appends.
pub const SCALE_SUFFIX: &str = "_scale";

/// Largest magnitude of a quantized value when the scale is `max |row| / 127`: ±127, so that zero
/// sits in the middle of the range.
const LEVELS: f32 = 127.0;

/// Whether a tensor is stored quantized when a file is written as int8: the weights of
/// convolutions and fully connected layers (2 dimensions or more), not biases, BatchNorm or
/// anything else a layer keeps per channel.
pub fn quantizes(name: &str, shape: &[usize]) -> bool {
    name.ends_with(".weight") && shape.len() >= 2 && shape[0] > 0
}

/// `values` (`rows` rows) as int8 and one scale per row ([`row_scale`]), each value rounded to
/// the nearest level.
pub fn quantize(values: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let per_row = values.len() / rows.max(1);
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks(per_row.max(1)).take(rows) {
        let scale = row_scale(row);
        scales.push(scale);
        q.extend(row.iter().map(|&v| level(v, scale)));
    }
    (q, scales)
}

/// A row's scale: the step of a grid its values already lie on, where they are whole multiples
/// of their smallest magnitude within -128..=127 (weights dequantized from int8 or uint8, as the
/// trained checkpoints are: quantized again, they lose nothing); else `max |row| / 127`.
pub fn row_scale(row: &[f32]) -> f32 {
    let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let step = row
        .iter()
        .map(|v| v.abs())
        .filter(|&a| a > 0.0)
        .fold(f32::INFINITY, f32::min);
    let on_grid = |v: f32| {
        let q = v / step;
        (q - q.round()).abs() <= 1e-3 && (-128.0..=127.0).contains(&q.round())
    };
    if step.is_finite() && max / step <= 128.0 && row.iter().all(|&v| on_grid(v)) {
        return step;
    }
    max / LEVELS
}

/// `v`'s level for `scale` (0 for a zero scale).
pub fn level(v: f32, scale: f32) -> i8 {
    match scale {
        0.0 => 0,
        _ => (v / scale).round().clamp(-128.0, 127.0) as i8,
    }
}

/// The float32 values of int8 `q` (as stored: one byte each) with one scale per row of
/// `scales.len()` rows, refused if the scales do not fit or are not finite and non-negative.
pub fn dequantize(name: &str, q: &[u8], scales: &[f32]) -> Result<Vec<f32>> {
    let rows = scales.len();
    if rows == 0 || !q.len().is_multiple_of(rows) {
        return Err(Error::bad_model(format!(
            "tensor `{name}`: {} int8 values for {rows} scales",
            q.len()
        )));
    }
    if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        return Err(Error::bad_model(format!(
            "tensor `{name}` has a scale of {bad}"
        )));
    }
    let per_row = q.len() / rows;
    Ok(q.chunks_exact(per_row)
        .zip(scales)
        .flat_map(|(row, &scale)| row.iter().map(move |&b| b as i8 as f32 * scale))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn round_trip_is_within_half_a_level() {
        let values = test_values(6 * 10, 3);
        let (q, scales) = quantize(&values, 6);
        let bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        let back = dequantize("w", &bytes, &scales).unwrap();
        for (row, (a, b)) in values.chunks(10).zip(back.chunks(10)).enumerate() {
            let max = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(a
                .iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= scales[row] / 2.0 + 1e-7));
            // Off any grid: the largest magnitude is a level exactly, ±127.
            assert!(b.iter().any(|y| (y.abs() - max).abs() <= 1e-6), "row {row}");
        }
        // Values on a grid (as dequantized from int8, -128 included) keep it: exact.
        let grid: Vec<f32> = [-128i8, -3, 0, 1, 5, 127, 64, -128, 2, 7]
            .iter()
            .map(|&q| q as f32 * 0.0123)
            .collect();
        let (q, scales) = quantize(&grid, 1);
        let bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        assert_eq!(dequantize("w", &bytes, &scales).unwrap(), grid);
        assert_eq!(scales, [0.0123]);
        // Off the grid by more than rounding, or wider than 256 levels: max / 127.
        assert_eq!(row_scale(&[0.01, 0.025, 1.0]), 1.0 / 127.0);
        assert_eq!(row_scale(&[0.01, 1.29]), 1.29 / 127.0);
        // A row of zeros has a zero scale and stays zero.
        let (q, scales) = quantize(&[0.0; 4], 2);
        assert_eq!((q, scales), (vec![0; 4], vec![0.0, 0.0]));
    }

    #[test]
    fn scales_that_do_not_fit_are_refused() {
        for (q, scales) in [
            (vec![1u8; 6], vec![1.0; 4]),
            (vec![1u8; 6], vec![]),
            (vec![1u8; 6], vec![1.0, f32::NAN]),
            (vec![1u8; 6], vec![1.0, -1.0]),
        ] {
            assert_eq!(
                dequantize("w", &q, &scales).unwrap_err().code(),
                "BAD_MODEL"
            );
        }
    }
}
