//! Model files are untrusted input: truncated, bit-flipped and absurd files must give an
//! error — never a panic, a hang or a huge allocation. Uses the real TFLite files the set-up
//! extracted, plus hand-built flatbuffers with hostile shapes.

use std::time::{Duration, Instant};

use aifx_models::catalog::{Catalog, BUILTIN};
use aifx_models::convert::{convert_bytes, convert_bytes_keeping, convert_forms, Forms};
use aifx_models::store::Store;

fn real_models() -> Vec<(String, Vec<u8>)> {
    let catalog = Catalog::parse(BUILTIN).unwrap();
    let store = Store::new(aifx::paths::default_model_dir());
    let mut v = Vec::new();
    for name in ["selfie", "pose-detection", "face-landmark"] {
        let m = catalog.find(name).unwrap();
        let bytes = std::fs::read(store.tflite(m)).expect("run `make test` to extract the models");
        v.push((name.to_string(), bytes));
    }
    v
}

/// Converts, turning a panic into a test failure that names the case.
fn must_not_panic(bytes: &[u8], case: &str) -> bool {
    let t = Instant::now();
    let r = std::panic::catch_unwind(|| {
        let ok = convert_bytes(bytes, "hostile", &[]).is_ok();
        // OpenVINO's forms take other paths through the same operators.
        if let Ok(model) = aifx_models::tflite::Model::parse(bytes) {
            let _ = convert_forms(&model, "hostile", &[], &[], Forms::OpenVino);
        }
        ok
    });
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "{case}: took {:?}",
        t.elapsed()
    );
    match r {
        Ok(ok) => ok,
        Err(_) => panic!("{case}: the converter panicked"),
    }
}

/// A small deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_files_are_errors() {
    for (name, bytes) in real_models() {
        let mut cuts: Vec<usize> = vec![0, 1, 4, 7, 8, 16, 64, 1000];
        cuts.extend((1..24).map(|k| bytes.len() * k / 24));
        cuts.push(bytes.len() - 1);
        for cut in cuts {
            let ok = must_not_panic(&bytes[..cut], &format!("{name} truncated to {cut}"));
            // The file's tail holds metadata and padding the converter never reads, so only
            // cuts into the body must be refused.
            if cut <= bytes.len() * 22 / 24 {
                assert!(
                    !ok,
                    "{name} truncated to {cut} bytes converted without error"
                );
            }
        }
    }
}

#[test]
fn bit_flipped_files_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for (name, bytes) in real_models() {
        // Flip bits in the flatbuffer's structure (the first and last 64 KiB hold vtables,
        // offsets and shapes; the middle is mostly weights) and a few anywhere.
        for round in 0..40 {
            let mut b = bytes.clone();
            for _ in 0..(1 + round % 4) {
                let region = (rng.next() % 3) as usize;
                let len = b.len();
                let pos = match region {
                    0 => (rng.next() as usize) % len.min(65536),
                    1 => len - 1 - (rng.next() as usize) % len.min(65536),
                    _ => (rng.next() as usize) % len,
                };
                b[pos] ^= 1 << (rng.next() % 8);
            }
            must_not_panic(&b, &format!("{name} flip round {round}"));
        }
    }
}

#[test]
fn garbage_is_an_error() {
    let mut rng = Rng(42);
    for len in [8usize, 100, 4096] {
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(!must_not_panic(&b, "random bytes"));
        // With the right identifier the reader gets further before refusing.
        b[4..8].copy_from_slice(b"TFL3");
        assert!(!must_not_panic(&b, "random bytes with TFL3"));
    }
}

// --- a tiny FlatBuffer writer for hand-made hostile models --------------------------------

/// A field value; tables and vectors are written after their parent and linked by offset.
enum V {
    U8(u8),
    I32(i32),
    U32(u32),
    Table(Vec<Option<V>>),
    I32s(Vec<i32>),
    Bytes(Vec<u8>),
    Tables(Vec<V>),
}

fn align(buf: &mut Vec<u8>, n: usize) {
    while !buf.len().is_multiple_of(n) {
        buf.push(0);
    }
}

