//! Custom buffer metas that carry analysis results between elements and to applications.
//!
//! Built on GStreamer's custom metas (a named `GstStructure` per buffer), so any language
//! binding can read them too; this module is the typed Rust API over them.
//!
//! Both metas are tagged `video` and `size` and follow the picture: a buffer copy copies
//! them, a scale (`videoscale`, `videoconvertscale`) rescales their coordinates to the new
//! frame size, and any other transform (a crop, a rotation, an element that does not say what
//! it did) drops them rather than leave coordinates that no longer fit the picture.

use std::ffi::c_char;

use gst::glib;
use gst::glib::translate::IntoGlib;

/// Name of the person-mask meta `segment` attaches to every buffer.
pub const MASK_META: &str = "AifxMaskMeta";

/// Registers the metas (idempotent; called from `plugin_init`).
pub fn register() {
    for (name, c_name) in [(MASK_META, c"AifxMaskMeta"), (POSE_META, c"AifxPoseMeta")] {
        if gst::meta::CustomMeta::is_registered(name) {
            continue;
        }
        let mut tags: [*const c_char; 4] = [
            c"video".as_ptr(),
            c"size".as_ptr(),
            c"orientation".as_ptr(),
            std::ptr::null(),
        ];
        // SAFETY: FFI boundary. The name and tags are static NUL-terminated strings (GStreamer
        // copies what it keeps); the tag array ends with NULL; the transform function matches
        // GstCustomMetaTransformFunction and needs no user data.
        unsafe {
            gst::ffi::gst_meta_register_custom(
                c_name.as_ptr(),
                tags.as_mut_ptr(),
                Some(transform_meta),
                std::ptr::null_mut(),
                None,
            );
        }
    }
}

/// What happened to a buffer carrying a meta.
enum Transform {
    Copy,
    /// From the first frame size to the second.
    Scale((u32, u32), (u32, u32)),
}

/// The meta transform GStreamer calls when a buffer is copied or transformed: `meta` on
/// `src` is re-added to `dest` for a copy, rescaled for a scale, and dropped otherwise.
unsafe extern "C" fn transform_meta(
    dest: *mut gst::ffi::GstBuffer,
    meta: *mut gst::ffi::GstCustomMeta,
    src: *mut gst::ffi::GstBuffer,
    kind: glib::ffi::GQuark,
    data: glib::ffi::gpointer,
    _user_data: glib::ffi::gpointer,
) -> glib::ffi::gboolean {
    let copy = glib::Quark::from_str("gst-copy").into_glib();
    // SAFETY: FFI boundary. GStreamer passes a valid scale quark getter, and for the scale
    // transform `data` is a GstVideoMetaTransform whose video infos outlive this call.
    let scale = unsafe { gst_video::ffi::gst_video_meta_transform_scale_get_quark() };
    let transform = if kind == copy {
        Transform::Copy
    } else if kind == scale && !data.is_null() {
        // SAFETY: see above; `data` is non-null and of the scale transform's type.
        let t = unsafe { &*(data as *const gst_video::ffi::GstVideoMetaTransform) };
        if t.in_info.is_null() || t.out_info.is_null() {
            return glib::ffi::GFALSE;
        }
        // SAFETY: both infos are non-null and valid for the call.
        let (i, o) = unsafe { (&*t.in_info, &*t.out_info) };
        Transform::Scale(
            (i.width.max(0) as u32, i.height.max(0) as u32),
            (o.width.max(0) as u32, o.height.max(0) as u32),
        )
    } else {
        // Unknown transform: the meta is not carried over.
        return glib::ffi::GFALSE;
    };
    // SAFETY: FFI boundary. `src` and `dest` are valid buffers for the call and `dest` is
    // writable (GStreamer transforms metas into buffers it is filling); `meta` lives on `src`.
    let (src, dest, name) = unsafe {
        let meta = &*(meta as *const gst::meta::CustomMeta);
        (
            gst::BufferRef::from_ptr(src),
            gst::BufferRef::from_mut_ptr(dest),
            meta.structure().name().to_string(),
        )
    };
    // Never unwind into GStreamer.
    let carried = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match name.as_str() {
        MASK_META => MaskMeta::get(src).map(|m| m.transformed(&transform).add(dest).is_ok()),
        POSE_META => PoseMeta::get(src).map(|m| m.transformed(&transform).add(dest).is_ok()),
        _ => None,
    }));
    matches!(carried, Ok(Some(true))).into_glib()
}

