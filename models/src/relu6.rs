//! Rewrites `Add → Clip(0, 6)` (TFLite's ADD with a fused RELU6, the residual joins of
//! BlazePose) so that ONNX Runtime keeps those blocks in its blocked NCHWc layout.
//!
//! ONNX Runtime fuses `Conv → Clip` into its NCHWc convolutions, but a `Clip` after a residual
//! `Add` is not an NCHWc operator: each one costs a reorder out of the blocked layout, the
//! clip, and a reorder back (a fifth of pose-landmark-full's time in its profile). `HardSigmoid`
//! is fused there, and `clip(x, 0, 6) = 6 · hardsigmoid(x / 6)`. So such a clip becomes a
//! `HardSigmoid` whose output is stored divided by 6, and that factor travels with the tensor
//! (the "scale" below: true value = scale × stored value) through the operators it commutes
//! with, until an operator absorbs it: a `Conv` reading the tensor multiplies its weights by
//! the scale; a residual `Add` brings its other input, a convolution's output, to the same
//! scale by dividing that convolution's weights and bias; anything else gets an explicit `Mul`
//! back to true values. The result is the same function up to float rounding.

use std::collections::HashMap;

use crate::onnx::{Attr, Data, Graph, Node};

/// Lookups the pass needs, built once (a model file is untrusted input: no scan of the whole
/// graph per node).
struct Index {
    /// Initializer position by name.
    init: HashMap<String, usize>,
    /// How many node inputs and graph outputs read each value.
    uses: HashMap<String, usize>,
}

impl Index {
    fn new(g: &Graph, nodes: &[Node]) -> Self {
        Self {
            init: g.initializer_index(),
            uses: crate::onnx::use_counts(nodes, &g.outputs),
        }
    }

