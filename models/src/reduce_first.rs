//! Moves a 1×1 `Conv` with no more output channels than input ones ahead of the upsampling
//! that feeds it.
//!
//! An upsampling (`Resize`, linear or nearest; OpenVINO's form of it: nearest `Resize`, edge
//! `Pad` and a depthwise kernel summing to one) works on each channel alone, and every output
//! value is a weighted mean of input values (weights summing to one); a 1×1 convolution mixes
//! channels pixel by pixel. The two commute, the convolution's bias included (the mean of a
//! constant is that constant): `conv(up(x)) = up(conv(x))`. Run first, the convolution works
//! at the low resolution and the upsampling on its channels (fewer, or as many). BlazePose's
//! detector upsamples 1152 channels from 7×7 to 14×14 and then reduces them to 192 (its single
//! largest convolution, 43 M of its 430 M multiply-adds), and 192 from 14×14 to 28×28 before
//! reducing them to 96; the selfie models reduce 128 → 24 and 24 → 16 after theirs. A
//! convolution keeping its channel count gains too: it runs on a quarter of the pixels
//! (selfie's last 16 → 16 at 128×128 before its upsampling: selfie 1.02–1.05× faster under
//! OpenVINO and the CPU provider, AVX2 Zen 3). Exact but for float rounding (outputs move by
//! ~1e-6 of their range).

use std::collections::{HashMap, HashSet};

use crate::onnx::{Attr, Data, Graph, Initializer, Node};

/// Applies the move wherever it fits; `upsampled` names the `Resize` outputs the converter
/// knows to be no smaller than their inputs (a graph has no shapes to tell). Returns how many
/// convolutions moved.
pub fn reduce_before_upsampling(g: &mut Graph, upsampled: &HashSet<String>) -> usize {
    let uses = g.use_counts();
    let producer = g.producers();
    let index = g.initializer_index();
    let init = |name: &str| g.initializer(&index, name);
    // Each move: the convolution, its output channels, and the chain it moves ahead of
    // (first node first).
    let mut moves: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (c, conv) in g.nodes.iter().enumerate() {
        let Some((co, ci)) = pointwise(conv, init) else {
            continue;
        };
        if co > ci {
            continue;
        }
        // Backwards from the convolution through nodes read only by the next one.
        let mut chain = Vec::new();
        let mut value = &conv.inputs[0];
        let mut enlarges = false;
        while let Some(&p) = producer.get(value) {
            let n = &g.nodes[p];
            if uses.get(value) != Some(&1) {
                break;
            }
            let fits = match n.op_type.as_str() {
                "Resize" => {
                    let fits = resize_fits(n, ci, init);
                    enlarges |= fits && upsampled.contains(&n.outputs[0]);
                    fits
                }
                "Pad" => edge_pad_fits(n, init),
                "Conv" => mean_filter_fits(n, ci, init),
                _ => false,
            };
            if !fits {
                break;
            }
            chain.push(p);
            value = &n.inputs[0];
        }
        if enlarges {
            chain.reverse();
            moves.push((c, co, chain));
        }
    }
    // Each node in one move at most: a one-channel 1×1 convolution of weight 1 is both a
    // convolution that moves and a mean filter in another's chain, and moving it twice
    // would drop it from the graph.
    let mut claimed = HashSet::new();
    moves.retain(|(c, _, chain)| {
        let nodes = || std::iter::once(c).chain(chain);
        let free = nodes().all(|k| !claimed.contains(k));
        if free {
            claimed.extend(nodes().copied());
        }
        free
    });
    for (c, co, chain) in &moves {
        let x = g.nodes[chain[0]].inputs[0].clone();
        let low = g.fresh("reduced");
        let conv_out = std::mem::replace(&mut g.nodes[*c].outputs[0], low.clone());
        g.nodes[*c].inputs[0] = x;
        g.nodes[chain[0]].inputs[0] = low;
        g.nodes[*chain.last().expect("a chain has a resize")].outputs[0] = conv_out;
        for &k in chain {
            retarget_channels(g, k, *co, &index);
        }
    }
    // Each moved convolution goes just before its chain (its input is made before the chain's
    // first node, so the order stays topological).
    let before: HashMap<usize, usize> = moves.iter().map(|(c, _, ch)| (ch[0], *c)).collect();
    let moved: HashSet<usize> = moves.iter().map(|(c, _, _)| *c).collect();
    let mut old: Vec<Option<Node>> = std::mem::take(&mut g.nodes).into_iter().map(Some).collect();
    let mut order = Vec::with_capacity(old.len());
    for k in 0..old.len() {
        if let Some(&c) = before.get(&k) {
            order.push(c);
        }
        if !moved.contains(&k) {
            order.push(k);
        }
    }
    g.nodes = order.into_iter().filter_map(|k| old[k].take()).collect();
    g.drop_unused_initializers();
    moves.len()
}

