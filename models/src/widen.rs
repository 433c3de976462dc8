//! Rounds a stream of activations' channel count up to a multiple of 8 with channels of zeros.
//!
//! OpenVINO's CPU plugin keeps activations in blocks of 8 channels on AVX2; a convolution
//! whose channel count is not a multiple of 8 runs slower than one with a few more channels
//! that is (1×1, 24 → 28 at 64×64: 1.06–1.09× faster as 24 → 32, measured with OpenVINO
//! 2025.4 on an AVX2 Zen 3). BlazeFace's residual stream grows by 4 or 6 channels per block
//! (24, 28, 32, 36, 42, …) and pads its skip connections with zero channels, which OpenVINO
//! runs with its reference code. Widened, a convolution writing the stream gets zero weights
//! and zero biases for its extra channels, so they hold zeros; the nodes between
//! (`Relu`, a `Clip` whose range holds 0, `MaxPool`, `Add`, depthwise convolutions with zero
//! kernels) keep them zeros; a convolution reading the stream gets zero weights for them,
//! and a channel `Pad` pads fewer (or becomes an `Identity` where it pads none). The same
//! function: face-detection-short-range's outputs move by ~1e-7 of their range (float
//! rounding in the longer sums), and it runs 1.05–1.08× faster under OpenVINO (interleaved
//! A/B, 2 threads, AVX2 Zen 3).

use std::collections::{HashMap, HashSet};

use crate::onnx::{Attr, Data, Graph, Node};

/// OpenVINO's channel block on AVX2.
pub const CHANNEL_BLOCK: usize = 8;

/// Widens every stream of `g` it can to a multiple of `block` channels; returns how many
/// streams it widened. A stream is a set of values joined by nodes that keep channels apart
/// (`Relu`, `Clip`, `MaxPool`, `Add`, depthwise `Conv`): it widens only where every value in
/// it is made by one of those, by a convolution or by a channel pad, and read only by those,
/// by a convolution or by a channel pad (never a graph input or output).
pub fn widen_channels(g: &mut Graph, block: usize) -> usize {
    let index = g.initializer_index();
    let weight_dims = |n: &Node| -> Option<Vec<i64>> {
        let w = g.initializer(&index, n.inputs.get(1)?)?;
        (w.dims.len() == 4 && matches!(w.data, Data::F32(_))).then(|| w.dims.clone())
    };
    // Channels of each value, in node order (the converter writes nodes in topological order).
    let mut channels: HashMap<String, usize> = HashMap::new();
    let mut roles = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        let input = |k: usize| n.inputs.get(k).and_then(|v| channels.get(v)).copied();
        let role = role(g, &index, n, input(0), weight_dims(n));
        let c = match (&role, n.op_type.as_str()) {
            (Role::Convolution { out, .. }, _) => Some(*out),
            (Role::ChannelPad { begin, end }, _) => input(0).map(|c| c + begin + end),
            (Role::Keeps, "Add") => input(0).filter(|&c| input(1) == Some(c)),
            (Role::Keeps | Role::Depthwise, _) => input(0),
            (Role::Other, _) => None,
        };
        if let Some(c) = c {
            channels.insert(n.outputs[0].clone(), c);
        }
        roles.push(role);
    }
    // Streams: union-find over the values the channel-keeping nodes join.
    let mut streams = Streams::default();
    for (n, role) in g.nodes.iter().zip(&roles) {
        if matches!(role, Role::Keeps | Role::Depthwise) {
            let joined = if n.op_type == "Add" { 2 } else { 1 };
            for input in n.inputs.iter().take(joined) {
                streams.join(&n.outputs[0], input);
            }
        }
    }
    // A stream widens unless one of its values is made or read otherwise.
    let mut blocked: HashSet<String> = HashSet::new();
    let boundary = (g.inputs.iter().map(|v| &v.name)).chain(g.outputs.iter().map(|v| &v.name));
    for name in boundary {
        blocked.insert(streams.find(name));
    }
    for (n, role) in g.nodes.iter().zip(&roles) {
        let out = &n.outputs[0];
        if matches!(role, Role::Other) || !channels.contains_key(out) {
            blocked.insert(streams.find(out));
        }
        for (k, input) in n.inputs.iter().enumerate() {
            let widenable_reader = match role {
                Role::Keeps if n.op_type == "Add" => k < 2,
                Role::Keeps | Role::Depthwise | Role::Convolution { .. } => k == 0,
                Role::ChannelPad { .. } => k == 0,
                Role::Other => false,
            };
            if !widenable_reader && channels.contains_key(input) {
                blocked.insert(streams.find(input));
            }
        }
    }
    let all: Vec<String> = channels.keys().cloned().collect();
    for v in &all {
        if channels[v].is_multiple_of(block) {
            blocked.insert(streams.find(v));
        }
    }
    // A channel pad cannot shrink: where its input's stream would widen past its output's
    // width, the input's stream stays as it is (repeated until nothing changes).
    let width = |v: &str, blocked: &HashSet<String>, streams: &mut Streams| -> usize {
        let c = channels[v];
        if blocked.contains(&streams.find(v)) {
            c
        } else {
            c.div_ceil(block) * block
        }
    };
    loop {
        let mut changed = false;
        for (n, role) in g.nodes.iter().zip(&roles) {
            if let Role::ChannelPad { begin, .. } = role {
                let (x, y) = (&n.inputs[0], &n.outputs[0]);
                if !channels.contains_key(x) || !channels.contains_key(y) {
                    continue;
                }
                if width(x, &blocked, &mut streams) + begin > width(y, &blocked, &mut streams) {
                    changed |= blocked.insert(streams.find(x));
                }
            }
        }
        if !changed {
            break;
        }
    }
    let widths: HashMap<String, usize> = (all.iter())
        .map(|v| (v.clone(), width(v, &blocked, &mut streams)))
        .collect();
    let widened: HashSet<String> = (all.iter())
        .filter(|v| widths[*v] != channels[*v])
        .map(|v| streams.find(v))
        .collect();
    if widened.is_empty() {
        return 0;
    }
    for (k, role) in roles.iter().enumerate() {
        let n = g.nodes[k].clone();
        let width_of = |v: &str| widths.get(v).copied();
        match role {
            Role::Convolution { out, input } => {
                let (wide_in, wide_out) = (
                    width_of(&n.inputs[0]).unwrap_or(*input),
                    width_of(&n.outputs[0]).unwrap_or(*out),
                );
                if (wide_in, wide_out) != (*input, *out) {
                    widen_weights(g, k, &index, wide_out, wide_in, None);
                }
            }
            Role::Depthwise => {
                let c = channels[&n.outputs[0]];
                let w = widths[&n.outputs[0]];
                if w != c {
                    widen_weights(g, k, &index, w, 1, Some(w));
                }
            }
            Role::ChannelPad { begin, .. } => {
                let (Some(x), Some(y)) = (width_of(&n.inputs[0]), width_of(&n.outputs[0])) else {
                    continue;
                };
                let end = y - x - begin;
                let node = &mut g.nodes[k];
                if *begin == 0 && end == 0 {
                    node.op_type = "Identity".into();
                    node.inputs.truncate(1);
                    node.attrs.clear();
                } else {
                    let pads = [0, *begin as i64, 0, 0, 0, end as i64, 0, 0];
                    let name = g.const_i64("pads", &pads);
                    g.nodes[k].inputs[1] = name;
                }
            }
            Role::Keeps | Role::Other => {}
        }
    }
    g.drop_unused_initializers();
    widened.len()
}

