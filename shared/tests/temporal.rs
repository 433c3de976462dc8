//! The temporal filters' figures with the real models on sequences made from messi5.jpg
//! (the same experiments `aifx-bench temporal` prints, over fewer frames), each checked
//! against the targets and, below them, the measured figure with a margin.

use aifx::pose::pipeline::PoseModels;
use aifx::session::SessionOptions;
use aifx::temporal::evaluate::{keypoint_rows, mask_rows, pixel_rows, Row, Sequence};

fn photo() -> (Vec<u8>, usize, usize) {
    let img = image::open("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
        .expect("opencv-doc's messi5.jpg (the set-up installs it)")
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    (img.into_raw(), w, h)
}

fn row<'a>(rows: &'a [Row], filter: &str) -> &'a Row {
    rows.iter().find(|r| r.filter == filter).expect(filter)
}

fn reduction(rows: &[Row], filter: &str) -> f64 {
    1.0 - row(rows, filter).flicker / rows[0].flicker
}

const FRAMES: usize = 30;

#[test]
fn masks_flicker_less_without_lagging() {
    let (rgb, w, h) = photo();
    let still = mask_rows(&Sequence::still(&rgb, w, h, FRAMES)).expect("run `make test`");
    let moving = mask_rows(&Sequence::moving(&rgb, w, h, 448, 280, FRAMES)).unwrap();
    for r in still.iter().chain(&moving) {
        println!(
            "{:32} flicker {:.3} %  lag {:.2}",
            r.filter, r.flicker, r.lag
        );
    }
    // Measured over 60 frames: −75 % flicker on the still picture, 0.15 frames of lag on the
    // pan (the plain EMA lags 2.35 frames). Target: −70 % at ≤ 0.5 frames.
    let f = "EMA 0.7 + motion";
    assert!(
        reduction(&still, f) >= 0.70,
        "{f}: {}",
        reduction(&still, f)
    );
    assert!(
        row(&moving, f).lag <= 0.5,
        "{f}: lag {}",
        row(&moving, f).lag
    );
    assert!(
        row(&moving, "EMA 0.7").lag > 1.0,
        "the plain EMA lags: motion matters"
    );
    // MediaPipe's blend: about half the flicker, no more than half a frame of lag.
    let mp = "MediaPipe blend 0.7";
    assert!(
        reduction(&still, mp) >= 0.35,
        "{mp}: {}",
        reduction(&still, mp)
    );
    assert!(row(&moving, mp).lag <= 0.5);
}

#[test]
fn keypoints_flicker_less_without_lagging() {
    let (rgb, w, h) = photo();
    let models =
        || PoseModels::load_for(&SessionOptions::default(), false).expect("run `make test`");
    let still = keypoint_rows(&Sequence::still(&rgb, w, h, FRAMES), models()).unwrap();
    let moving = keypoint_rows(&Sequence::moving(&rgb, w, h, 448, 280, FRAMES), models()).unwrap();
    for r in still.iter().chain(&moving) {
        println!(
            "{:40} flicker {:.3} % of the diagonal  lag {:.2}",
            r.filter, r.flicker, r.lag
        );
    }
    // Measured over 60 frames: −76 % (fp32) and −74 % (OpenVINO bf16) at 0.20–0.25 frames
    // of lag, MediaPipe's parameters scaled by the person's size; −70 % and −68 % by the
    // landmarks' box instead.
    let f = "one-euro (MediaPipe's pose parameters)";
    assert!(
        reduction(&still, f) >= 0.65,
        "{f}: {}",
        reduction(&still, f)
    );
    assert!(
        row(&moving, f).lag <= 0.5,
        "{f}: lag {}",
        row(&moving, f).lag
    );
}

#[test]
fn pixels_flicker_less_without_ghosting() {
    let (rgb, w, h) = photo();
    let still = pixel_rows(&Sequence::still(&rgb, w, h, FRAMES), 0.8, 12.0);
    let moving = pixel_rows(&Sequence::moving(&rgb, w, h, 448, 280, FRAMES), 0.8, 12.0);
    for r in still.iter().chain(&moving) {
        println!(
            "{:28} flicker {:.3}  lag {:.2}  vs raw {:.3} levels",
            r.filter, r.flicker, r.lag, r.error
        );
    }
    // Measured: −84 % on the still picture; on the pan the output stays with the picture
    // (0.04 frames behind) and nearer to it than without motion compensation.
    let f = "deflicker + dense motion";
    assert!(
        reduction(&still, f) >= 0.60,
        "{f}: {}",
        reduction(&still, f)
    );
    assert!(
        row(&moving, f).lag <= 0.25,
        "{f}: lag {}",
        row(&moving, f).lag
    );
    assert!(
        row(&moving, f).error < row(&moving, "deflicker, no motion").error,
        "motion compensation must ghost less than none"
    );
}
