//! The per-row primitives of compositing: blending a plane row with its background span by
//! span, the background sources, and the packed-pixel helpers that keep those loops
//! vectorised. Hand-written: this is the hot loop of every effect (measured by the segment
//! benchmark).

use multiversion::multiversion;

use super::blur::BlurredPlane;
use super::coverage::{Coverage, SPAN};
use crate::frame::PixelFormat;

/// `(a·x + (256−a)·y) / 256` with `a` stretched from 0–255 to 0–256, in 16-bit integers:
/// exact at both ends, within one level elsewhere, and it vectorises (the hot loop of every
/// effect; measured 2.7× faster than 32-bit exact division by 255).
#[inline(always)]
pub(super) fn blend(fg: u8, bg: u8, a: u8) -> u8 {
    let a = u16::from(a) + (u16::from(a) >> 7);
    ((u16::from(fg) * a + u16::from(bg) * (256 - a) + 128) >> 8) as u8
}

/// Per plane: bytes per pixel and how many of those (from byte 0) are colour channels.
/// Packed RGB formats keep R, G, B (in some order) in bytes 0–2 and alpha/padding in byte 3.
pub(super) fn plane_layout(format: PixelFormat, p: usize) -> (usize, usize) {
    match (format, p) {
        (PixelFormat::I420, _) | (PixelFormat::Nv12, 0) => (1, 1),
        (PixelFormat::Nv12, _) => (2, 2),
        (PixelFormat::Rgba | PixelFormat::Bgra | PixelFormat::Rgbx | PixelFormat::Bgrx, _) => {
            (4, 3)
        }
    }
}

/// Pixels (not bytes) per row and rows of plane `p`.
pub(super) fn plane_pixels(format: PixelFormat, p: usize, w: usize, h: usize) -> (usize, usize) {
    let (bytes, rows) = format.plane_size(p, w, h);
    (bytes / plane_layout(format, p).0, rows)
}

/// Per-plane background source, filled per byte range of a row.
pub(super) enum Background<'a> {
    Blur(&'a BlurredPlane<'a>),
    Frame { plane: &'a [u8], stride: usize },
    Const(Vec<u8>),
}

impl Background<'_> {
    #[inline(always)]
    pub(super) fn fill(&self, y: usize, range: std::ops::Range<usize>, out: &mut [u8]) {
        match self {
            Background::Blur(g) => g.row(y, range, out),
            Background::Frame { plane, stride } => out.copy_from_slice(&plane[y * stride..][range]),
            Background::Const(row) => out.copy_from_slice(&row[range]),
        }
    }
}

/// Copies the colour bytes of `bg` over `row`, keeping the alpha/padding byte of packed pixels.
/// Four pixels at a time through a constant byte mask, which vectorises (per-pixel byte
/// copies did not, and were half of the compositing pass).
#[inline]
pub(super) fn store_colour(row: &mut [u8], bg: &[u8], bpp: usize) {
    if bpp != 4 {
        row.copy_from_slice(bg);
        return;
    }
    const KEEP: [u8; 16] = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
    let mut d = row.chunks_exact_mut(16);
    let mut s = bg.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        let keep = u128::from_ne_bytes(KEEP);
        let dv = u128::from_ne_bytes((*d).try_into().expect("16 bytes"));
        let sv = u128::from_ne_bytes(s.try_into().expect("16 bytes"));
        d.copy_from_slice(&((sv & !keep) | (dv & keep)).to_ne_bytes());
    }
    for (d, s) in d
        .into_remainder()
        .chunks_exact_mut(4)
        .zip(s.remainder().chunks_exact(4))
    {
        d[..3].copy_from_slice(&s[..3]);
    }
}

/// Per-byte alpha of packed pixels: each pixel's alpha on its three colour bytes and 255
/// (keep) on the fourth, four pixels at a time (vectorises).
#[inline]
pub(super) fn spread_alpha4(alpha: &[u8], out: &mut [u8]) {
    let mut o = out.chunks_exact_mut(16);
    let mut a = alpha.chunks_exact(4);
    for (o, a) in (&mut o).zip(&mut a) {
        let a: [u8; 4] = a.try_into().expect("4 bytes");
        let mut v = [255u8; 16];
        for i in 0..16 {
            if i % 4 != 3 {
                v[i] = a[i / 4];
            }
        }
        o.copy_from_slice(&v);
    }
    for (q, &a) in o.into_remainder().chunks_exact_mut(4).zip(a.remainder()) {
        q.copy_from_slice(&[a, a, a, 255]);
    }
}