/// What a node can do for a widened stream.
enum Role {
    /// Keeps each channel to itself and zeros zeros: `Relu`, `Clip` with 0 in its range,
    /// `MaxPool`, `Add` of two values.
    Keeps,
    /// A depthwise convolution: keeps channels apart; widened with zero kernels and biases.
    Depthwise,
    /// A convolution of one group: takes zero weights for new input and output channels.
    Convolution {
        out: usize,
        input: usize,
    },
    /// A constant zero `Pad` on the channel axis only.
    ChannelPad {
        begin: usize,
        end: usize,
    },
    Other,
}

fn role(
    g: &Graph,
    index: &HashMap<String, usize>,
    n: &Node,
    in_channels: Option<usize>,
    weights: Option<Vec<i64>>,
) -> Role {
    let scalar = |k: usize| -> Option<Option<f32>> {
        match n.inputs.get(k).filter(|v| !v.is_empty()) {
            None => Some(None),
            Some(v) => match &g.initializer(index, v)?.data {
                Data::F32(d) if d.len() == 1 => Some(Some(d[0])),
                _ => None,
            },
        }
    };
    // Nodes with more than one output (a `MaxPool` with indices) are left alone.
    if n.outputs.len() != 1 {
        return Role::Other;
    }
    match n.op_type.as_str() {
        "Relu" | "MaxPool" => Role::Keeps,
        "Clip" => match (scalar(1), scalar(2)) {
            (Some(lo), Some(hi))
                if lo.is_none_or(|lo| lo <= 0.0) && hi.is_none_or(|hi| hi >= 0.0) =>
            {
                Role::Keeps
            }
            _ => Role::Other,
        },
        "Add"
            if n.inputs.len() == 2
                && n.inputs.iter().all(|v| g.initializer(index, v).is_none()) =>
        {
            Role::Keeps
        }
        "Conv" => {
            let Some(dims) = weights else {
                return Role::Other;
            };
            let group = match n.attr("group") {
                Some(Attr::Int(groups)) => *groups,
                _ => 1,
            };
            let bias_ok = n.inputs.get(2).is_none_or(|b| {
                b.is_empty() || g.initializer(index, b).is_some_and(|b| b.dims == [dims[0]])
            });
            if !bias_ok || n.attr("auto_pad").is_some() {
                Role::Other
            } else if group == 1 && in_channels.is_none_or(|c| c as i64 == dims[1]) {
                Role::Convolution {
                    out: dims[0] as usize,
                    input: dims[1] as usize,
                }
            } else if group > 1
                && dims[0] == group
                && dims[1] == 1
                && in_channels == Some(group as usize)
            {
                Role::Depthwise
            } else {
                Role::Other
            }
        }
        "Pad" => match g.zero_pads(index, n) {
            Some(p)
                if p.len() == 8
                    && [0, 2, 3, 4, 6, 7].iter().all(|&k| p[k] == 0)
                    && p[1] >= 0
                    && p[5] >= 0 =>
            {
                Role::ChannelPad {
                    begin: p[1] as usize,
                    end: p[5] as usize,
                }
            }
            _ => Role::Other,
        },
        _ => Role::Other,
    }
}

