//! Folds a zero `Pad` into the `Conv` that reads it (through a layout `Transpose` or not):
//! `Conv(pads = p + q)` computes what `Conv(pads = p)` of the zero-padded tensor does.
//!
//! TFLite pads explicitly where TensorFlow's padding is asymmetric; BlazePose's models start
//! with `input (NHWC) → Pad → Transpose → Conv`. OpenVINO's CPU plugin fuses a model input's
//! layout transpose into its input reorder, but not across the `Pad`: pose-landmark-full
//! spent 0.36 ms of its 3.9 on that pad, a bf16 transpose and a reorder (profiled with
//! OpenVINO 2025.4, bf16 hint, Zen 4). The same function, exactly.

use std::collections::HashSet;

use crate::onnx::{Attr, Graph, Node};

/// Applies the fold to every `Conv` of `g` it fits; returns how many pads were folded. The
/// pads left without readers are for [`Graph::prune`] to drop.
pub fn fold_zero_pads(g: &mut Graph) -> usize {
    let uses = g.use_counts();
    let producer = g.producers();
    let init = g.initializer_index();
    let single_use = |name: &str| uses.get(name) == Some(&1);
    // A convolution that can take a fold: explicit 2-D pads.
    let foldable = |n: &Node| {
        n.op_type == "Conv"
            && n.attr("auto_pad").is_none()
            && matches!(n.attr("pads"), Some(Attr::Ints(p)) if p.len() == 4)
    };
    // Values read by something that cannot take a fold (any node but such a convolution),
    // or graph outputs. A pad read only by such convolutions (BlazePose's detector feeds both
    // branches of a strided block from one pad) folds into each.
    let mut read_otherwise: HashSet<String> = g.outputs.iter().map(|o| o.name.clone()).collect();
    for n in g.nodes.iter().filter(|n| !foldable(n)) {
        read_otherwise.extend(n.inputs.iter().cloned());
    }
    let mut folded = 0;
    for c in 0..g.nodes.len() {
        let conv = &g.nodes[c];
        if !foldable(conv) {
            continue;
        }
        let Some(Attr::Ints(conv_pads)) = conv.attr("pads").cloned() else {
            continue;
        };
        // Conv ← [Transpose ←] Pad, each read only by the next (a pad read by convolutions
        // only may have several).
        let Some(&first) = producer.get(&conv.inputs[0]) else {
            continue;
        };
        let (transpose, pad) = if g.nodes[first].op_type == "Transpose" {
            let t = &g.nodes[first];
            match producer.get(&t.inputs[0]) {
                Some(&p) if single_use(&t.inputs[0]) && single_use(&conv.inputs[0]) => {
                    (Some(first), p)
                }
                _ => continue,
            }
        } else if !read_otherwise.contains(&conv.inputs[0]) {
            (None, first)
        } else {
            continue;
        };
        let Some(pads) = g.zero_pads(&init, &g.nodes[pad]).map(<[i64]>::to_vec) else {
            continue;
        };
        if pads.len() != 8 || pads.iter().any(|&v| v < 0) {
            continue;
        }
        // Pads per axis of the convolution's input (NCHW).
        let perm: Vec<usize> = match transpose.map(|t| g.nodes[t].attr("perm")) {
            None => (0..4).collect(),
            Some(Some(Attr::Ints(perm))) if perm.len() == 4 => {
                perm.iter().map(|&a| a as usize).collect()
            }
            Some(_) => continue,
        };
        if perm.iter().any(|&a| a > 3) {
            continue;
        }
        let (begin, end): (Vec<i64>, Vec<i64>) =
            perm.iter().map(|&a| (pads[a], pads[4 + a])).unzip();
        if begin[..2].iter().chain(&end[..2]).any(|&v| v != 0) {
            continue;
        }
        let source = g.nodes[pad].inputs[0].clone();
        let merged = vec![
            conv_pads[0] + begin[2],
            conv_pads[1] + begin[3],
            conv_pads[2] + end[2],
            conv_pads[3] + end[3],
        ];
        match transpose {
            Some(t) => g.nodes[t].inputs[0] = source,
            None => g.nodes[c].inputs[0] = source,
        }
        for (k, v) in &mut g.nodes[c].attrs {
            if k == "pads" {
                *v = Attr::Ints(merged.clone());
            }
        }
        folded += 1;
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::Data;

    /// input (NHWC) → Pad(H: 0/1, W: 0/1) → Transpose → Conv(pads 0) → y
    fn padded_input(pad_value: Option<f32>) -> Graph {
        let mut g = Graph::new("t");
        let pads = g.const_i64("pads", &[0, 0, 0, 0, 0, 1, 1, 0]);
        let mut inputs = vec!["x".to_string(), pads];
        if let Some(v) = pad_value {
            inputs.push(g.const_f32("value", &[], vec![v]));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let p = g.op("Pad", &refs, vec![]);
        let t = g.op(
            "Transpose",
            &[&p],
            vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))],
        );
        let w = g.const_f32("w", &[1, 1, 3, 3], vec![1.0; 9]);
        g.op_into(
            "Conv",
            &[&t, &w],
            "y",
            vec![
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![0, 0, 0, 0])),
            ],
        );
        g.outputs.push(crate::onnx::ValueInfo {
            name: "y".into(),
            elem_type: crate::onnx::FLOAT,
            dims: vec![],
        });
        g
    }

    fn conv_pads(g: &Graph) -> Vec<i64> {
        let conv = g.nodes.iter().find(|n| n.op_type == "Conv").unwrap();
        match conv.attr("pads") {
            Some(Attr::Ints(p)) => p.clone(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_zero_pad_behind_a_transpose_moves_into_the_conv() {
        let mut g = padded_input(None);
        assert_eq!(fold_zero_pads(&mut g), 1);
        g.prune();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Transpose", "Conv"]);
        assert_eq!(g.nodes[0].inputs[0], "x");
        // NHWC pads (H 0/1, W 0/1) are the conv's [top, left, bottom, right] = [0, 0, 1, 1].
        assert_eq!(conv_pads(&g), [0, 0, 1, 1]);
    }

    #[test]
    fn only_zero_pads_of_the_spatial_axes_fold() {
        let mut g = padded_input(Some(0.0));
        assert_eq!(fold_zero_pads(&mut g), 1);
        let mut g = padded_input(Some(1.0));
        assert_eq!(fold_zero_pads(&mut g), 0);
        // Channel padding (BlazePose's residual joins) stays a Pad.
        let mut g = padded_input(None);
        g.initializers[0].data = Data::I64(vec![0, 0, 0, 0, 0, 0, 0, 8]);
        assert_eq!(fold_zero_pads(&mut g), 0);
        // So does an edge pad (OpenVINO's form of an upsampling).
        let mut g = padded_input(None);
        g.nodes[0]
            .attrs
            .push(("mode".into(), Attr::Str("edge".into())));
        assert_eq!(fold_zero_pads(&mut g), 0);
        // A pad read twice stays.
        let mut g = padded_input(None);
        let p = g.nodes[0].outputs[0].clone();
        g.op_into("Identity", &[&p], "z", vec![]);
        assert_eq!(fold_zero_pads(&mut g), 0);
        assert_eq!(conv_pads(&g), [0, 0, 0, 0]);
    }

    /// x (NCHW) → Pad(H 1/1, W 1/1) → two strided convolutions (BlazePose's detector feeds
    /// both branches of a strided block from one pad), and optionally a third reader.
    fn shared_pad(third: Option<&str>) -> Graph {
        let mut g = Graph::new("t");
        let pads = g.const_i64("pads", &[0, 0, 1, 1, 0, 0, 1, 1]);
        let p = g.op("Pad", &["x", &pads], vec![]);
        for y in ["y0", "y1"] {
            let w = g.const_f32("w", &[1, 1, 3, 3], vec![1.0; 9]);
            g.op_into(
                "Conv",
                &[&p, &w],
                y,
                vec![
                    ("strides", Attr::Ints(vec![2, 2])),
                    ("pads", Attr::Ints(vec![0, 0, 0, 0])),
                ],
            );
        }
        let mut outs = vec!["y0", "y1"];
        if let Some(op) = third {
            g.op_into(op, &[&p], "y2", vec![]);
            outs.push("y2");
        }
        for y in outs {
            g.outputs.push(crate::onnx::ValueInfo {
                name: y.into(),
                elem_type: crate::onnx::FLOAT,
                dims: vec![],
            });
        }
        g
    }

    #[test]
    fn a_pad_read_only_by_convolutions_folds_into_each() {
        let mut g = shared_pad(None);
        assert_eq!(fold_zero_pads(&mut g), 2);
        g.prune();
        assert!(g
            .nodes
            .iter()
            .all(|n| n.op_type == "Conv" && n.inputs[0] == "x"));
        for conv in &g.nodes {
            assert!(matches!(conv.attr("pads"), Some(Attr::Ints(p)) if p == &[1, 1, 1, 1]));
        }
        // With another kind of reader the pad stays, and so do the convolutions' inputs.
        let mut g = shared_pad(Some("MaxPool"));
        assert_eq!(fold_zero_pads(&mut g), 0);
        assert!(g
            .nodes
            .iter()
            .filter(|n| n.op_type == "Conv")
            .all(|n| n.inputs[0] != "x"));
    }
}