/// Output and input channels of a plain 1×1 convolution (one group, stride 1, no padding).
fn pointwise<'g>(
    n: &Node,
    init: impl Fn(&str) -> Option<&'g Initializer>,
) -> Option<(usize, usize)> {
    if n.op_type != "Conv" || n.inputs.len() < 2 {
        return None;
    }
    let w = init(&n.inputs[1])?;
    let [co, ci, 1, 1] = w.dims[..] else {
        return None;
    };
    let plain = n.attrs.iter().all(|(k, v)| match (k.as_str(), v) {
        ("group", Attr::Int(1)) => true,
        ("strides" | "dilations", Attr::Ints(s)) => s.iter().all(|&s| s == 1),
        ("pads", Attr::Ints(p)) => p.iter().all(|&p| p == 0),
        ("kernel_shape", Attr::Ints(k)) => k.iter().all(|&k| k == 1),
        ("auto_pad", Attr::Str(s)) => s == "NOTSET",
        _ => false,
    });
    let bias_ok = n
        .inputs
        .get(2)
        .is_none_or(|b| b.is_empty() || init(b).is_some());
    (plain && bias_ok && co > 0 && ci > 0).then_some((co as usize, ci as usize))
}

/// A linear or nearest `Resize` of the spatial axes only (its sizes, if given, keep `c`
/// channels; its scales, if given, are 1 on batch and channels).
fn resize_fits<'g>(n: &Node, c: usize, init: impl Fn(&str) -> Option<&'g Initializer>) -> bool {
    let modes_ok = n.attrs.iter().all(|(k, v)| match (k.as_str(), v) {
        ("mode", Attr::Str(m)) => m == "linear" || m == "nearest",
        ("coordinate_transformation_mode", Attr::Str(m)) => m != "tf_crop_and_resize",
        ("nearest_mode", _) => true,
        _ => false,
    });
    let arg = |k: usize| n.inputs.get(k).filter(|s| !s.is_empty());
    let spatial = match (arg(2), arg(3)) {
        (Some(s), None) => matches!(init(s).map(|i| &i.data),
            Some(Data::F32(v)) if v.len() == 4 && v[0] == 1.0 && v[1] == 1.0),
        (None, Some(s)) => matches!(init(s).map(|i| &i.data),
            Some(Data::I64(v)) if v.len() == 4 && v[1] == c as i64),
        _ => false,
    };
    modes_ok && spatial
}

/// An edge or reflect `Pad` of the spatial axes only.
fn edge_pad_fits<'g>(n: &Node, init: impl Fn(&str) -> Option<&'g Initializer>) -> bool {
    let mode_ok = n
        .attrs
        .iter()
        .any(|(k, v)| k == "mode" && matches!(v, Attr::Str(m) if m == "edge" || m == "reflect"));
    let spatial = matches!(n.inputs.get(1).and_then(|p| init(p)).map(|i| &i.data),
        Some(Data::I64(p)) if p.len() == 8 && p[0] == 0 && p[1] == 0 && p[4] == 0 && p[5] == 0);
    mode_ok && spatial && n.inputs.len() == 2
}