/// A person matte at model resolution and how it maps onto the frame: mask pixel (x, y)
/// covers frame pixels (x·W/w … (x+1)·W/w, y·H/h … (y+1)·H/h), i.e. the whole frame is
/// stretched onto the mask.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskMeta {
    pub width: u32,
    pub height: u32,
    /// Person probability 0–255, row-major, `width`×`height`.
    pub data: Vec<u8>,
    pub frame_width: u32,
    pub frame_height: u32,
    /// True when the model ran on this buffer; false when an earlier mask was reused.
    pub inferred: bool,
}

impl MaskMeta {
    /// The mask stretched over the frame stays stretched over the scaled frame.
    fn transformed(mut self, t: &Transform) -> Self {
        if let Transform::Scale(_, (w, h)) = *t {
            (self.frame_width, self.frame_height) = (w, h);
        }
        self
    }

    /// Probability (0–1) at a frame pixel, nearest mask sample.
    pub fn at_frame(&self, x: u32, y: u32) -> f32 {
        let mx = (u64::from(x) * u64::from(self.width) / u64::from(self.frame_width.max(1)))
            .min(u64::from(self.width - 1));
        let my = (u64::from(y) * u64::from(self.height) / u64::from(self.frame_height.max(1)))
            .min(u64::from(self.height - 1));
        f32::from(self.data[(my * u64::from(self.width) + mx) as usize]) / 255.0
    }

    /// Probability (0–1) at a frame pixel, bilinear with pixel centres aligned — the same
    /// mapping `segment` uses to upsample the mask when edge refinement is off.
    pub fn sample(&self, x: u32, y: u32) -> f32 {
        let (w, h) = (self.width as usize, self.height as usize);
        let coord = |v: u32, n: usize, frame: u32| {
            let s = ((v as f32 + 0.5) * n as f32 / frame.max(1) as f32 - 0.5)
                .clamp(0.0, (n - 1) as f32);
            let i = s.floor() as usize;
            (i, (i + 1).min(n - 1), s - i as f32)
        };
        let (x0, x1, fx) = coord(x, w, self.frame_width);
        let (y0, y1, fy) = coord(y, h, self.frame_height);
        let p = |x: usize, y: usize| f32::from(self.data[y * w + x]) / 255.0;
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
        let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
        top + (bottom - top) * fy
    }

    /// Attaches (or replaces) the meta on a buffer.
    pub fn add(&self, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
        if let Ok(existing) = gst::meta::CustomMeta::from_mut_buffer(buffer, MASK_META) {
            existing.remove()?;
        }
        let mut meta = gst::meta::CustomMeta::add(buffer, MASK_META)?;
        let s = meta.mut_structure();
        s.set("width", self.width);
        s.set("height", self.height);
        s.set("data", glib::Bytes::from(&self.data[..]));
        s.set("frame-width", self.frame_width);
        s.set("frame-height", self.frame_height);
        s.set("inferred", self.inferred);
        Ok(())
    }

    /// Reads the meta from a buffer, if present and well-formed.
    pub fn get(buffer: &gst::BufferRef) -> Option<MaskMeta> {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, MASK_META).ok()?;
        let s = meta.structure();
        let m = MaskMeta {
            width: s.get("width").ok()?,
            height: s.get("height").ok()?,
            data: s.get::<glib::Bytes>("data").ok()?.to_vec(),
            frame_width: s.get("frame-width").ok()?,
            frame_height: s.get("frame-height").ok()?,
            inferred: s.get("inferred").ok()?,
        };
        (m.width > 0 && m.height > 0 && m.data.len() == (m.width * m.height) as usize).then_some(m)
    }
}

