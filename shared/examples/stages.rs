//! Times the segmentation path on messi5.jpg (development aid, for profilers too):
//! `cargo run --release -p aifx --example stages [WxH] [FORMAT] [EFFECT] [FRAMES]`.
//! Prints ms/frame of `Segmenter::process` and of each stage done by hand.
use std::time::{Duration, Instant};

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::sample::frame_to_tensor;
use aifx::segment::coverage::{AlphaRows, Coverage, SPAN};
use aifx::segment::refine::{guided_coefficients, AlphaScratch, MaskAlpha};
use aifx::segment::segmenter::{infer, load_model};
use aifx::segment::{Effect, SegmentSettings, Segmenter};
use aifx::tensor::{InputRange, Sampling};

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
    let effect = match arg(2, "blur").as_str() {
        "blur" => Effect::Blur,
        "color" => Effect::Color,
        "matte" => Effect::Matte,
        "none" => Effect::None,
        e => panic!("effect {e}"),
    };
    let frames: usize = arg(3, "100").parse().unwrap();
    let img = image::open(PHOTO).expect("messi5.jpg").to_rgb8();
    let rgb = image::imageops::resize(
        &img,
        w as u32,
        h as u32,
        image::imageops::FilterType::Triangle,
    )
    .into_raw();
    let mut settings = SegmentSettings {
        threads: 2,
        ..Default::default()
    };
    settings.composite.effect = effect;
    let source = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
    let mut f = source.clone();
    let mut seg = Segmenter::new();
    let mut total = Duration::ZERO;
    for i in 0..frames + 5 {
        f.planes.clone_from(&source.planes);
        let t = Instant::now();
        seg.process(&mut f.view(), &settings, false).unwrap();
        if i >= 5 {
            total += t.elapsed();
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / frames as f64;
    println!(
        "{w}x{h} {format:?} {effect:?}: process {:.2} ms/frame",
        ms(total)
    );

    // The same work stage by stage.
    let model = load_model(&settings).unwrap();
    let mut t = [Duration::ZERO; 6];
    // The blurred background alone (render makes its own as well).
    let mut blur = aifx::segment::blur::BlurredBackground::default();
    let mut scratch = AlphaScratch::default();
    let mut comp = aifx::segment::Compositor::new();
    for _ in 0..frames {
        f.planes.clone_from(&source.planes);
        aifx::parallel::on_pool(|| {
            let mut view = f.view();
            let s = Instant::now();
            let (tensor, luma) =
                frame_to_tensor(&view, 256, 256, InputRange::UNIT, Sampling::Asymmetric);
            t[0] += s.elapsed();
            let s = Instant::now();
            let m = infer(&model, &tensor).unwrap();
            t[1] += s.elapsed();
            let s = Instant::now();
            let c = guided_coefficients(&m, &luma, 1, 1e-3);
            t[2] += s.elapsed();
            let s = Instant::now();
            let alpha = MaskAlpha::new(&view, &m, Some(&c), &mut scratch);
            t[3] += s.elapsed();
            let s = Instant::now();
            blur.make(&view, &alpha, settings.composite.blur_radius);
            t[5] += s.elapsed();
            let s = Instant::now();
            comp.render(&mut view, &alpha, &settings.composite).unwrap();
            t[4] += s.elapsed();
        });
    }
    // The post-inference stages again without inference between frames: what they cost
    // when OpenVINO's threads have not just run.
    {
        let view = f.view();
        let (tensor, luma) =
            frame_to_tensor(&view, 256, 256, InputRange::UNIT, Sampling::Asymmetric);
        let m = infer(&model, &tensor).unwrap();
        drop(view);
        let mut post = Duration::ZERO;
        for _ in 0..frames {
            f.planes.clone_from(&source.planes);
            aifx::parallel::on_pool(|| {
                let mut view = f.view();
                let s = Instant::now();
                let c = guided_coefficients(&m, &luma, 1, 1e-3);
                let alpha = MaskAlpha::new(&view, &m, Some(&c), &mut scratch);
                comp.render(&mut view, &alpha, &settings.composite).unwrap();
                post += s.elapsed();
            });
        }
        println!(
            "guided + alpha-setup + render without inference between: {:.2} ms",
            ms(post)
        );
    }
    // How much of the frame is along the silhouette (alpha computed pixel by pixel).
    f.planes.clone_from(&source.planes);
    let view = f.view();
    let (tensor, luma) = frame_to_tensor(&view, 256, 256, InputRange::UNIT, Sampling::Asymmetric);
    let m = infer(&model, &tensor).unwrap();
    let c = guided_coefficients(&m, &luma, 1, 1e-3);
    let alpha = MaskAlpha::new(&view, &m, Some(&c), &mut scratch);
    let mut cover = vec![Coverage::Mixed; w.div_ceil(SPAN)];
    let mut counts = [0usize; 3];
    for y in 0..h {
        alpha.coverage(y, &mut cover);
        for c in &cover {
            counts[*c as usize] += 1;
        }
    }
    let share = |k: usize| 100.0 * counts[k] as f64 / counts.iter().sum::<usize>() as f64;
    println!(
        "spans: background {:.1} %, person {:.1} %, mixed {:.1} %",
        share(Coverage::Background as usize),
        share(Coverage::Person as usize),
        share(Coverage::Mixed as usize)
    );
    println!(
        "sample {:.2} infer {:.2} guided {:.2} alpha-setup {:.2} render {:.2} ms (of which the blurred background {:.2})",
        ms(t[0]),
        ms(t[1]),
        ms(t[2]),
        ms(t[3]),
        ms(t[4]),
        ms(t[5])
    );
}
