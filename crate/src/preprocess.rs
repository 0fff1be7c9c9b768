//! Pixels → network input, as torchvision's and timm's ImageNet evaluation transforms do it on a
//! PIL image: drop alpha, resize the shorter side (bilinear or bicubic, antialiased), center-crop,
//! scale to [0, 1], normalize.
//!
//! The resize reproduces Pillow bit for bit (see [`crate::kernels::resample`]) and computes only the
//! crop window, so a large frame costs little more than the crop.

use crate::error::{Error, Result};
use crate::kernels::resample::{Interpolation, StripResize};

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
        check_size(self.width, self.height, self.channels)?;
        let (w, h) = (self.width, self.height);
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

/// Checks an image's declared size and pixel layout against the limits.
pub fn check_size(w: u32, h: u32, channels: u8) -> Result<()> {
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
    if channels != 3 && channels != 4 {
        return Err(Error::bad_image(format!(
            "{channels} channels per pixel (expected 4 for RGBA or 3 for RGB)"
        )));
    }
    Ok(())
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

    /// The part of a `width × height` image this augmentation shows, and how.
    pub fn view(self, width: u32, height: u32) -> View {
        match self {
            Augmentation::Flip => View {
                mirror: true,
                ..View::whole(width, height)
            },
            Augmentation::CenterCrop => {
                let (w, h) = ((width * 7).div_ceil(8), (height * 7).div_ceil(8));
                View {
                    left: (width - w) / 2,
                    top: (height - h) / 2,
                    width: w,
                    height: h,
                    mirror: false,
                }
            }
        }
    }

    /// The augmented copy of `pixels` as `(data, width, height)`, same channel count.
    pub fn apply(self, pixels: &Pixels) -> Result<(Vec<u8>, u32, u32)> {
        pixels.validate()?;
        let view = self.view(pixels.width, pixels.height);
        let ch = pixels.channels as usize;
        let row_bytes = pixels.width as usize * ch;
        let mut out = Vec::with_capacity(view.width as usize * view.height as usize * ch);
        let rows = pixels.data.chunks_exact(row_bytes);
        for row in rows.skip(view.top as usize).take(view.height as usize) {
            view.copy_row(row, ch, &mut out);
        }
        Ok((out, view.width, view.height))
    }
}

/// A rectangle of an image, mirrored left to right or not: what an [`ImageReader`] sees of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
    pub mirror: bool,
}

impl View {
    pub fn whole(width: u32, height: u32) -> Self {
        View {
            left: 0,
            top: 0,
            width,
            height,
            mirror: false,
        }
    }

    /// Appends the view's part of the source row `row` to `out`.
    fn copy_row(&self, row: &[u8], channels: usize, out: &mut Vec<u8>) {
        let part = &row[self.left as usize * channels..][..self.width as usize * channels];
        match self.mirror {
            false => out.extend_from_slice(part),
            true => part
                .chunks_exact(channels)
                .rev()
                .for_each(|px| out.extend_from_slice(px)),
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
        let mut reader = self.reader(pixels.width, pixels.height, pixels.channels)?;
        reader.push_rows(0, pixels.data)?;
        reader.finish()
    }

    /// A reader of a `width × height` image with `channels` per pixel, fed its rows in strips.
    pub fn reader(&self, width: u32, height: u32, channels: u8) -> Result<ImageReader> {
        self.reader_of_view(width, height, channels, View::whole(width, height))
    }

    /// A reader of `view` of a `width × height` image: it takes the image's rows and reads the
    /// view's part of them.
    pub fn reader_of_view(
        &self,
        width: u32,
        height: u32,
        channels: u8,
        view: View,
    ) -> Result<ImageReader> {
        check_size(width, height, channels)?;
        let fits = view.width > 0
            && view.height > 0
            && view.left + view.width <= width
            && view.top + view.height <= height;
        if !fits {
            return Err(Error::Internal(format!(
                "{view:?} of a {width}x{height} image"
            )));
        }
        let (vw, vh) = (view.width, view.height);
        let (rw, rh) = resized_size(vw, vh, self.resize_size);
        let crop = self.crop_size;
        if rw < crop || rh < crop {
            return Err(Error::bad_config(format!(
                "resize {rw}x{rh} is smaller than the {crop}x{crop} crop"
            )));
        }
        // torchvision's center_crop rounds the offset with Python's round().
        let left = round_half_even((rw - crop) as f64 / 2.0) as usize;
        let top = round_half_even((rh - crop) as f64 / 2.0) as usize;
        let resize = StripResize::new(
            self.interpolation,
            (vw as usize, vh as usize),
            channels as usize,
            (rw as usize, rh as usize),
            (left, top),
            (crop as usize, crop as usize),
        );
        Ok(ImageReader {
            resize,
            preprocess: *self,
            view,
            row_bytes: width as usize * channels as usize,
            channels: channels as usize,
            row: Vec::new(),
        })
    }

    /// Resized-and-cropped RGB pixels, `crop × crop × 3`.
    pub fn resize_and_crop(&self, pixels: &Pixels) -> Result<Vec<u8>> {
        pixels.validate()?;
        let mut reader = self.reader(pixels.width, pixels.height, pixels.channels)?;
        reader.push_rows(0, pixels.data)?;
        reader.finish_rgb()
    }
}

/// An image read a strip of rows at a time into a network input: the resize keeps about one
/// filter's height of rows ([`StripResize`]), so an image of any size costs a few rows of memory,
/// and the rows the crop does not read are never asked for ([`Self::rows_needed`]).
pub struct ImageReader {
    resize: StripResize,
    preprocess: Preprocess,
    view: View,
    /// Bytes of one row of the source image.
    row_bytes: usize,
    channels: usize,
    /// The view's part of one source row.
    row: Vec<u8>,
}

impl ImageReader {
    /// The source rows this reader reads, `first..last`: [`Self::push_rows`] needs them all, in
    /// order, and ignores the others.
    pub fn rows_needed(&self) -> std::ops::Range<u32> {
        let rows = self.resize.rows_needed();
        let top = self.view.top;
        top + rows.start as u32..top + rows.end as u32
    }