/// A depthwise convolution over `c` channels with the same kernel on every channel, summing
/// to one, without bias or padding: a weighted mean per channel.
fn mean_filter_fits<'g>(
    n: &Node,
    c: usize,
    init: impl Fn(&str) -> Option<&'g Initializer>,
) -> bool {
    let floats = |name: &str| match init(name).map(|i| &i.data) {
        Some(Data::F32(v)) => Some(v),
        _ => None,
    };
    let Some(w) = n.inputs.get(1).and_then(|w| init(w)) else {
        return false;
    };
    let Some(k) = floats(&w.name) else {
        return false;
    };
    let [wc, 1, kh, kw] = w.dims[..] else {
        return false;
    };
    let taps = (kh * kw) as usize;
    // A group attribute, and (below) the one of `c` groups.
    let grouped = n.attr("group").is_some();
    let attrs_ok = grouped
        && n.attrs.iter().all(|(key, v)| match (key.as_str(), v) {
            ("group", Attr::Int(gr)) => *gr as usize == c,
            ("pads", Attr::Ints(p)) => p.iter().all(|&p| p == 0),
            ("kernel_shape" | "strides" | "dilations", Attr::Ints(_)) => true,
            _ => false,
        });
    let bias_ok = n
        .inputs
        .get(2)
        .is_none_or(|b| b.is_empty() || floats(b).is_some_and(|v| v.iter().all(|&x| x == 0.0)));
    let first = &k[..taps.min(k.len())];
    attrs_ok
        && bias_ok
        && wc as usize == c
        && taps > 0
        && k.len() == c * taps
        && k.chunks_exact(taps).all(|ch| ch == first)
        && (first.iter().sum::<f32>() - 1.0).abs() < 1e-6
}