/// Replaces node `k`'s weights (and bias) by ones with `out` output channels and `per_group`
/// input channels per group, the new ones zero; sets `group` where given.
fn widen_weights(
    g: &mut Graph,
    k: usize,
    index: &HashMap<String, usize>,
    out: usize,
    per_group: usize,
    group: Option<usize>,
) {
    let n = g.nodes[k].clone();
    let Some(w) = g.initializer(index, &n.inputs[1]).cloned() else {
        return;
    };
    let Data::F32(v) = &w.data else {
        return;
    };
    let [o, i, kh, kw] = [0, 1, 2, 3].map(|d| w.dims[d] as usize);
    let taps = kh * kw;
    let mut wide = vec![0.0f32; out * per_group * taps];
    for (row, src) in v.chunks_exact(i * taps).take(o).enumerate() {
        wide[row * per_group * taps..][..i * taps].copy_from_slice(src);
    }
    let name = g.const_f32("w", &[out, per_group, kh, kw], wide);
    g.nodes[k].inputs[1] = name;
    if let Some(b) = n.inputs.get(2).filter(|b| !b.is_empty()) {
        if let Some(Data::F32(bias)) = g.initializer(index, b).map(|b| b.data.clone()) {
            let mut wide = bias;
            wide.resize(out, 0.0);
            let name = g.const_f32("b", &[out], wide);
            g.nodes[k].inputs[2] = name;
        }
    }
    if let Some(group) = group {
        for (key, v) in &mut g.nodes[k].attrs {
            if key == "group" {
                *v = Attr::Int(group as i64);
            }
        }
    }
}

/// Union-find over value names.
#[derive(Default)]
struct Streams {
    parent: HashMap<String, String>,
}

impl Streams {
    fn find(&mut self, v: &str) -> String {
        let mut root = v.to_string();
        while let Some(p) = self.parent.get(&root).filter(|p| **p != root) {
            root = p.clone();
        }
        // Path compression keeps later finds short.
        let mut at = v.to_string();
        while at != root {
            let next = self
                .parent
                .insert(at.clone(), root.clone())
                .unwrap_or(root.clone());
            at = next;
        }
        root
    }

