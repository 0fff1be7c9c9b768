//! Writes a still image as a Y4M video (I420, BT.601 studio range): the file Chromium's fake camera
//! (`--use-file-for-fake-video-capture`) plays. Used by the demo's tests.
//!
//! `cargo run --example image-to-y4m -- IMAGE OUT.y4m [FRAMES]`

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: image-to-y4m IMAGE OUT.y4m [FRAMES]".into());
    };
    let frames: usize = rest.first().map_or(Ok(30), |f| f.parse())?;
    let rgb = image::open(input)?.to_rgb8();
    // 4:2:0 needs even sizes.
    let (w, h) = (rgb.width() as usize & !1, rgb.height() as usize & !1);
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
    let mut out = std::io::BufWriter::new(std::fs::File::create(output)?);
    writeln!(out, "YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg")?;
    for _ in 0..frames {
        out.write_all(b"FRAME\n")?;
        out.write_all(&y_plane)?;
        out.write_all(&u_plane)?;
        out.write_all(&v_plane)?;
    }
    out.flush()?;
    Ok(())
}
