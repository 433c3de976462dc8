//! `aifx-bench temporal`: flicker and lag of every temporal filter on (1) a static photo with
//! fresh noise each frame, (2) the photo panned and zoomed, (3) a real video (opencv-doc's
//! vtest.avi, decoded by GStreamer), and ms/frame of `temporalsmooth` at 1080p per mode
//! beside the element it follows.

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::pose::pipeline::PoseModels;
use aifx::session::SessionOptions;
use aifx::temporal::evaluate::{keypoint_rows, mask_rows, pixel_rows, Row, Sequence};
use gst::prelude::*;
use gstaifx::meta::{MaskMeta, PoseMeta, PosePerson};
use gstaifx::video::buffer_from_frame;

use crate::time_with_metas;

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
const VIDEO: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

/// The first `n` frames of a video file as RGB, through decodebin (None when it cannot be
/// decoded here, e.g. without gst-libav).
pub fn decode_video(path: &str, n: usize) -> Option<Sequence> {
    let desc = format!(
        "filesrc location={path} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .ok()?
        .downcast::<gst::Pipeline>()
        .ok()?;
    let sink = pipeline.by_name("sink")?;
    pipeline.set_state(gst::State::Playing).ok()?;
    let mut frames = Vec::new();
    let (mut width, mut height) = (0, 0);
    while frames.len() < n {
        let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) else {
            break;
        };
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        (width, height) = (info.width() as usize, info.height() as usize);
        let buf = sample.buffer()?;
        let map = buf.map_readable().ok()?;
        let stride = info.stride()[0] as usize;
        let mut rgb = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            rgb.extend_from_slice(&map[y * stride..y * stride + width * 3]);
        }
        frames.push(rgb);
    }
    let _ = pipeline.set_state(gst::State::Null);
    (!frames.is_empty()).then_some(Sequence {
        name: "vtest.avi",
        width,
        height,
        fps: 10.0,
        frames,
    })
}

fn print_rows(what: &str, unit: &str, seq: &str, rows: &[Row]) {
    let none = rows[0].flicker.max(1e-9);
    for r in rows {
        println!(
            "{what:9} {seq:10} {:38} {:>9.3} {unit:<5} {:>+6.0} %  {:>6.2}  {:>9.3}",
            r.filter,
            r.flicker,
            (r.flicker / none - 1.0) * 100.0,
            r.lag,
            r.error
        );
    }
}

pub fn bench_temporal(frames: usize, runtime: &str) {
    let img = image::open(PHOTO)
        .expect("opencv-doc's messi5.jpg")
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgb = img.into_raw();
    // AIFX_BENCH_ONLY=speed[:TEXT]: only the ms/frame rows (whose format and element
    // contain TEXT), for profiling and A/B runs.
    let only = std::env::var("AIFX_BENCH_ONLY").unwrap_or_default();
    let row_filter = only
        .strip_prefix("speed")
        .map(|r| r.trim_start_matches(':').to_string());
    let tables = row_filter.is_none();
    if tables {
        flicker_and_lag_tables(&rgb, w, h, frames);
    }

    // Speed at 1080p: a buffer carrying a 256×256 mask and one person's keypoints.
    let (fw, fh) = (1920usize, 1080usize);
    let big = image::imageops::resize(
        &image::open(PHOTO).unwrap().to_rgb8(),
        fw as u32,
        fh as u32,
        image::imageops::FilterType::Triangle,
    )
    .into_raw();
    println!("\ntemporalsmooth at 1920x1080, {frames} frames, beside the elements it follows ({runtime})");
    println!("{:6} {:52} {:>9}", "format", "element", "ms/frame");
    for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
        let (mut buf, info) = buffer_from_frame(&OwnedFrame::from_rgb(format, fw, fh, &big, 0));
        {
            let b = buf.get_mut().unwrap();
            MaskMeta {
                width: 256,
                height: 256,
                data: (0..256 * 256)
                    .map(|i| ((i % 256) as u8).wrapping_mul(3))
                    .collect(),
                frame_width: fw as u32,
                frame_height: fh as u32,
                inferred: true,
            }
            .add(b)
            .unwrap();
            PoseMeta {
                persons: vec![PosePerson {
                    id: 1,
                    score: 0.9,
                    size: 520.0,
                    landmarks: (0..33)
                        .map(|k| {
                            [
                                800.0 + 7.0 * k as f32,
                                300.0 + 11.0 * k as f32,
                                0.0,
                                0.9,
                                0.9,
                            ]
                        })
                        .collect(),
                    world: vec![[0.0; 3]; 33],
                }],
                inferred: true,
                frame_width: fw as u32,
                frame_height: fh as u32,
            }
            .add(b)
            .unwrap();
        }
        let name = format!("{format:?}").to_uppercase();
        for desc in [
            format!("segment effect=none {runtime}"),
            format!("pose draw=false {runtime}"),
            "temporalsmooth masks=0.7 keypoints=false motion=none".into(),
            "temporalsmooth masks=0.7 keypoints=false motion=global".into(),
            "temporalsmooth masks=0.7 keypoints=false motion=dense".into(),
            "temporalsmooth masks=0 keypoints=true".into(),
            "temporalsmooth masks=0 keypoints=false pixels=0.8 motion=none".into(),
            "temporalsmooth masks=0 keypoints=false pixels=0.8 motion=global".into(),
            "temporalsmooth masks=0 keypoints=false pixels=0.8 motion=dense".into(),
        ] {
            if row_filter
                .as_ref()
                .is_some_and(|t| !format!("{name} {desc}").contains(t.as_str()))
            {
                continue;
            }
            let ms = time_with_metas(&desc, &buf, &info, frames);
            println!("{name:6} {desc:52} {ms:>9.2}");
        }
    }
}

