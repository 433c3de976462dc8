//! `aifx-bench stylize`: ms/frame of `stylize` per built-in style at 720p and 1080p, on the
//! whole frame and on the person only (a mask meta on the buffer, as `segment` leaves it),
//! beside each style's OpenCV teacher on the same frame in the same run.

use std::path::Path;

use aifx::frame::{OwnedFrame, PixelFormat};
use gstaifx::meta::MaskMeta;
use gstaifx::video::buffer_from_frame;

use crate::{frame_rgb, run_reference_bench, time_with_metas};

pub const STYLES: [&str; 3] = ["toon", "pencil", "oil"];

pub fn bench_stylize(frames: usize, runtime: &str, python: Option<&Path>) {
    let sizes = [(1280u32, 720u32), (1920, 1080)];
    let teachers =
        python.map(|py| run_reference_bench(py, "style_teachers.py", &["bench"], &sizes, 3));
    println!("stylize, {frames} frames per row after 15 warm-up frames, {runtime}, default resolution (short side 360)");
    println!(
        "{:6} {:10} {:8} {:>9} {:>7}  {:>12} {:>18}",
        "style", "size", "region", "ms/frame", "fps", "teacher ms", "the student is"
    );
    for style in STYLES {
        if aifx::paths::resolve_model(style).is_err() {
            println!("{style}: not installed (run `make test` or `make demo`); skipped");
            continue;
        }
        for &(w, h) in &sizes {
            let rgb = frame_rgb(w, h);
            let (mut buf, info) = buffer_from_frame(&OwnedFrame::from_rgb(
                PixelFormat::Rgba,
                w as usize,
                h as usize,
                &rgb,
                0,
            ));
            MaskMeta {
                width: 256,
                height: 256,
                data: (0..256 * 256)
                    .map(|i| if (i % 256) < 128 { 255 } else { 0 })
                    .collect(),
                frame_width: w,
                frame_height: h,
                inferred: true,
            }
            .add(buf.get_mut().unwrap())
            .unwrap();
            let teacher = teachers
                .as_ref()
                .and_then(|t| t.as_ref().ok())
                .and_then(|t| t[format!("{style} {w}x{h}")].as_f64());
            for region in ["all", "person"] {
                let ms = time_with_metas(
                    &format!("stylize model={style} region={region} {runtime}"),
                    &buf,
                    &info,
                    frames,
                );
                let (t, ratio) = match teacher {
                    Some(t) => (format!("{t:.1}"), aifx::timing::relative_speed(ms, t)),
                    None => ("-".into(), "-".into()),
                };
                println!(
                    "{style:6} {:10} {region:8} {ms:>9.2} {:>7.1}  {t:>12} {ratio:>18}",
                    format!("{w}x{h}"),
                    1000.0 / ms
                );
            }
        }
    }
    if let Some(Err(e)) = teachers {
        println!("(teachers not timed: {e})");
    }
}