    fn join(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{ValueInfo, FLOAT};

    fn find<'g>(g: &'g Graph, name: &str) -> &'g crate::onnx::Initializer {
        g.initializers.iter().find(|i| i.name == name).unwrap()
    }

    fn floats(g: &Graph, name: &str) -> Vec<f32> {
        match &find(g, name).data {
            Data::F32(v) => v.clone(),
            Data::I64(_) => panic!("{name} is not float"),
        }
    }

    fn node<'g>(g: &'g Graph, output: &str) -> &'g Node {
        g.nodes.iter().find(|n| n.outputs[0] == output).unwrap()
    }

    /// A BlazeFace block: x → Conv 3→6 → Relu (r0) → depthwise 3×3 → Conv 6→10 (c);
    /// Pad r0 by 4 zero channels (p); Add(p, c) → Relu (r1) → Conv 10→2 → `tail` → y.
    fn block(tail: &str) -> Graph {
        let mut g = Graph::new("t");
        let conv = |g: &mut Graph, x: &str, o: usize, i: usize, group: usize, out: &str| {
            let w = g.const_f32("w", &[o, i, 1, 1], (1..=o * i).map(|v| v as f32).collect());
            let b = g.const_f32("b", &[o], vec![0.5; o]);
            let mut attrs = vec![("kernel_shape", Attr::Ints(vec![1, 1]))];
            if group > 1 {
                attrs.push(("group", Attr::Int(group as i64)));
            }
            g.op_into("Conv", &[x, &w, &b], out, attrs);
        };
        conv(&mut g, "x", 6, 3, 1, "c0");
        g.op_into("Relu", &["c0"], "r0", vec![]);
        conv(&mut g, "r0", 6, 1, 6, "d");
        conv(&mut g, "d", 10, 6, 1, "c");
        let pads = g.const_i64("pads", &[0, 0, 0, 0, 0, 4, 0, 0]);
        g.op_into("Pad", &["r0", &pads], "p", vec![]);
        g.op_into("Add", &["p", "c"], "a", vec![]);
        g.op_into("Relu", &["a"], "r1", vec![]);
        conv(&mut g, "r1", 2, 10, 1, "h");
        g.op_into(tail, &["h"], "y", vec![]);
        g.inputs.push(ValueInfo {
            name: "x".into(),
            elem_type: FLOAT,
            dims: vec![1, 3, 4, 4],
        });
        g.outputs.push(ValueInfo {
            name: "y".into(),
            elem_type: FLOAT,
            dims: vec![],
        });
        g
    }

    #[test]
    fn a_residual_stream_widens_with_zero_channels() {
        let mut g = block("Identity");
        assert_eq!(widen_channels(&mut g, 8), 2);
        // The first stream (c0, r0, d) is 8 wide: zero rows and biases beyond the 6.
        let w0 = floats(&g, &node(&g, "c0").inputs[1]);
        assert_eq!(find(&g, &node(&g, "c0").inputs[1]).dims, [8, 3, 1, 1]);
        assert_eq!(
            &w0[..18],
            &(1..=18).map(|v| v as f32).collect::<Vec<_>>()[..]
        );
        assert!(w0[18..].iter().all(|&v| v == 0.0));
        assert_eq!(floats(&g, &node(&g, "c0").inputs[2])[6..], [0.0, 0.0]);
        let d = node(&g, "d");
        assert_eq!(find(&g, &d.inputs[1]).dims, [8, 1, 1, 1]);
        assert!(matches!(d.attr("group"), Some(Attr::Int(8))));
        // The second (c, p, a, r1) is 16 wide; c reads 8 channels, zero columns for 6 and 7.
        let c = node(&g, "c");
        assert_eq!(find(&g, &c.inputs[1]).dims, [16, 8, 1, 1]);
        let wc = floats(&g, &c.inputs[1]);
        assert_eq!(&wc[..8], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
        assert!(wc[10 * 8..].iter().all(|&v| v == 0.0));
        // The pad now adds 8 channels to 8; the head reads 16 and still writes 2.
        match &find(&g, &node(&g, "p").inputs[1]).data {
            Data::I64(p) => assert_eq!(p, &[0, 0, 0, 0, 0, 8, 0, 0]),
            Data::F32(_) => panic!("pads are ints"),
        }
        assert_eq!(find(&g, &node(&g, "h").inputs[1]).dims, [2, 16, 1, 1]);
    }

    #[test]
    fn a_pad_with_nothing_left_to_pad_becomes_an_identity() {
        let mut g = block("Identity");
        assert_eq!(widen_channels(&mut g, 16), 2);
        // 6 and 10 both round to 16: the pad has nothing left to add.
        let p = node(&g, "p");
        assert_eq!((p.op_type.as_str(), p.inputs.len()), ("Identity", 1));
        assert_eq!(find(&g, &node(&g, "c").inputs[1]).dims, [16, 16, 1, 1]);
    }

    #[test]
    fn streams_read_by_other_operators_or_already_aligned_stay() {
        // Widened outputs may only reach nodes that keep zeros zeros.
        let mut g = block("Identity");
        g.op_into("Transpose", &["r1"], "t", vec![]);
        g.outputs.push(ValueInfo {
            name: "t".into(),
            elem_type: FLOAT,
            dims: vec![],
        });
        assert_eq!(widen_channels(&mut g, 8), 1);
        assert_eq!(find(&g, &node(&g, "c").inputs[1]).dims, [10, 8, 1, 1]);
        match &find(&g, &node(&g, "p").inputs[1]).data {
            Data::I64(p) => assert_eq!(p, &[0, 0, 0, 0, 0, 2, 0, 0]),
            Data::F32(_) => panic!("pads are ints"),
        }
        // Channel counts already multiples of the block: nothing changes.
        let mut g = block("Identity");
        assert_eq!(widen_channels(&mut g, 2), 0);
    }
}