    /// The single f32 value of an initializer, if it is one.
    fn scalar(&self, g: &Graph, name: &str) -> Option<f32> {
        match &g.initializers[*self.init.get(name)?].data {
            Data::F32(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// True when input `slot` of `n` is a float initializer (absent optional inputs count).
    fn constant_input(&self, g: &Graph, n: &Node, slot: usize) -> bool {
        n.inputs.get(slot).is_none_or(|name| {
            name.is_empty()
                || self
                    .init
                    .get(name)
                    .is_some_and(|&k| matches!(g.initializers[k].data, Data::F32(_)))
        })
    }

    /// True for `Clip(x, 0, 6)` with constant bounds.
    fn is_relu6(&self, g: &Graph, n: &Node) -> bool {
        n.op_type == "Clip"
            && n.inputs.len() == 3
            && self.scalar(g, &n.inputs[1]) == Some(0.0)
            && self.scalar(g, &n.inputs[2]) == Some(6.0)
    }

    /// Operators through which a positive scale passes unchanged (`f(k·x) = k·f(x)` for their
    /// first input): pooling, layout changes, linear resizing, and padding with zeros.
    fn passes_scale(&self, g: &Graph, n: &Node) -> bool {
        match n.op_type.as_str() {
            "Relu" | "MaxPool" | "AveragePool" | "Reshape" | "Transpose" | "Resize"
            | "Upsample" | "DepthToSpace" | "SpaceToDepth" => true,
            "Pad" => n
                .inputs
                .get(2)
                .is_none_or(|c| c.is_empty() || self.scalar(g, c) == Some(0.0)),
            _ => false,
        }
    }

    /// Multiplies input `slot` of `n` (an initializer, or an absent optional input) by `k`,
    /// first giving this use its own copy when others share it.
    fn scale_input(&mut self, g: &mut Graph, n: &mut Node, slot: usize, k: f32) {
        let Some(name) = n.inputs.get(slot).cloned() else {
            return;
        };
        let Some(&idx) = self.init.get(&name) else {
            return; // an absent optional bias
        };
        let idx = if self.uses.get(&name).copied().unwrap_or(0) > 1 {
            let mut copy = g.initializers[idx].clone();
            copy.name = g.fresh(&name);
            *self.uses.entry(name).or_insert(1) -= 1;
            self.uses.insert(copy.name.clone(), 1);
            self.init.insert(copy.name.clone(), g.initializers.len());
            n.inputs[slot] = copy.name.clone();
            g.initializers.push(copy);
            g.initializers.len() - 1
        } else {
            idx
        };
        if let Data::F32(v) = &mut g.initializers[idx].data {
            for x in v {
                *x *= k;
            }
        }
    }
}

/// Applies the rewrite to a whole graph (nodes in topological order, as the converter emits
/// them). Returns how many clips became `HardSigmoid`.
pub fn rescale_relu6(g: &mut Graph) -> usize {
    let nodes = std::mem::take(&mut g.nodes);
    let mut ix = Index::new(g, &nodes);
    let mut scale: HashMap<String, f32> = HashMap::new();
    // Where each value is produced in the rewritten list.
    let mut producer: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    let mut rewritten = 0;
    for mut node in nodes {
        let ks: Vec<f32> = node
            .inputs
            .iter()
            .map(|n| *scale.get(n).unwrap_or(&1.0))
            .collect();
        let value = node.outputs[0].clone();
        let from_add = node
            .inputs
            .first()
            .and_then(|x| producer.get(x))
            .is_some_and(|&p| out[p].op_type == "Add");
        if ix.is_relu6(g, &node) && (from_add || ks[0] != 1.0) {
            // clip(k·x, 0, 6) / 6 = clamp(k/6 · x, 0, 1)
            node = Node {
                op_type: "HardSigmoid".into(),
                inputs: vec![node.inputs[0].clone()],
                outputs: vec![value.clone()],
                attrs: vec![
                    ("alpha".into(), Attr::Float(ks[0] / 6.0)),
                    // Not 0: OpenVINO's execution provider reads `beta = 0` as the ONNX
                    // default 0.5 (measured, `../shared/docs/findings.md`). The smallest
                    // normal float is zero for every sum it joins.
                    ("beta".into(), Attr::Float(f32::MIN_POSITIVE)),
                ],
            };
            scale.insert(value.clone(), 6.0);
            rewritten += 1;
        } else if ks.iter().all(|&k| k == 1.0) {
            // Nothing scaled reaches this node.
        } else if matches!(node.op_type.as_str(), "Conv" | "ConvTranspose")
            && ks[0] != 1.0
            && ks[1..].iter().all(|&k| k == 1.0)
            && ix.constant_input(g, &node, 1)
        {
            ix.scale_input(g, &mut node, 1, ks[0]);
        } else if ix.passes_scale(g, &node) && ks[1..].iter().all(|&k| k == 1.0) {
            scale.insert(value.clone(), ks[0]);
        } else if node.op_type == "Add" && node.inputs.len() == 2 && ks[0] != ks[1] {
            // Bring the other side, a convolution's output read only here, to this scale.
            let (scaled, other) = if ks[0] != 1.0 { (0, 1) } else { (1, 0) };
            let k = ks[scaled];
            let conv = producer.get(&node.inputs[other]).copied().filter(|&p| {
                out[p].op_type == "Conv"
                    && ks[other] == 1.0
                    && ix.uses.get(&node.inputs[other]) == Some(&1)
                    && ix.constant_input(g, &out[p], 1)
                    && ix.constant_input(g, &out[p], 2)
            });
            if let Some(p) = conv {
                for slot in 1..3 {
                    ix.scale_input(g, &mut out[p], slot, 1.0 / k);
                }
                scale.insert(node.inputs[other].clone(), k);
                scale.insert(value.clone(), k);
            } else {
                unscale_inputs(g, &mut node, &ks, &mut out);
            }
        } else if node.op_type == "Add" && ks[0] == ks[1] {
            scale.insert(value.clone(), ks[0]);
        } else {
            unscale_inputs(g, &mut node, &ks, &mut out);
        }
        producer.insert(value, out.len());
        out.push(node);
    }
    g.nodes = out;
    // The clips' bounds are no longer read (ONNX Runtime would warn about each).
    g.drop_unused_initializers();
    rewritten
}

/// Puts a `Mul` back to true values in front of every scaled input of `node`, appending the
/// multiplications to `out` (before `node` itself is appended).
fn unscale_inputs(g: &mut Graph, node: &mut Node, ks: &[f32], out: &mut Vec<Node>) {
    for (slot, &k) in ks.iter().enumerate() {
        if k == 1.0 {
            continue;
        }
        let c = g.const_f32("scale", &[], vec![k]);
        let y = g.fresh("unscaled");
        out.push(Node {
            op_type: "Mul".into(),
            inputs: vec![node.inputs[slot].clone(), c],
            outputs: vec![y.clone()],
            attrs: vec![],
        });
        node.inputs[slot] = y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x → Conv(w1) → a;  a + x → Clip(0, 6) → r;  Conv(w2, r) → y;  r → Identity → out.
    fn residual() -> Graph {
        let mut g = Graph::new("t");
        let w1 = g.const_f32("w1", &[1, 1, 1, 1], vec![2.0]);
        let b1 = g.const_f32("b1", &[1], vec![0.5]);
        let a = g.op("Conv", &["x", &w1, &b1], vec![]);
        let s = g.op("Add", &[&a, "x"], vec![]);
        let lo = g.const_f32("lo", &[], vec![0.0]);
        let hi = g.const_f32("hi", &[], vec![6.0]);
        let r = g.op("Clip", &[&s, &lo, &hi], vec![]);
        let w2 = g.const_f32("w2", &[1, 1, 1, 1], vec![3.0]);
        g.op_into("Conv", &[&r, &w2], "y", vec![]);
        g.op_into("Identity", &[&r], "out", vec![]);
        g
    }

    fn init(g: &Graph, node: usize, slot: usize) -> f32 {
        let name = &g.nodes[node].inputs[slot];
        match &g
            .initializers
            .iter()
            .find(|i| &i.name == name)
            .unwrap()
            .data
        {
            Data::F32(v) => v[0],
            Data::I64(_) => unreachable!(),
        }
    }

    #[test]
    fn residual_relu6_becomes_a_scaled_hard_sigmoid() {
        let mut g = residual();
        assert_eq!(rescale_relu6(&mut g), 1);
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            ["Conv", "Add", "HardSigmoid", "Conv", "Mul", "Identity"]
        );
        // The first Add mixes a conv output with the unscaled input: nothing to rescale yet,
        // so the clip reads true values (alpha 1/6) and its output is stored divided by 6.
        let alpha = match &g.nodes[2].attrs[0].1 {
            Attr::Float(a) => *a,
            _ => unreachable!(),
        };
        assert!((alpha - 1.0 / 6.0).abs() < 1e-7);
        // A zero beta is read as 0.5 by OpenVINO's execution provider.
        assert!(matches!(g.nodes[2].attrs[1].1, Attr::Float(b) if b > 0.0 && b < 1e-30));
        // The reading conv multiplies its weight by 6; the output gets an explicit ×6.
        assert_eq!(init(&g, 3, 1), 18.0);
        assert_eq!(init(&g, 4, 1), 6.0);
        assert_eq!(g.nodes[5].inputs[0], g.nodes[4].outputs[0]);
        // The clip bounds are gone.
        assert!(g.initializers.iter().all(|i| i.name.starts_with('w')
            || i.name.starts_with('b')
            || i.name.starts_with("scale")));
    }

    #[test]
    fn a_second_residual_join_rescales_the_projection_conv() {
        // r (scaled by 6) + Conv(w3, r) → Clip: the conv is divided by 6 and the clip's alpha
        // becomes 1.
        let mut g = residual();
        g.nodes.pop();
        let r = g.nodes[2].outputs[0].clone();
        let w3 = g.const_f32("w3", &[1, 1, 1, 1], vec![4.0]);
        let b3 = g.const_f32("b3", &[1], vec![1.2]);
        let p = g.op("Conv", &[&r, &w3, &b3], vec![]);
        let s2 = g.op("Add", &[&r, &p], vec![]);
        let lo = g.const_f32("lo", &[], vec![0.0]);
        let hi = g.const_f32("hi", &[], vec![6.0]);
        let r2 = g.op("Clip", &[&s2, &lo, &hi], vec![]);
        g.op_into("Identity", &[&r2], "out", vec![]);
        assert_eq!(rescale_relu6(&mut g), 2);
        let conv = g.nodes.iter().position(|n| n.outputs[0] == p).unwrap();
        // Reads r (×6) and writes in the ÷6 domain: weight 4·6/6, bias 1.2/6.
        assert!((init(&g, conv, 1) - 4.0).abs() < 1e-6);
        assert!((init(&g, conv, 2) - 0.2).abs() < 1e-6);
        let hs: Vec<f32> = g
            .nodes
            .iter()
            .filter(|n| n.op_type == "HardSigmoid")
            .map(|n| match n.attrs[0].1 {
                Attr::Float(a) => a,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(hs.len(), 2);
        assert!((hs[1] - 1.0).abs() < 1e-7);
    }

    #[test]
    fn a_conv_with_computed_weights_reads_true_values() {
        // Weights that are not constants cannot absorb the scale: a Mul restores it.
        let mut g = residual();
        let y = g.nodes.iter().position(|n| n.outputs[0] == "y").unwrap();
        g.nodes[y].inputs[1] = "w_runtime".into();
        rescale_relu6(&mut g);
        let y = g.nodes.iter().position(|n| n.outputs[0] == "y").unwrap();
        let before = &g.nodes[y - 1];
        assert_eq!(before.op_type, "Mul");
        assert_eq!(g.nodes[y].inputs[0], before.outputs[0]);
    }
}