/// Blends row `y` of one plane with its background, span by span (`cover` in this plane's
/// pixels): person spans are skipped without computing their background, background spans
/// take it as it is, mixed spans blend. Non-colour bytes (alpha/padding of packed formats)
/// are kept.
#[multiversion(targets("x86_64+avx+avx2+fma"))]
pub(super) fn blend_row<'a>(
    row: &mut [u8],
    y: usize,
    alpha: &[u8],
    cover: &[Coverage],
    bpp: usize,
    bg_src: &Background<'a>,
    scratch: &mut Scratch,
) {
    let n = alpha.len();
    for (c, &kind) in cover.iter().enumerate() {
        let (x0, x1) = (c * SPAN, ((c + 1) * SPAN).min(n));
        let ach = &alpha[x0..x1];
        let kind = match kind {
            Coverage::Mixed if ach.iter().all(|&a| a == 255) => Coverage::Person,
            Coverage::Mixed if ach.iter().all(|&a| a == 0) => Coverage::Background,
            k => k,
        };
        if kind == Coverage::Person {
            continue;
        }
        let bytes = x0 * bpp..x1 * bpp;
        let len = bytes.len();
        let bg = &mut scratch.bg[..len];
        bg_src.fill(y, bytes.clone(), bg);
        if kind == Coverage::Background {
            store_colour(&mut row[bytes], bg, bpp);
            continue;
        }
        let a: &[u8] = match bpp {
            1 => ach,
            _ => {
                let a4 = &mut scratch.a4[..len];
                if bpp == 4 {
                    spread_alpha4(ach, a4);
                } else {
                    for (q, &a) in a4.chunks_exact_mut(2).zip(ach) {
                        q.copy_from_slice(&[a, a]);
                    }
                }
                a4
            }
        };
        for ((p, &b), &a) in row[bytes].iter_mut().zip(bg.iter()).zip(a) {
            *p = blend(*p, b, a);
        }
    }
}

/// Per-thread scratch of the compositing pass.
pub(super) struct Scratch {
    pub(super) bg: Vec<u8>,
    pub(super) a4: Vec<u8>,
    pub(super) alpha: [Vec<u8>; 2],
    pub(super) cover: [Vec<Coverage>; 3],
    pub(super) chroma: Vec<u8>,
}

impl Scratch {
    pub(super) fn new(width: usize) -> Self {
        let spans = width.div_ceil(SPAN);
        Self {
            bg: vec![0; SPAN * 4],
            a4: vec![0; SPAN * 4],
            alpha: [vec![0; width], vec![0; width]],
            cover: [
                vec![Coverage::Mixed; spans],
                vec![Coverage::Mixed; spans],
                vec![Coverage::Mixed; spans.div_ceil(2)],
            ],
            chroma: vec![0; width.div_ceil(2)],
        }
    }
}

/// Writes the matte (mask as grey) into one plane row.
pub(super) fn matte_row(
    row: &mut [u8],
    alpha: &[u8],
    bpp: usize,
    nch: usize,
    value: impl Fn(u8) -> u8,
) {
    for (px, &a) in row.chunks_exact_mut(bpp).zip(alpha) {
        px[..nch].fill(value(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_helpers_keep_the_fourth_byte() {
        for n in [1, 3, 4, 5, 9] {
            let bg: Vec<u8> = (0..n * 4).map(|i| i as u8).collect();
            let mut row = vec![200u8; n * 4];
            store_colour(&mut row, &bg, 4);
            for (i, (&r, &b)) in row.iter().zip(&bg).enumerate() {
                assert_eq!(r, if i % 4 == 3 { 200 } else { b }, "{n} {i}");
            }
            let alpha: Vec<u8> = (0..n).map(|i| 10 * i as u8).collect();
            let mut a4 = vec![0u8; n * 4];
            spread_alpha4(&alpha, &mut a4);
            for (i, &v) in a4.iter().enumerate() {
                assert_eq!(v, if i % 4 == 3 { 255 } else { alpha[i / 4] }, "{n} {i}");
            }
        }
    }

    #[test]
    fn blend_is_exact_at_the_ends() {
        assert_eq!(blend(200, 10, 255), 200);
        assert_eq!(blend(200, 10, 0), 10);
        assert_eq!(blend(255, 0, 128), 128);
        for a in 0..=255u8 {
            for (f, b) in [(0u8, 255u8), (255, 0), (77, 200)] {
                let exact =
                    (f32::from(f) * f32::from(a) + f32::from(b) * (255.0 - f32::from(a))) / 255.0;
                assert!(
                    (f32::from(blend(f, b, a)) - exact).abs() <= 1.0,
                    "{f} {b} {a}"
                );
            }
            assert_eq!(blend(123, 45, 255), 123);
        }
    }
}
