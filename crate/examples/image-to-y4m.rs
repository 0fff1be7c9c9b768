//! Writes still images as a Y4M video (I420, BT.601 studio range): the file Chromium's fake camera
//! (`--use-file-for-fake-video-capture`) plays, looping. Used by the demo's tests.
//!
//! `cargo run --example image-to-y4m -- IMAGE[,IMAGE...] OUT.y4m [FRAMES_PER_IMAGE] [FPS]`
//!
//! Several images play one after the other, each for `FRAMES_PER_IMAGE` frames (default 30), all at
//! the first image's size. `FPS` defaults to 30.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inputs, output, rest @ ..] = args.as_slice() else {
        return Err("usage: image-to-y4m IMAGE[,IMAGE...] OUT.y4m [FRAMES_PER_IMAGE] [FPS]".into());
    };
    let frames: usize = rest.first().map_or(Ok(30), |f| f.parse())?;
    let fps: u32 = rest.get(1).map_or(Ok(30), |f| f.parse())?;
    let images = inputs
        .split(',')
        .map(|path| image::open(path).map(|i| i.to_rgb8()))
        .collect::<Result<Vec<_>, _>>()?;
    // 4:2:0 needs even sizes.
    let (w, h) = (
        images[0].width() as usize & !1,
        images[0].height() as usize & !1,
    );
    let mut out = std::io::BufWriter::new(std::fs::File::create(output)?);
    writeln!(out, "YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg")?;
    for rgb in &images {
        // Odd sizes lose their last row or column; other sizes are scaled to the first image's.
        let frame = if (rgb.width() as usize & !1, rgb.height() as usize & !1) == (w, h) {
            i420(rgb, w, h)
        } else {
            let scaled =
                image::imageops::resize(rgb, w as u32, h as u32, image::imageops::Triangle);
            i420(&scaled, w, h)
        };
        for _ in 0..frames {
            out.write_all(b"FRAME\n")?;
            out.write_all(&frame)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The Y, U and V planes of one frame.
fn i420(rgb: &image::RgbImage, w: usize, h: usize) -> Vec<u8> {
    let px = |x: usize, y: usize| {
        let p = rgb.get_pixel(x as u32, y as u32).0;
        (p[0] as f32, p[1] as f32, p[2] as f32)
    };
    let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let mut y_plane = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            y_plane.push(clamp(16.0 + 0.257 * r + 0.504 * g + 0.098 * b));
        }
    }
    let (mut u_plane, mut v_plane) = (Vec::new(), Vec::new());
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let mut sum = (0.0, 0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (r, g, b) = px(x + dx, y + dy);
                sum = (sum.0 + r / 4.0, sum.1 + g / 4.0, sum.2 + b / 4.0);
            }
            let (r, g, b) = sum;
            u_plane.push(clamp(128.0 - 0.148 * r - 0.291 * g + 0.439 * b));
            v_plane.push(clamp(128.0 + 0.439 * r - 0.368 * g - 0.071 * b));
        }
    }
    [y_plane, u_plane, v_plane].concat()
}
