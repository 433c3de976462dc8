//! `pose` in real GStreamer: the element around the real models, in every format.

mod common;

use aifx::frame::{OwnedFrame, PixelFormat};
use common::{flush, from_buffer, harness, init, messi, to_buffer};
use gst::prelude::*;
use gstaifx::meta::PoseMeta;

fn run_once(props: &[(&str, &str)], frame: &OwnedFrame) -> (OwnedFrame, PoseMeta) {
    let (buf, info) = to_buffer(frame);
    let mut h = harness("pose", props, &info);
    let out = h.push_and_pull(buf).expect("pose returns the frame");
    let meta = PoseMeta::get(&out).expect("pose meta on the buffer");
    (from_buffer(&out, &info, frame.format), meta)
}

#[test]
fn every_format_finds_the_same_pose_as_rgba() {
    init();
    let (rgb, w, h) = messi();
    let (_, reference) = run_once(
        &[("draw", "false")],
        &OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0),
    );
    assert_eq!(reference.persons.len(), 1);
    let r = &reference.persons[0];
    assert_eq!(r.landmarks.len(), 33);
    assert_eq!(r.world.len(), 33);
    for format in PixelFormat::ALL {
        let (out, meta) = run_once(
            &[("draw", "false")],
            &OwnedFrame::from_rgb(format, w, h, &rgb, 0),
        );
        assert_eq!(
            out.to_owned().planes,
            OwnedFrame::from_rgb(format, w, h, &rgb, 0).planes,
            "draw=false leaves {format:?} untouched"
        );
        let p = &meta.persons[0];
        let err = p
            .landmarks
            .iter()
            .zip(&r.landmarks)
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .sum::<f32>()
            / 33.0;
        println!("{format:?}: mean landmark distance to the RGBA result {err:.2} px");
        assert!(
            err < if format.is_yuv() { 6.0 } else { 0.01 },
            "{format:?}: {err}"
        );
    }
}

#[test]
fn skeleton_is_drawn_in_every_format() {
    init();
    let (rgb, w, h) = messi();
    for format in PixelFormat::ALL {
        let frame = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
        let (out, meta) = run_once(&[], &frame);
        assert_eq!(meta.persons.len(), 1);
        let changed = out.planes[0]
            .iter()
            .zip(&frame.planes[0])
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 500, "{format:?}: only {changed} bytes drawn");
    }
}

#[test]
fn draw_mask_tints_the_person_only() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (out, meta) = run_once(&[("draw", "false"), ("draw-mask", "true")], &frame);
    let p = &meta.persons[0];
    // The hip centre is inside the person: tinted. A corner of the picture is not.
    let hip = |k: usize| p.landmarks[k];
    let (hx, hy) = (
        ((hip(23)[0] + hip(24)[0]) / 2.0) as usize,
        ((hip(23)[1] + hip(24)[1]) / 2.0) as usize,
    );
    let i = (hy * w + hx) * 4;
    assert_ne!(
        &out.planes[0][i..i + 3],
        &frame.planes[0][i..i + 3],
        "person not tinted"
    );
    assert_eq!(
        &out.planes[0][..4],
        &frame.planes[0][..4],
        "background corner tinted"
    );
}

#[test]
fn no_person_tiny_odd_and_4k_frames() {
    init();
    for format in PixelFormat::ALL {
        for (w, h) in [(1, 1), (3, 3), (7, 5), (64, 48)] {
            let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 31 % 251) as u8).collect();
            let (out, meta) = run_once(&[], &OwnedFrame::from_rgb(format, w, h, &rgb, 0));
            assert_eq!((out.width, out.height), (w, h));
            assert!(
                meta.persons.is_empty(),
                "{format:?} {w}x{h}: a person in noise"
            );
        }
    }
    let (_, meta) = run_once(&[], &OwnedFrame::new(PixelFormat::Nv12, 3840, 2160, 0));
    assert!(meta.persons.is_empty());
}

#[test]
fn messages_interval_and_flush() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time ! pose post-messages=true draw=false ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let (buf, info) = to_buffer(&frame);
    src.set_caps(Some(&info.to_caps().unwrap()));
    pipeline.set_state(gst::State::Playing).unwrap();
    for n in 0..3u64 {
        let mut b = buf.copy();
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * n));
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let mut messages = 0;
    while let Some(m) = bus.timed_pop(gst::ClockTime::from_seconds(20)) {
        match m.view() {
            gst::MessageView::Element(e)
                if e.structure().is_some_and(|s| s.name() == "aifx-pose") =>
            {
                let s = e.structure().unwrap();
                assert_eq!(s.get::<u32>("persons").unwrap(), 1);
                assert_eq!(
                    s.get::<gst::Array>("person-0-landmarks").unwrap().len(),
                    33 * 5
                );
                messages += 1;
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(messages, 3);

    // interval=2 reuses the landmarks on every other frame; a flush starts a new track.
    let mut hns = harness("pose", &[("interval", "2"), ("draw", "false")], &info);
    let ids: Vec<u64> = (0..4)
        .map(|_| {
            PoseMeta::get(&hns.push_and_pull(buf.copy()).unwrap())
                .unwrap()
                .persons[0]
                .id
        })
        .collect();
    assert_eq!(ids, vec![1, 1, 1, 1]);
    flush(&mut hns, &info);
    let after = PoseMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
    assert_eq!(
        after.persons[0].id, 2,
        "a flush drops the track; the person gets a new id"
    );

    // draw-mask switched on while playing: the landmark model with the segmentation branch
    // is swapped in on the next frame, the track (and its id) goes on, the person is tinted.
    let element = hns.element().unwrap();
    element.set_property("interval", 1u32);
    element.set_property("draw-mask", true);
    let tinted = hns.push_and_pull(buf.copy()).unwrap();
    assert_eq!(PoseMeta::get(&tinted).unwrap().persons[0].id, 2);
    let changed = from_buffer(&tinted, &info, PixelFormat::Rgba).planes[0]
        .iter()
        .zip(&frame.planes[0])
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 1000, "only {changed} bytes changed");
}
