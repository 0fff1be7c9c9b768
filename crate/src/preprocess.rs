//! Pixels → network input, as torchvision's and timm's ImageNet evaluation transforms do it on a
//! PIL image: drop alpha, resize the shorter side (bilinear or bicubic, antialiased), center-crop,
//! scale to [0, 1], normalize.
//!
//! The resize reproduces Pillow bit for bit (see [`crate::kernels::resample`]) and computes only the
//! crop window, so a large frame costs little more than the crop.

use crate::error::{Error, Result};
use crate::kernels::resample::{resize_crop_rgb, Interpolation};

/// Largest accepted side, as browsers cap canvases (Chrome: 65,535; Safari smaller).
pub const MAX_SIDE: u32 = 65_535;
/// Largest accepted pixel count (a 16k × 16k image); beyond that the copy alone is gigabytes.
pub const MAX_PIXELS: u64 = 1 << 28;

/// Interleaved 8-bit pixels: RGBA (alpha ignored) or RGB.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

impl<'a> Pixels<'a> {
    pub fn rgba(data: &'a [u8], width: u32, height: u32) -> Self {
        Pixels {
            data,
            width,
            height,
            channels: 4,
        }
    }

    pub fn rgb(data: &'a [u8], width: u32, height: u32) -> Self {
        Pixels {
            data,
            width,
            height,
            channels: 3,
        }
    }

    /// Checks the declared size against limits and the buffer length, without allocating.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(Error::bad_image(format!(
                "image is {w}x{h}: it has no pixels"
            )));
        }
        if w > MAX_SIDE || h > MAX_SIDE || w as u64 * h as u64 > MAX_PIXELS {
            return Err(Error::bad_image(format!(
                "image is {w}x{h}: larger than the supported {MAX_SIDE} per side / {MAX_PIXELS} pixels"
            )));
        }
        if self.channels != 3 && self.channels != 4 {
            return Err(Error::bad_image(format!(
                "{} channels per pixel (expected 4 for RGBA or 3 for RGB)",
                self.channels
            )));
        }
        let expected = w as u64 * h as u64 * self.channels as u64;
        if self.data.len() as u64 != expected {
            return Err(Error::bad_image(format!(
                "pixel buffer has {} bytes, a {w}x{h} image with {} channels needs {expected}",
                self.data.len(),
                self.channels
            )));
        }
        Ok(())
    }
}

/// Light augmentations for examples a learner is taught from: small changes of view that keep the
/// class, so that a few shots cover a little more of what the camera will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Augmentation {
    /// Mirrored left to right.
    Flip,
    /// The central 7/8 of each side, i.e. a slight zoom in.
    CenterCrop,
}

impl Augmentation {
    pub const ALL: [Augmentation; 2] = [Augmentation::Flip, Augmentation::CenterCrop];

    /// The augmented copy of `pixels` as `(data, width, height)`, same channel count.
    pub fn apply(self, pixels: &Pixels) -> Result<(Vec<u8>, u32, u32)> {
        pixels.validate()?;
        let ch = pixels.channels as usize;
        let (w, h) = (pixels.width as usize, pixels.height as usize);
        match self {
            Augmentation::Flip => {
                let mut out = Vec::with_capacity(pixels.data.len());
                for row in pixels.data.chunks_exact(w * ch) {
                    for px in row.chunks_exact(ch).rev() {
                        out.extend_from_slice(px);
                    }
                }
                Ok((out, pixels.width, pixels.height))
            }
            Augmentation::CenterCrop => {
                let (cw, chh) = ((w * 7).div_ceil(8), (h * 7).div_ceil(8));
                let (left, top) = ((w - cw) / 2, (h - chh) / 2);
                let mut out = Vec::with_capacity(cw * chh * ch);
                for row in pixels.data.chunks_exact(w * ch).skip(top).take(chh) {
                    out.extend_from_slice(&row[left * ch..(left + cw) * ch]);
                }
                Ok((out, cw as u32, chh as u32))
            }
        }
    }
}