/// Name of the pose meta `pose` attaches to every buffer.
pub const POSE_META: &str = "AifxPoseMeta";

/// Values stored per person in the meta's `data` bytes (f32, little-endian): score,
/// 33 × [x, y, z, visibility, presence] in frame pixels, 33 × [x, y, z] world landmarks in
/// metres. The person ids are in `ids` (u64, little-endian, one per person): an id stored as
/// f32 would stop being exact past 2^24. Each person's size is in `sizes` (f32,
/// little-endian, one per person; a meta without it reads as sizes 0).
pub const POSE_VALUES_PER_PERSON: usize = 1 + 33 * 5 + 33 * 3;

/// One person in a [`PoseMeta`].
#[derive(Debug, Clone, PartialEq)]
pub struct PosePerson {
    pub id: u64,
    pub score: f32,
    /// The side of the person's tracking square before it is enlarged, in frame pixels
    /// (MediaPipe pose's object scale, what `temporalsmooth` scales its keypoint filter by);
    /// 0 when not known.
    pub size: f32,
    /// 33 × [x, y, z, visibility, presence], x/y in frame pixels, z on the x scale.
    pub landmarks: Vec<[f32; 5]>,
    /// 33 × [x, y, z] in metres, hip-centred.
    pub world: Vec<[f32; 3]>,
}

/// The people `pose` found in a buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoseMeta {
    pub persons: Vec<PosePerson>,
    /// True when the models ran on this buffer (false when `interval` reused earlier
    /// landmarks).
    pub inferred: bool,
    /// The size of the frame the pixel coordinates refer to (0 when not known).
    pub frame_width: u32,
    pub frame_height: u32,
}

impl PoseMeta {
    /// The `aifx-pose` message's structure: per person its landmarks as GStreamer arrays
    /// (what `gst-launch-1.0 -m` prints and python3-gst reads) and as bytes in the meta's
    /// layout (`person-K-data`: score, 33 × [x, y, z, visibility, presence], 33 × [x, y, z]
    /// world, all little-endian f32), which plain PyGObject reads (it cannot convert
    /// GstValueArray).
    pub fn to_structure(
        &self,
        pts: Option<gst::ClockTime>,
        running_time: Option<gst::ClockTime>,
    ) -> gst::Structure {
        let mut b = gst::Structure::builder("aifx-pose")
            .field("timestamp", pts.map_or(u64::MAX, |t| t.nseconds()))
            .field(
                "running-time",
                running_time.map_or(u64::MAX, |t| t.nseconds()),
            )
            .field("frame-width", self.frame_width)
            .field("frame-height", self.frame_height)
            .field("persons", self.persons.len() as u32);
        let array = |values: &mut dyn Iterator<Item = f32>| {
            gst::Array::from_values(
                values.map(|v| glib::value::ToSendValue::to_send_value(&f64::from(v))),
            )
        };
        for (k, p) in self.persons.iter().enumerate() {
            let bytes: Vec<u8> = std::iter::once(p.score)
                .chain(p.landmarks.iter().flatten().copied())
                .chain(p.world.iter().flatten().copied())
                .flat_map(f32::to_le_bytes)
                .collect();
            b = b
                .field(format!("person-{k}-id"), p.id)
                .field(format!("person-{k}-score"), f64::from(p.score))
                .field(format!("person-{k}-size"), f64::from(p.size))
                .field(
                    format!("person-{k}-landmarks"),
                    array(&mut p.landmarks.iter().flatten().copied()),
                )
                .field(
                    format!("person-{k}-world"),
                    array(&mut p.world.iter().flatten().copied()),
                )
                .field(format!("person-{k}-data"), glib::Bytes::from_owned(bytes));
        }
        b.build()
    }