/// Flicker and lag of every filter on the still, panned and real sequences.
fn flicker_and_lag_tables(rgb: &[u8], w: usize, h: usize, frames: usize) {
    let mut seqs = vec![
        Sequence::still(rgb, w, h, frames),
        Sequence::moving(rgb, w, h, 448, 280, frames),
    ];
    match decode_video(VIDEO, frames) {
        Some(v) => seqs.push(v),
        None => {
            println!("({VIDEO} cannot be decoded here: install gstreamer1.0-libav; row skipped)")
        }
    }
    println!(
        "temporal filters, {frames} frames per sequence (messi5 still with σ=3 noise, messi5 panned 3 px + zoomed 0.4 % a frame, vtest.avi)"
    );
    println!(
        "{:9} {:10} {:38} {:>15} {:>8}  {:>6}  {:>9}",
        "what", "sequence", "filter", "flicker", "vs none", "lag", "vs raw"
    );
    for seq in &seqs {
        match mask_rows(seq) {
            Ok(rows) => print_rows("masks", "%", seq.name, &rows),
            Err(e) => println!("masks     {}: {e}", seq.name),
        }
    }
    // One provider per sequence: under `auto` the first frames alternate between the
    // providers of its trial, whose landmarks differ slightly, and that jitter moved these
    // rows by a point. The exact pipeline (fp32, ONNX Runtime's CPU code) and, where it is
    // there, OpenVINO with its bf16 hint (what `auto` settles on here).
    let exact = SessionOptions {
        device: aifx::Device::Cpu,
        ..SessionOptions::FP32
    };
    let providers = [
        ("kp fp32", Some(exact)),
        ("kp bf16", SessionOptions::openvino_bf16()),
    ];
    for seq in &seqs[..2] {
        for (what, opts) in &providers {
            let Some(opts) = opts else { continue };
            let models = PoseModels::load_for(opts, false).expect("pose models");
            match keypoint_rows(seq, models) {
                Ok(rows) => print_rows(what, "%diag", seq.name, &rows),
                Err(e) => println!("{what:9} {}: {e}", seq.name),
            }
        }
    }
    for seq in &seqs {
        print_rows("pixels", "lvl", seq.name, &pixel_rows(seq, 0.8, 12.0));
    }
    println!("(flicker: mean |frame-to-frame change|; lag: frames behind the unfiltered result; vs raw: mean |filtered − unfiltered|)");
}

/// A strip of consecutive masks on the panning sequence, so a person can see what the
/// filters do: rows are the raw masks, a plain EMA (it trails behind the moving edge) and
/// the motion-compensated EMA (steady and on the edge), columns are frames.
pub fn write_strips(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write_mask_strip(&dir.join("temporal-masks.png"))?;
    write_pixel_strip(&dir.join("temporal-pixels.png"))
}