/// How an image becomes a network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    pub resize_size: u32,
    pub crop_size: u32,
    pub interpolation: Interpolation,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocess {
    /// CHW float32 `[3, crop, crop]`.
    pub fn run(&self, pixels: &Pixels) -> Result<Vec<f32>> {
        pixels.validate()?;
        let crop = self.crop_size;
        let rgb = self.resize_and_crop(pixels)?;
        let plane = (crop * crop) as usize;
        let mut out = vec![0.0f32; 3 * plane];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // ToTensor divides by 255, Normalize subtracts and divides: the same f32 operations.
                out[c * plane + i] = (px[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        Ok(out)
    }

    /// Resized-and-cropped RGB pixels, `crop × crop × 3`.
    pub fn resize_and_crop(&self, pixels: &Pixels) -> Result<Vec<u8>> {
        let (w, h) = (pixels.width, pixels.height);
        let (rw, rh) = resized_size(w, h, self.resize_size);
        let crop = self.crop_size;
        if rw < crop || rh < crop {
            return Err(Error::bad_config(format!(
                "resize {rw}x{rh} is smaller than the {crop}x{crop} crop"
            )));
        }
        // torchvision's center_crop rounds the offset with Python's round().
        let left = round_half_even((rw - crop) as f64 / 2.0);
        let top = round_half_even((rh - crop) as f64 / 2.0);
        Ok(resize_crop_rgb(
            self.interpolation,
            pixels.data,
            w as usize,
            h as usize,
            pixels.channels as usize,
            (rw as usize, rh as usize),
            (left as usize, top as usize),
            (crop as usize, crop as usize),
        ))
    }
}

/// torchvision `Resize(size)`: the shorter side becomes `size`, the longer `int(size · long / short)`.
pub fn resized_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let long = |l: u32, s: u32| ((size as u64 * l as u64) / s as u64) as u32;
    if width <= height {
        (size, long(height, width))
    } else {
        (long(width, height), size)
    }
}

/// Python's `round`: halves go to the even neighbour.
pub(crate) fn round_half_even(x: f64) -> u32 {
    let r = x.round();
    let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    };
    r as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn resize_sizes_follow_torchvision() {
        assert_eq!(resized_size(451, 300, 256), (384, 256));
        assert_eq!(resized_size(512, 600, 256), (256, 300));
        assert_eq!(resized_size(1000, 872, 256), (293, 256));
        assert_eq!(resized_size(1, 1, 256), (256, 256));
    }

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(80.5), 80);
        assert_eq!(round_half_even(81.5), 82);
        assert_eq!(round_half_even(16.0), 16);
        assert_eq!(round_half_even(0.5), 0);
    }

    #[test]
    fn bad_sizes_are_rejected_without_allocating() {
        let data = [0u8; 16];
        for (w, h, len, needle) in [
            (0, 4, 0, "no pixels"),
            (4, 0, 0, "no pixels"),
            (2, 2, 15, "needs 16"),
            (65_535, 65_535, 16, "larger than"),
            (100_000, 1, 16, "larger than"),
        ] {
            let err = Pixels::rgba(&data[..len], w, h).validate().unwrap_err();
            assert_eq!(err.code(), "BAD_IMAGE");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let err = Pixels {
            data: &data,
            width: 2,
            height: 2,
            channels: 2,
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.code(), "BAD_IMAGE");
    }

    #[test]
    fn augmentations_flip_and_crop() {
        // 8×2 RGB, each pixel's red channel its x + 10·y.
        let data: Vec<u8> = (0..2)
            .flat_map(|y| (0..8).flat_map(move |x| [x + 10 * y, 0, 0]))
            .collect();
        let pixels = Pixels::rgb(&data, 8, 2);
        let (flipped, w, h) = Augmentation::Flip.apply(&pixels).unwrap();
        assert_eq!((w, h), (8, 2));
        assert_eq!(flipped[0], 7);
        assert_eq!(flipped[8 * 3 + 3], 16);
        let (cropped, w, h) = Augmentation::CenterCrop.apply(&pixels).unwrap();
        assert_eq!((w, h), (7, 2));
        assert_eq!(cropped.len(), 7 * 2 * 3);
        assert_eq!(cropped[..3], [0, 0, 0]);
        assert_eq!(cropped[7 * 3], 10);
    }

    #[test]
    fn constant_image_normalizes_to_constant() {
        let p = Preprocess {
            resize_size: 256,
            crop_size: 224,
            interpolation: Interpolation::Bilinear,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        };
        let data = vec![128u8; 31 * 17 * 4];
        let out = p.run(&Pixels::rgba(&data, 31, 17)).unwrap();
        assert_eq!(out.len(), 3 * 224 * 224);
        let expected = (128.0 / 255.0 - 0.456) / 0.224;
        assert!(out[224 * 224..2 * 224 * 224]
            .iter()
            .all(|v| (v - expected).abs() < 1e-6));
    }
}