fn patch(buf: &mut [u8], at: usize, target: usize) {
    buf[at..at + 4].copy_from_slice(&((target - at) as u32).to_le_bytes());
}

fn write_child(buf: &mut Vec<u8>, v: &V) -> usize {
    align(buf, 4);
    match v {
        V::Table(fields) => write_table(buf, fields),
        V::I32s(items) => {
            let at = buf.len();
            buf.extend((items.len() as u32).to_le_bytes());
            for i in items {
                buf.extend(i.to_le_bytes());
            }
            at
        }
        V::Bytes(b) => {
            let at = buf.len();
            buf.extend((b.len() as u32).to_le_bytes());
            buf.extend(b);
            buf.push(0);
            at
        }
        V::Tables(items) => {
            let at = buf.len();
            buf.extend((items.len() as u32).to_le_bytes());
            let slots: Vec<usize> = items
                .iter()
                .map(|_| {
                    buf.extend([0u8; 4]);
                    buf.len() - 4
                })
                .collect();
            for (slot, item) in slots.into_iter().zip(items) {
                let child = write_child(buf, item);
                patch(buf, slot, child);
            }
            at
        }
        _ => unreachable!("scalars are written inline"),
    }
}

fn write_table(buf: &mut Vec<u8>, fields: &[Option<V>]) -> usize {
    // Inline layout: soffset, then each present field in 4-byte slots.
    let mut offsets = Vec::new();
    let mut size = 4usize;
    for f in fields {
        match f {
            None => offsets.push(0u16),
            Some(_) => {
                offsets.push(size as u16);
                size += 4;
            }
        }
    }
    let vtable = buf.len();
    buf.extend(((4 + 2 * fields.len()) as u16).to_le_bytes());
    buf.extend((size as u16).to_le_bytes());
    for o in &offsets {
        buf.extend(o.to_le_bytes());
    }
    align(buf, 4);
    let table = buf.len();
    buf.extend(((table - vtable) as i32).to_le_bytes());
    let mut pending = Vec::new();
    for f in fields.iter().flatten() {
        match f {
            V::U8(v) => buf.extend([*v, 0, 0, 0]),
            V::I32(v) => buf.extend(v.to_le_bytes()),
            V::U32(v) => buf.extend(v.to_le_bytes()),
            child => {
                pending.push((buf.len(), child));
                buf.extend([0u8; 4]);
            }
        }
    }
    for (slot, child) in pending {
        let at = write_child(buf, child);
        patch(buf, slot, at);
    }
    table
}

fn model_bytes(root: Vec<Option<V>>) -> Vec<u8> {
    let mut buf = vec![0u8; 4];
    buf.extend(b"TFL3");
    let at = write_child(&mut buf, &V::Table(root));
    patch(&mut buf, 0, at);
    buf
}

fn tensor(shape: Vec<i32>, ty: u8, buffer: u32) -> V {
    V::Table(vec![
        Some(V::I32s(shape)),
        Some(V::U8(ty)),
        Some(V::U32(buffer)),
        Some(V::Bytes(b"t".to_vec())),
    ])
}

/// A one-operator model: input → op(options) → output, with an optional weight tensor.
fn one_op_model(
    builtin: i32,
    input: Vec<i32>,
    weights: Option<(Vec<i32>, Vec<u8>)>,
    output: Vec<i32>,
    options: Option<(u8, V)>,
) -> Vec<u8> {
    let mut tensors = vec![tensor(input, 0, 0)];
    let mut buffers = vec![V::Table(vec![])];
    let mut op_inputs = vec![0];
    if let Some((shape, data)) = weights {
        buffers.push(V::Table(vec![Some(V::Bytes(data))]));
        tensors.push(tensor(shape, 0, 1));
        op_inputs.push(1);
    }
    let out_idx = tensors.len() as i32;
    tensors.push(tensor(output, 0, 0));
    let (opt_type, opt) = match options {
        Some((t, v)) => (Some(V::U8(t)), Some(v)),
        None => (None, None),
    };
    let op = V::Table(vec![
        Some(V::U32(0)),
        Some(V::I32s(op_inputs)),
        Some(V::I32s(vec![out_idx])),
        opt_type,
        opt,
    ]);
    let subgraph = V::Table(vec![
        Some(V::Tables(tensors)),
        Some(V::I32s(vec![0])),
        Some(V::I32s(vec![out_idx])),
        Some(V::Tables(vec![op])),
    ]);
    let opcode = V::Table(vec![
        Some(V::U8(builtin.min(127) as u8)),
        None,
        Some(V::I32(1)),
        Some(V::I32(builtin)),
    ]);
    model_bytes(vec![
        Some(V::U32(3)),
        Some(V::Tables(vec![opcode])),
        Some(V::Tables(vec![subgraph])),
        None,
        Some(V::Tables(buffers)),
    ])
}