    /// Takes whole rows of the source image, the first of them row `first`. Rows come in order:
    /// a strip that starts past a row still needed is refused.
    pub fn push_rows(&mut self, first: u32, rows: &[u8]) -> Result<()> {
        if !rows.len().is_multiple_of(self.row_bytes) {
            return Err(Error::bad_image(format!(
                "a strip of {} bytes is not whole rows of {} bytes",
                rows.len(),
                self.row_bytes
            )));
        }
        let needed = self.rows_needed();
        let next = self.view.top + self.resize.next_row() as u32;
        if first > next && next < needed.end {
            return Err(Error::bad_image(format!(
                "rows from {first} given while row {next} is still needed: give rows in order"
            )));
        }
        let skip = (next - first.min(next)) as usize;
        let take = (needed.end.saturating_sub(next)) as usize;
        for source_row in rows.chunks_exact(self.row_bytes).skip(skip).take(take) {
            self.row.clear();
            self.view.copy_row(source_row, self.channels, &mut self.row);
            self.resize.push_rows(&self.row);
        }
        Ok(())
    }

    /// The network input, CHW float32 `[3, crop, crop]`, once every row needed was given.
    pub fn finish(self) -> Result<Vec<f32>> {
        let (mean, std) = (self.preprocess.mean, self.preprocess.std);
        let rgb = self.finish_rgb()?;
        let plane = rgb.len() / 3;
        let mut out = vec![0.0f32; 3 * plane];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // ToTensor divides by 255, Normalize subtracts and divides: the same f32 operations.
                out[c * plane + i] = (px[c] as f32 / 255.0 - mean[c]) / std[c];
            }
        }
        Ok(out)
    }

    fn finish_rgb(self) -> Result<Vec<u8>> {
        let (needed, next) = (
            self.rows_needed(),
            self.view.top + self.resize.next_row() as u32,
        );
        self.resize.finish().ok_or_else(|| {
            Error::bad_image(format!(
                "rows {next} to {} of the image were not given",
                needed.end - 1
            ))
        })
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

    fn timm_like() -> Preprocess {
        Preprocess {
            resize_size: 37,
            crop_size: 32,
            interpolation: Interpolation::Bicubic,
            mean: [0.5, 0.5, 0.5],
            std: [0.5, 0.5, 0.5],
        }
    }

    #[test]
    fn strips_read_what_the_whole_image_gives() {
        let p = timm_like();
        let (w, h) = (50u32, 123u32);
        let data: Vec<u8> = (0..w * h * 4).map(|i| (i * 13 % 256) as u8).collect();
        let whole = p.run(&Pixels::rgba(&data, w, h)).unwrap();
        let row = w as usize * 4;
        for strip in [1, 3, 16, 200] {
            let mut reader = p.reader(w, h, 4).unwrap();
            let rows = reader.rows_needed();
            assert!(
                rows.start > 0 && rows.end < h,
                "the crop skips rows: {rows:?}"
            );
            for first in (rows.start..rows.end).step_by(strip) {
                let last = (first + strip as u32).min(h) as usize;
                reader
                    .push_rows(first, &data[first as usize * row..last * row])
                    .unwrap();
            }
            assert_eq!(reader.finish().unwrap(), whole, "strips of {strip}");
        }
        // Rows before those needed, and again-given rows, are ignored.
        let mut reader = p.reader(w, h, 4).unwrap();
        reader.push_rows(0, &data[..60 * row]).unwrap();
        reader.push_rows(10, &data[10 * row..]).unwrap();
        assert_eq!(reader.finish().unwrap(), whole);
    }

    #[test]
    fn strips_out_of_order_or_missing_are_refused() {
        let p = timm_like();
        let (w, h) = (50u32, 123u32);
        let data = vec![7u8; (w * h * 4) as usize];
        let row = w as usize * 4;
        let mut reader = p.reader(w, h, 4).unwrap();
        let rows = reader.rows_needed();
        let start = rows.start as usize;
        let err = reader.push_rows(rows.start + 1, &data[..row]).unwrap_err();
        assert_eq!(err.code(), "BAD_IMAGE");
        assert!(err.to_string().contains("in order"), "{err}");
        let err = reader.push_rows(rows.start, &data[..row + 1]).unwrap_err();
        assert!(err.to_string().contains("whole rows"), "{err}");
        reader
            .push_rows(rows.start, &data[start * row..(start + 10) * row])
            .unwrap();
        let err = reader.finish().unwrap_err();
        assert_eq!(err.code(), "BAD_IMAGE");
        assert!(
            err.to_string().contains(&format!("rows {} to", start + 10)),
            "{err}"
        );
    }

    #[test]
    fn augmented_views_read_the_augmented_images() {
        let p = timm_like();
        let (w, h) = (45u32, 38u32);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let pixels = Pixels::rgb(&data, w, h);
        for augmentation in Augmentation::ALL {
            let (copy, cw, chh) = augmentation.apply(&pixels).unwrap();
            let expected = p.run(&Pixels::rgb(&copy, cw, chh)).unwrap();
            let view = augmentation.view(w, h);
            let mut reader = p.reader_of_view(w, h, 3, view).unwrap();
            reader.push_rows(0, &data).unwrap();
            assert_eq!(reader.finish().unwrap(), expected, "{augmentation:?}");
        }
    }
}
