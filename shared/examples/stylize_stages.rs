//! Times the stylize path on messi5.jpg (development aid, for profilers too):
//! `cargo run --release -p aifx --example stylize_stages [WxH] [FORMAT] [STYLE] [FRAMES]`.
//! Prints ms/frame of `Stylizer::process` with the model on every frame, and with the model
//! run once and its picture reused (everything around the model).
use std::time::Instant;

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::stylize::{MaskRef, Region, StyleSettings, Stylizer};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let (w, h) = arg(0, "1280x720")
        .split_once('x')
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .expect("WxH");
    let format = PixelFormat::ALL
        .into_iter()
        .find(|f| format!("{f:?}").eq_ignore_ascii_case(&arg(1, "rgba")))
        .expect("format");
    let style = arg(2, "toon");
    let frames: usize = arg(3, "40").parse().unwrap();
    let img = image::open(PHOTO).expect("messi5.jpg").to_rgb8();
    let rgb = image::imageops::resize(
        &img,
        w as u32,
        h as u32,
        image::imageops::FilterType::Triangle,
    )
    .into_raw();
    let source = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
    let mask: Vec<u8> = (0..256 * 256)
        .map(|i| if (i % 256) < 128 { 255 } else { 0 })
        .collect();
    for (label, interval, region, strength) in [
        ("model every frame", 1, Region::All, 1.0),
        ("model once, picture reused", 1_000_000, Region::All, 1.0),
        ("reused, strength 0.5", 1_000_000, Region::All, 0.5),
        ("reused, region person", 1_000_000, Region::Person, 1.0),
    ] {
        let settings = StyleSettings {
            model: style.clone(),
            threads: 2,
            interval,
            region,
            strength,
            ..Default::default()
        };
        let mut f = source.clone();
        let mut st = Stylizer::new();
        let mut total = 0.0;
        for i in 0..frames + 5 {
            f.planes.clone_from(&source.planes);
            let m = MaskRef {
                width: 256,
                height: 256,
                data: &mask,
            };
            let t = Instant::now();
            st.process(&mut f.view(), &settings, Some(m)).unwrap();
            if i >= 5 {
                total += t.elapsed().as_secs_f64();
            }
        }
        println!(
            "{w}x{h} {format:?} {style} {label}: {:.2} ms/frame",
            total * 1000.0 / frames as f64
        );
    }
}