#[test]
fn a_hand_built_model_converts() {
    // RELU on 1×4×4×2: proves the writer makes valid files, so the refusals below are real.
    let b = one_op_model(19, vec![1, 4, 4, 2], None, vec![1, 4, 4, 2], None);
    let c = convert_bytes(&b, "relu", &[]).expect("valid hand-built model");
    assert_eq!(c.inputs[0].1, vec![1, 4, 4, 2]);
}

#[test]
fn keeping_an_output_the_model_lacks_is_an_error() {
    let b = one_op_model(19, vec![1, 4, 4, 2], None, vec![1, 4, 4, 2], None);
    let out = convert_bytes(&b, "relu", &[]).unwrap().outputs[0].0.clone();
    assert!(convert_bytes_keeping(&b, "relu", &[], &[out]).is_ok());
    let e = convert_bytes_keeping(&b, "relu", &[], &["segmentation".into()])
        .err()
        .expect("a missing output is refused")
        .to_string();
    assert!(e.contains("no output `segmentation`"), "{e}");
}

#[test]
fn absurd_dimensions_are_refused_quickly() {
    let huge = vec![1, 1 << 30, 1 << 30, 3];
    let b = one_op_model(19, huge.clone(), None, huge, None);
    let e = convert_bytes(&b, "huge", &[])
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("over the limit"), "{e}");

    let negative = vec![1, -5, 4, 3];
    let b = one_op_model(19, negative.clone(), None, negative, None);
    assert!(convert_bytes(&b, "negative", &[]).is_err());

    // Found by the fuzzer: huge dimensions beside a zero, on a constant with data.
    let conv_opts = V::Table(vec![Some(V::U8(0)), Some(V::I32(1)), Some(V::I32(1))]);
    let zero_huge = vec![1 << 27, 1 << 27, 1 << 27, 0];
    let b = one_op_model(
        3,
        vec![1, 4, 4, 2],
        Some((zero_huge, vec![0, 0, 128, 63])),
        vec![1, 4, 4, 8],
        Some((1, conv_opts)),
    );
    assert!(convert_bytes(&b, "zero beside huge", &[]).is_err());

    let deep = vec![1; 40];
    let b = one_op_model(19, deep.clone(), None, deep, None);
    assert!(convert_bytes(&b, "rank 40", &[]).is_err());
}

#[test]
fn weights_that_do_not_match_their_shape_are_refused() {
    // CONV_2D whose weight tensor claims 8×3×3×2 but stores 4 bytes.
    let conv_opts = V::Table(vec![Some(V::U8(0)), Some(V::I32(1)), Some(V::I32(1))]);
    let b = one_op_model(
        3,
        vec![1, 4, 4, 2],
        Some((vec![8, 3, 3, 2], vec![0, 0, 128, 63])),
        vec![1, 4, 4, 8],
        Some((1, conv_opts)),
    );
    let e = convert_bytes(&b, "short weights", &[])
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("values for shape"), "{e}");
}

#[test]
fn unknown_operators_are_named() {
    // SOFTMAX (25) is outside the supported set.
    let b = one_op_model(25, vec![1, 10], None, vec![1, 10], None);
    let e = convert_bytes(&b, "my-model", &[])
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("SOFTMAX") && e.contains("my-model"), "{e}");
}