/// Rewrites a chain node's channel-count-dependent constants for `c` channels.
fn retarget_channels(g: &mut Graph, k: usize, c: usize, index: &HashMap<String, usize>) {
    let find = |g: &Graph, name: &str| g.initializer(index, name).cloned();
    let n = g.nodes[k].clone();
    match n.op_type.as_str() {
        "Resize" => {
            let Some(sizes) = n.inputs.get(3).filter(|s| !s.is_empty()) else {
                return;
            };
            let Some(Data::I64(v)) = find(g, sizes).map(|i| i.data) else {
                return;
            };
            let name = g.const_i64("sizes", &[v[0], c as i64, v[2], v[3]]);
            g.nodes[k].inputs[3] = name;
        }
        "Conv" => {
            let Some(w) = find(g, &n.inputs[1]) else {
                return;
            };
            let (Data::F32(v), &[_, _, kh, kw]) = (&w.data, &w.dims[..]) else {
                return;
            };
            let taps = (kh * kw) as usize;
            let kernel: Vec<f32> = v[..taps].repeat(c);
            let name = g.const_f32("w", &[c, 1, kh as usize, kw as usize], kernel);
            let node = &mut g.nodes[k];
            node.inputs.truncate(2);
            node.inputs[1] = name;
            for (key, v) in &mut node.attrs {
                if key == "group" {
                    *v = Attr::Int(c as i64);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{ValueInfo, FLOAT};

    fn find<'g>(g: &'g Graph, name: &str) -> Option<&'g Initializer> {
        g.initializers.iter().find(|i| i.name == name)
    }

    /// x → Resize(sizes 1×ci×8×8, linear) [→ Pad(edge) → mean Conv] → Conv 1×1 (co) → y
    fn upsample_then_reduce(ci: usize, co: usize, openvino: bool) -> (Graph, HashSet<String>) {
        let mut g = Graph::new("t");
        let sizes = g.const_i64("sizes", &[1, ci as i64, 8, 8]);
        let mode = if openvino { "nearest" } else { "linear" };
        let up = g.op(
            "Resize",
            &["x", "", "", &sizes],
            vec![("mode", Attr::Str(mode.into()))],
        );
        let upsampled = HashSet::from([up.clone()]);
        let mut last = up;
        if openvino {
            let pads = g.const_i64("pads", &[0, 0, 1, 1, 0, 0, 1, 1]);
            last = g.op(
                "Pad",
                &[&last, &pads],
                vec![("mode", Attr::Str("edge".into()))],
            );
            let taps = [0.25f32, 0.5, 0.25];
            let k: Vec<f32> = (0..ci)
                .flat_map(|_| taps.iter().flat_map(|&a| taps.iter().map(move |&b| a * b)))
                .collect();
            let w = g.const_f32("w", &[ci, 1, 3, 3], k);
            last = g.op(
                "Conv",
                &[&last, &w],
                vec![
                    ("group", Attr::Int(ci as i64)),
                    ("kernel_shape", Attr::Ints(vec![3, 3])),
                ],
            );
        }
        let w = g.const_f32("w", &[co, ci, 1, 1], vec![0.5; co * ci]);
        let b = g.const_f32("b", &[co], vec![1.0; co]);
        g.op_into(
            "Conv",
            &[&last, &w, &b],
            "y",
            vec![("kernel_shape", Attr::Ints(vec![1, 1]))],
        );
        g.outputs.push(ValueInfo {
            name: "y".into(),
            elem_type: FLOAT,
            dims: vec![],
        });
        (g, upsampled)
    }

    fn ops(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn a_reducing_convolution_moves_ahead_of_a_resize() {
        let (mut g, up) = upsample_then_reduce(16, 4, false);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 1);
        assert_eq!(ops(&g), ["Conv", "Resize"]);
        assert_eq!(g.nodes[0].inputs[0], "x");
        assert_eq!(g.nodes[1].inputs[0], g.nodes[0].outputs[0]);
        assert_eq!(g.nodes[1].outputs[0], "y");
        let sizes = find(&g, &g.nodes[1].inputs[3]).unwrap();
        assert!(matches!(&sizes.data, Data::I64(v) if v == &[1, 4, 8, 8]));
    }

    #[test]
    fn openvinos_upsampling_chain_moves_as_a_whole() {
        let (mut g, up) = upsample_then_reduce(16, 4, true);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 1);
        assert_eq!(ops(&g), ["Conv", "Resize", "Pad", "Conv"]);
        let mean = &g.nodes[3];
        assert_eq!(mean.outputs[0], "y");
        assert!(mean
            .attrs
            .iter()
            .any(|(k, v)| k == "group" && matches!(v, Attr::Int(4))));
        let w = find(&g, &mean.inputs[1]).unwrap();
        assert_eq!(w.dims, [4, 1, 3, 3]);
        assert!(matches!(&w.data, Data::F32(v) if v.len() == 36 && v[4] == 0.25));
    }

    #[test]
    fn only_what_commutes_and_pays_moves() {
        // More channels out than in (the upsampling would have more to do); as many moves.
        let (mut g, up) = upsample_then_reduce(4, 8, false);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 0);
        let (mut g, up) = upsample_then_reduce(4, 4, false);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 1);
        // A one-channel 1×1 convolution of weight 1 after the resize is a mean filter in the
        // next convolution's chain as well as a move of its own: it moves once.
        let (mut g, up) = upsample_then_reduce(1, 1, false);
        let w = g.const_f32("w", &[1, 1, 1, 1], vec![1.0]);
        let y = g.nodes[1].outputs[0].clone();
        g.nodes[1].attrs.push(("group".into(), Attr::Int(1)));
        g.nodes[1].inputs.truncate(2);
        g.nodes[1].inputs[1] = w;
        g.nodes[1].outputs[0] = "m".into();
        let w2 = g.const_f32("w", &[1, 1, 1, 1], vec![2.0]);
        g.op_into("Conv", &["m", &w2], &y, vec![]);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 1);
        assert_eq!(g.nodes.len(), 3);
        assert!(g.nodes.iter().any(|n| n.outputs[0] == "y"));
        // A resize not known to enlarge (it might shrink: the convolution would cost more).
        let (mut g, _) = upsample_then_reduce(16, 4, false);
        assert_eq!(reduce_before_upsampling(&mut g, &HashSet::new()), 0);
        // A resize read twice.
        let (mut g, up) = upsample_then_reduce(16, 4, false);
        let r = g.nodes[0].outputs[0].clone();
        g.op_into("Identity", &[&r], "z", vec![]);
        assert_eq!(reduce_before_upsampling(&mut g, &up), 0);
        // A cubic resize, and a zero pad (the bias would not commute).
        let (mut g, up) = upsample_then_reduce(16, 4, false);
        g.nodes[0].attrs[0].1 = Attr::Str("cubic".into());
        assert_eq!(reduce_before_upsampling(&mut g, &up), 0);
        let (mut g, up) = upsample_then_reduce(16, 4, true);
        g.nodes[1].attrs.clear();
        assert_eq!(reduce_before_upsampling(&mut g, &up), 0);
        // A depthwise kernel not summing to one stops the chain short of the resize.
        let (mut g, up) = upsample_then_reduce(16, 4, true);
        let w = g.nodes[2].inputs[1].clone();
        if let Some(Initializer {
            data: Data::F32(v), ..
        }) = g.initializers.iter_mut().find(|i| i.name == w)
        {
            v[0] = 1.0;
        }
        assert_eq!(reduce_before_upsampling(&mut g, &up), 0);
    }
}