    /// Pixel coordinates follow a scale (z on the x scale, as MediaPipe's); world landmarks
    /// are in metres and do not change.
    fn transformed(mut self, t: &Transform) -> Self {
        if let Transform::Scale((iw, ih), (ow, oh)) = *t {
            let (sx, sy) = (ow as f32 / iw.max(1) as f32, oh as f32 / ih.max(1) as f32);
            for p in &mut self.persons {
                for l in &mut p.landmarks {
                    (l[0], l[1], l[2]) = (l[0] * sx, l[1] * sy, l[2] * sx);
                }
                // A square's mean side under a scale that may differ per axis.
                p.size *= (sx + sy) / 2.0;
            }
            (self.frame_width, self.frame_height) = (ow, oh);
        }
        self
    }

    /// Attaches (or replaces) the meta on a buffer.
    pub fn add(&self, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
        if let Ok(existing) = gst::meta::CustomMeta::from_mut_buffer(buffer, POSE_META) {
            existing.remove()?;
        }
        let mut values: Vec<f32> = Vec::with_capacity(self.persons.len() * POSE_VALUES_PER_PERSON);
        for p in &self.persons {
            values.push(p.score);
            values.extend(p.landmarks.iter().flatten());
            values.extend(p.world.iter().flatten());
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut meta = gst::meta::CustomMeta::add(buffer, POSE_META)?;
        let s = meta.mut_structure();
        s.set("persons", self.persons.len() as u32);
        s.set("inferred", self.inferred);
        s.set("frame-width", self.frame_width);
        s.set("frame-height", self.frame_height);
        s.set("data", glib::Bytes::from_owned(bytes));
        s.set("ids", self.per_person(|p| p.id.to_le_bytes()));
        s.set("sizes", self.per_person(|p| p.size.to_le_bytes()));
        Ok(())
    }

    /// One little-endian value per person, as the meta's `ids` and `sizes` hold them.
    fn per_person<const N: usize>(&self, value: impl Fn(&PosePerson) -> [u8; N]) -> glib::Bytes {
        glib::Bytes::from_owned(self.persons.iter().flat_map(value).collect::<Vec<u8>>())
    }

    /// Reads the meta from a buffer, if present and well-formed.
    pub fn get(buffer: &gst::BufferRef) -> Option<PoseMeta> {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, POSE_META).ok()?;
        let s = meta.structure();
        let n = s.get::<u32>("persons").ok()? as usize;
        let bytes = s.get::<glib::Bytes>("data").ok()?;
        let ids = s.get::<glib::Bytes>("ids").ok()?;
        if bytes.len() != n * POSE_VALUES_PER_PERSON * 4 || ids.len() != n * 8 {
            return None;
        }
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        let v = floats(&bytes);
        // Sizes came later than the rest: a meta without them (or with a wrong count) reads
        // as sizes not known.
        let sizes = s
            .get::<glib::Bytes>("sizes")
            .ok()
            .filter(|b| b.len() == n * 4)
            .map_or_else(|| vec![0.0; n], |b| floats(&b));
        let persons = v
            .chunks_exact(POSE_VALUES_PER_PERSON)
            .zip(ids.chunks_exact(8))
            .zip(sizes)
            .map(|((c, id), size)| PosePerson {
                id: u64::from_le_bytes(id.try_into().expect("8 bytes")),
                score: c[0],
                size,
                landmarks: c[1..1 + 165]
                    .chunks_exact(5)
                    .map(|l| [l[0], l[1], l[2], l[3], l[4]])
                    .collect(),
                world: c[166..]
                    .chunks_exact(3)
                    .map(|w| [w[0], w[1], w[2]])
                    .collect(),
            })
            .collect();
        Some(PoseMeta {
            persons,
            inferred: s.get("inferred").ok()?,
            frame_width: s.get("frame-width").unwrap_or(0),
            frame_height: s.get("frame-height").unwrap_or(0),
        })
    }
}
