//! Leaves a one-channel output's final pixel shuffle to the reader.
//!
//! The selfie models end in a transposed convolution whose stride equals its kernel; their
//! OpenVINO forms compute it as a 1×1 convolution to kh·kw values per pixel and a pixel
//! shuffle (`Reshape`, `Transpose`, `Reshape`), then the sigmoid. OpenVINO runs that shuffle
//! as a 6-D transpose: 0.11–0.14 ms of selfie's 2.1–2.9 (profiled with OpenVINO 2025.4 on an
//! AVX2 Zen 3). Ending the graph at the kh·kw planes instead (the sigmoid works on each value
//! alone, so it runs before the shuffle as well as after) makes selfie 1.05–1.06× faster, and
//! the shuffle costs the reader a copy of the mask. The graph then says so in its metadata
//! (`aifx.subpixel.<output>` = "kh,kw;d0,d1,…": the block and the output's shape as declared
//! before), and `aifx`'s sessions shuffle such outputs back: every caller sees the model's
//! declared output.

use aifx::subpixel::{Subpixel, KEY};

use crate::onnx::{Attr, Data, Graph};

/// Ends each one-channel output made by a pixel shuffle (and unary ops after it) at the
/// planes before the shuffle; returns the metadata entries that describe them.
pub fn planes_out(g: &mut Graph) -> Vec<(String, String)> {
    let index = g.initializer_index();
    let producer = g.producers();
    let uses = g.use_counts();
    let ints = |name: &str| match g.initializer(&index, name).map(|i| &i.data) {
        Some(Data::I64(v)) => Some(v.clone()),
        _ => None,
    };
    let mut rewrites = Vec::new();
    for (k, out) in g.outputs.iter().enumerate() {
        // Back from the output: [Identity] → Reshape → unary ops → Reshape → Transpose →
        // Reshape, each value read once.
        let node_of = |v: &str| producer.get(v).copied().filter(|_| uses.get(v) == Some(&1));
        // The output read by nothing else (its readers would get the planes).
        if uses.get(&out.name) != Some(&1) {
            continue;
        }
        let Some(mut at) = producer.get(&out.name).copied() else {
            continue;
        };
        if g.nodes[at].op_type == "Identity" {
            let Some(p) = node_of(&g.nodes[at].inputs[0]) else {
                continue;
            };
            at = p;
        }
        let last = at;
        if g.nodes[last].op_type != "Reshape" {
            continue;
        }
        let mut unary = Vec::new();
        let Some(mut p) = node_of(&g.nodes[last].inputs[0]) else {
            continue;
        };
        while matches!(g.nodes[p].op_type.as_str(), "Sigmoid" | "Relu" | "Tanh") {
            unary.push(p);
            let Some(q) = node_of(&g.nodes[p].inputs[0]) else {
                break;
            };
            p = q;
        }
        let joined = p;
        let Some(moved) = node_of(&g.nodes[joined].inputs[0]) else {
            continue;
        };
        let Some(split) = node_of(&g.nodes[moved].inputs[0]) else {
            continue;
        };
        let (j, m, s) = (&g.nodes[joined], &g.nodes[moved], &g.nodes[split]);
        let perm = match m.attr("perm") {
            Some(Attr::Ints(p)) => Some(p.clone()),
            _ => None,
        };
        let shapes = (
            s.inputs.get(1).and_then(|v| ints(v)),
            j.inputs.get(1).and_then(|v| ints(v)),
        );
        let fits = j.op_type == "Reshape"
            && m.op_type == "Transpose"
            && s.op_type == "Reshape"
            && perm.as_deref() == Some(&[0, 3, 4, 1, 5, 2][..]);
        let (Some(split_shape), Some(_)) = shapes else {
            continue;
        };
        // N×kh×kw×1×H×W: one output channel, so the final reshape (to NHWC) only relabels.
        let &[n, kh, kw, 1, h, w] = &split_shape[..] else {
            continue;
        };
        // What `aifx`'s sessions accept (blocks up to 16, no empty dims).
        let block = 1..=aifx::subpixel::MAX_BLOCK as i64;
        let sane = block.contains(&kh)
            && block.contains(&kw)
            && n > 0
            && h > 0
            && w > 0
            && out.dims.iter().all(|&d| d > 0);
        if !fits || !sane {
            continue;
        }
        rewrites.push((k, last, unary, split, [n, kh, kw, h, w]));
    }
    let mut metadata = Vec::new();
    for (k, last, unary, split, [n, kh, kw, h, w]) in rewrites {
        let planes = g.nodes[split].inputs[0].clone();
        let declared = g.outputs[k].dims.clone();
        // The unary ops (first made, last in the list) read the planes; the final reshape
        // goes, the output reads the last unary op.
        let value = match unary.last() {
            Some(&first) => {
                g.nodes[first].inputs[0] = planes;
                g.nodes[unary[0]].outputs[0].clone()
            }
            None => planes,
        };
        let reader = g.nodes[last].outputs[0].clone();
        for node in &mut g.nodes {
            for input in &mut node.inputs {
                if *input == reader {
                    *input = value.clone();
                }
            }
        }
        if g.outputs[k].name == reader {
            // The reshape made the output itself: an identity keeps its name.
            g.nodes[last] = crate::onnx::Node {
                op_type: "Identity".into(),
                inputs: vec![value],
                outputs: vec![reader],
                attrs: vec![],
            };
        }
        let out = &mut g.outputs[k];
        out.dims = vec![n, kh * kw, h, w];
        // The layout `aifx`'s sessions read (every dim checked positive above).
        let layout = Subpixel {
            kh: kh as usize,
            kw: kw as usize,
            dims: declared.iter().map(|&d| d as usize).collect(),
        };
        metadata.push((format!("{KEY}{}", out.name), layout.value()));
    }
    g.prune();
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{ValueInfo, FLOAT};

    /// x (1×16×8×8) → Conv 1×1 to 4 → shuffle (2×2, one channel) → Sigmoid → Reshape to NHWC
    /// → Identity → `mask`.
    fn shuffled(channels_out: i64) -> Graph {
        let mut g = Graph::new("t");
        let w = g.const_f32("w", &[4, 16, 1, 1], vec![0.1; 64]);
        let taps = g.op("Conv", &["x", &w], vec![]);
        let split = g.const_i64("shape", &[1, 2, 2, channels_out, 8, 8]);
        let split = g.op("Reshape", &[&taps, &split], vec![]);
        let moved = g.op(
            "Transpose",
            &[&split],
            vec![("perm", Attr::Ints(vec![0, 3, 4, 1, 5, 2]))],
        );
        let joined = g.const_i64("shape", &[1, channels_out, 16, 16]);
        let joined = g.op("Reshape", &[&moved, &joined], vec![]);
        let s = g.op("Sigmoid", &[&joined], vec![]);
        let nhwc = g.const_i64("shape", &[1, 16, 16, channels_out]);
        let nhwc = g.op("Reshape", &[&s, &nhwc], vec![]);
        g.op_into("Identity", &[&nhwc], "mask", vec![]);
        g.outputs.push(ValueInfo {
            name: "mask".into(),
            elem_type: FLOAT,
            dims: vec![1, 16, 16, channels_out],
        });
        g
    }

    #[test]
    fn a_shuffled_mask_ends_at_its_planes() {
        let mut g = shuffled(1);
        let meta = planes_out(&mut g);
        assert_eq!(
            meta,
            [("aifx.subpixel.mask".into(), "2,2;1,16,16,1".into())]
        );
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Sigmoid", "Identity"]);
        assert_eq!(g.nodes[1].inputs[0], g.nodes[0].outputs[0]);
        assert_eq!(g.outputs[0].dims, [1, 4, 8, 8]);
    }

    #[test]
    fn other_outputs_stay() {
        // Two channels: the final reshape would not only relabel.
        let mut g = shuffled(2);
        assert!(planes_out(&mut g).is_empty());
        assert_eq!(g.nodes.len(), 7);
        // Another permutation.
        let mut g = shuffled(1);
        g.nodes[2].attrs[0].1 = Attr::Ints(vec![0, 3, 1, 4, 2, 5]);
        assert!(planes_out(&mut g).is_empty());
    }
}
