//! The test sequences and the measures of temporal quality that `aifx-bench temporal` prints
//! and the tests check: flicker (mean absolute frame-to-frame change) and lag (frames of
//! delay between an input that moves at constant speed and the smoothed output).

/// A photo (interleaved RGB) with fresh noise every frame: the "static" sequence.
/// `sigma` is the noise's standard deviation in levels (a sum of three uniform draws).
pub fn with_noise(rgb: &[u8], sigma: f32, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    // Three uniforms in [−½, ½) sum to variance ¼: scale by 2σ for a deviation of σ.
    rgb.iter()
        .map(|&v| {
            let n = (next() + next() + next()) * 2.0 * sigma;
            (f32::from(v) + n).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Frame `t` of the "moving" sequence: a `out_w`×`out_h` window into the photo
/// (`w`×`h`, interleaved RGB) that pans right by `pan` photo pixels per frame and zooms in by
/// `zoom` (relative) per frame, sampled bilinearly.
#[allow(clippy::too_many_arguments)]
pub fn pan_zoom(
    rgb: &[u8],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    t: usize,
    pan: f32,
    zoom: f32,
) -> Vec<u8> {
    // The window starts at 80 % of the photo, centred, and shrinks by `zoom` a frame.
    let scale0 = (w as f32 / out_w as f32).min(h as f32 / out_h as f32) * 0.8;
    let scale = scale0 * (1.0 - zoom * t as f32).max(0.2);
    let cx = w as f32 / 2.0 - 0.1 * w as f32 + pan * t as f32;
    let cy = h as f32 / 2.0;
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for y in 0..out_h {
        for x in 0..out_w {
            let sx = (cx + (x as f32 + 0.5 - out_w as f32 / 2.0) * scale - 0.5)
                .clamp(0.0, (w - 1) as f32);
            let sy = (cy + (y as f32 + 0.5 - out_h as f32 / 2.0) * scale - 0.5)
                .clamp(0.0, (h - 1) as f32);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            for c in 0..3 {
                let p = |x: usize, y: usize| f32::from(rgb[(y * w + x) * 3 + c]);
                let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
                let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
                out.push((top + (bottom - top) * fy).round() as u8);
            }
        }
    }
    out
}

/// A textured test picture (interleaved RGB, grey) shifted by (`dx`, `dy`) pixels: octaves
/// of smooth value noise, so every block has texture in every direction (a ramp or a single
/// sinusoid would leave block matching an aperture problem).
pub fn texture(w: usize, h: usize, dx: f32, dy: f32) -> Vec<u8> {
    fn hash(x: i32, y: i32) -> f32 {
        let mut v = (x as u32).wrapping_mul(0x8da6_b343) ^ (y as u32).wrapping_mul(0xd816_3841);
        v ^= v >> 13;
        v = v.wrapping_mul(0x85eb_ca6b);
        v ^= v >> 16;
        (v & 0xffff) as f32 / 65535.0
    }
    fn noise(x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let (x0, y0) = (x0 as i32, y0 as i32);
        let top = hash(x0, y0) + (hash(x0 + 1, y0) - hash(x0, y0)) * sx;
        let bottom = hash(x0, y0 + 1) + (hash(x0 + 1, y0 + 1) - hash(x0, y0 + 1)) * sx;
        top + (bottom - top) * sy
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f32 - dx, y as f32 - dy);
            let g = 0.5 * noise(u / 24.0, v / 24.0)
                + 0.3 * noise(u / 9.0 + 17.0, v / 9.0)
                + 0.2 * noise(u / 4.0, v / 4.0 + 31.0);
            let g = (g * 230.0 + 12.0).clamp(0.0, 255.0) as u8;
            rgb.extend_from_slice(&[g, g, g]);
        }
    }
    rgb
}

/// Mean absolute change between consecutive frames of a sequence of equal-length slices.
pub fn flicker<T: Copy + Into<f64>>(frames: &[Vec<T>]) -> f64 {
    let mut total = 0.0;
    let mut n = 0usize;
    for pair in frames.windows(2) {
        for (a, b) in pair[0].iter().zip(&pair[1]) {
            total += ((*a).into() - (*b).into()).abs();
        }
        n += pair[0].len();
    }
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

/// Frames of delay of `smoothed` behind `raw` (two series of one quantity, e.g. a centroid):
/// the shift `k` in [0, 10] (steps of 0.05) that best fits `smoothed[t] ≈ raw[t − k]`
/// (linear interpolation), over the frames from `skip` on.
pub fn lag(raw: &[f64], smoothed: &[f64], skip: usize) -> f64 {
    let at = |t: f64| -> f64 {
        let t = t.clamp(0.0, (raw.len() - 1) as f64);
        let i = t.floor() as usize;
        let j = (i + 1).min(raw.len() - 1);
        raw[i] + (raw[j] - raw[i]) * (t - i as f64)
    };
    let mut best = (f64::MAX, 0.0);
    for step in 0..=200 {
        let k = step as f64 * 0.05;
        let err: f64 = smoothed
            .iter()
            .enumerate()
            .skip(skip.max(k.ceil() as usize))
            .map(|(t, &s)| (s - at(t as f64 - k)).powi(2))
            .sum();
        if err < best.0 {
            best = (err, k);
        }
    }
    best.1
}

/// Centroid of a mask's mass along x (in mask pixels), for lag on a panning picture.
pub fn centroid_x(mask: &[f32], width: usize) -> f64 {
    let (mut m, mut mx) = (0.0, 0.0);
    for (i, &v) in mask.iter().enumerate() {
        m += f64::from(v);
        mx += f64::from(v) * (i % width) as f64;
    }
    if m > 0.0 {
        mx / m
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_asked_deviation() {
        let flat = vec![128u8; 100_000];
        let n = with_noise(&flat, 3.0, 1);
        let var = n
            .iter()
            .map(|&v| (f64::from(v) - 128.0).powi(2))
            .sum::<f64>()
            / n.len() as f64;
        assert!((var.sqrt() - 3.0).abs() < 0.2, "sigma {}", var.sqrt());
        assert_ne!(with_noise(&flat, 3.0, 2), n, "fresh noise per seed");
    }

    #[test]
    fn lag_of_a_delayed_ramp() {
        let raw: Vec<f64> = (0..40).map(|t| t as f64 * 2.0).collect();
        let late: Vec<f64> = (0..40).map(|t| (t as f64 - 1.5).max(0.0) * 2.0).collect();
        assert!((lag(&raw, &late, 5) - 1.5).abs() < 0.051);
        assert_eq!(lag(&raw, &raw, 5), 0.0);
        // An EMA keeping ratio r of a ramp lags r / (1 − r) frames.
        let mut ema = Vec::new();
        let mut y = 0.0;
        for &x in &raw {
            y = if ema.is_empty() { x } else { 0.5 * x + 0.5 * y };
            ema.push(y);
        }
        assert!((lag(&raw, &ema, 10) - 1.0).abs() < 0.051);
    }

    #[test]
    fn flicker_of_alternating_frames() {
        let f = vec![vec![0u8, 10], vec![2u8, 10], vec![0u8, 10]];
        assert_eq!(flicker(&f), 1.0);
    }

    #[test]
    fn pan_moves_the_picture_left() {
        let (w, h) = (64, 32);
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % w) as u8 * 3; 3]).collect();
        let a = pan_zoom(&rgb, w, h, 32, 16, 0, 2.0, 0.0);
        let b = pan_zoom(&rgb, w, h, 32, 16, 1, 2.0, 0.0);
        // The window moved right by 2 photo pixels: content moved left in the frame.
        assert!(b[3 * 8] > a[3 * 8]);
    }
}