/// Consecutive frames of the pan, deflickered: rows are the input, the deflicker without
/// motion compensation (the previous output stays where it was: edges ghost) and with dense
/// motion (it moves along), cropped at full scale around the player's head.
fn write_pixel_strip(path: &std::path::Path) -> Result<(), String> {
    use aifx::temporal::deflicker::Deflicker;
    use aifx::temporal::motion::{MotionEstimator, MotionMode};
    let img = image::open(PHOTO).map_err(|e| e.to_string())?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let seq = Sequence::moving(img.as_raw(), w, h, 448, 280, 30);
    let frames: Vec<usize> = (20..25).collect();
    let (cx, cy, cw, ch) = (120usize, 0usize, 200usize, 150usize);
    let mut rows: [Vec<Vec<u8>>; 3] = Default::default();
    for (r, mode) in [None, Some(MotionMode::None), Some(MotionMode::Dense)]
        .into_iter()
        .enumerate()
    {
        let (mut d, mut m) = (Deflicker::default(), MotionEstimator::default());
        for t in 0..=frames[frames.len() - 1] {
            let mut f =
                OwnedFrame::from_rgb(PixelFormat::Rgba, seq.width, seq.height, &seq.frames[t], 0);
            if let Some(mode) = mode {
                let (field, l) = m.next(&f.view(), mode);
                let l = l.clone();
                d.apply(&mut f.view(), &l, &field, 0.8, 12.0);
            }
            if frames.contains(&t) {
                rows[r].push(f.to_rgb());
            }
        }
    }
    let gap = 4u32;
    let mut sheet = image::RgbImage::from_pixel(
        frames.len() as u32 * (cw as u32 + gap),
        3 * (ch as u32 + gap),
        image::Rgb([255, 255, 255]),
    );
    for (r, row) in rows.iter().enumerate() {
        for (c, rgb) in row.iter().enumerate() {
            let (x0, y0) = (c as u32 * (cw as u32 + gap), r as u32 * (ch as u32 + gap));
            for y in 0..ch {
                for x in 0..cw {
                    let p = &rgb[((cy + y) * seq.width + cx + x) * 3..][..3];
                    sheet.put_pixel(x0 + x as u32, y0 + y as u32, image::Rgb([p[0], p[1], p[2]]));
                }
            }
        }
    }
    sheet.save(path).map_err(|e| e.to_string())?;
    println!(
        "{}: frames {}–{} of the pan; rows: input, deflicker 0.8 without motion, with dense motion",
        path.display(),
        frames[0],
        frames[frames.len() - 1]
    );
    Ok(())
}

fn write_mask_strip(path: &std::path::Path) -> Result<(), String> {
    use aifx::temporal::mask::{MaskBlend, MaskSmoother};
    use aifx::temporal::motion::{MotionEstimator, MotionMode};
    let img = image::open(PHOTO).map_err(|e| e.to_string())?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let seq = Sequence::moving(img.as_raw(), w, h, 448, 280, 30);
    let (raw, mw, mh) = aifx::temporal::evaluate::raw_masks(&seq).map_err(|e| e.to_string())?;
    let mut motion = MotionEstimator::default();
    let fields: Vec<_> = seq
        .frames
        .iter()
        .map(|f| {
            let mut frame = OwnedFrame::from_rgb(PixelFormat::Rgba, seq.width, seq.height, f, 0);
            motion.next(&frame.view(), MotionMode::Dense).0
        })
        .collect();
    let (mut plain, mut warped) = (MaskSmoother::default(), MaskSmoother::default());
    let mut rows: [Vec<Vec<f32>>; 3] = Default::default();
    for (m, field) in raw.iter().zip(&fields) {
        let mut a = m.clone();
        plain.apply(&mut a, mw, mh, MaskBlend::Ema(0.7), None);
        let mut b = m.clone();
        warped.apply(
            &mut b,
            mw,
            mh,
            MaskBlend::Ema(0.7),
            Some((field, seq.width, seq.height)),
        );
        rows[0].push(m.clone());
        rows[1].push(a);
        rows[2].push(b);
    }
    let frames: Vec<usize> = (20..26).collect();
    let (label_w, gap) = (0u32, 4u32);
    let mut sheet = image::RgbImage::from_pixel(
        label_w + frames.len() as u32 * (mw as u32 + gap),
        3 * (mh as u32 + gap),
        image::Rgb([255, 255, 255]),
    );
    for (r, row) in rows.iter().enumerate() {
        for (c, &t) in frames.iter().enumerate() {
            let (x0, y0) = (
                label_w + c as u32 * (mw as u32 + gap),
                r as u32 * (mh as u32 + gap),
            );
            for y in 0..mh {
                for x in 0..mw {
                    let v = (row[t][y * mw + x].clamp(0.0, 1.0) * 255.0) as u8;
                    // The frame underneath, faintly, so the mask can be judged against it.
                    let fx = x * seq.width / mw;
                    let fy = y * seq.height / mh;
                    let p = &seq.frames[t][(fy * seq.width + fx) * 3..][..3];
                    let px =
                        [0, 1, 2].map(|k| ((u16::from(p[k]) / 3) + u16::from(v) * 2 / 3) as u8);
                    sheet.put_pixel(x0 + x as u32, y0 + y as u32, image::Rgb(px));
                }
            }
        }
    }
    sheet.save(path).map_err(|e| e.to_string())?;
    println!(
        "{}: frames {}–{} of the pan; rows: raw masks, EMA 0.7, EMA 0.7 + dense motion",
        path.display(),
        frames[0],
        frames[frames.len() - 1]
    );
    Ok(())
}
