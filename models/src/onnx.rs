//! A small ONNX model builder that writes the protobuf wire format directly.
//!
//! Only the handful of `onnx.proto` messages a converted model needs are written (ModelProto,
//! GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto). Writing them by hand
//! keeps protoc and generated code out of the build; field numbers are those of onnx.proto3.

/// ONNX tensor element types (TensorProto.DataType).
use std::collections::HashMap;

pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Str(String),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(String, Attr)>,
}

impl Node {
    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Debug, Clone)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: Data,
}

#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub dims: Vec<i64>,
}

/// How many inputs of `nodes` and of `outputs` read each value ([`Graph::use_counts`] for
/// nodes taken out of their graph).
pub fn use_counts(nodes: &[Node], outputs: &[ValueInfo]) -> HashMap<String, usize> {
    let mut uses = HashMap::new();
    for name in (nodes.iter().flat_map(|n| &n.inputs)).chain(outputs.iter().map(|o| &o.name)) {
        *uses.entry(name.clone()).or_insert(0) += 1;
    }
    uses
}

/// A graph under construction, with a counter for fresh value names.
#[derive(Debug, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    next_id: usize,
}

impl Graph {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// A name no other value in this graph has.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.next_id += 1;
        format!("{hint}__{}", self.next_id)
    }

    /// Adds a node with one output and returns that output's name.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh(&op_type.to_ascii_lowercase());
        self.op_into(op_type, inputs, &out, attrs);
        out
    }

    /// Adds a node writing to a given output name.
    pub fn op_into(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<(&str, Attr)>,
    ) {
        self.nodes.push(Node {
            op_type: op_type.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.to_string()],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
    }

    /// Drops the nodes no graph output depends on, then the initializers nothing reads.
    pub fn prune(&mut self) {
        let mut needed: std::collections::HashSet<String> =
            self.outputs.iter().map(|o| o.name.clone()).collect();
        let mut keep = vec![false; self.nodes.len()];
        for (k, n) in self.nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| needed.contains(o)) {
                keep[k] = true;
                needed.extend(n.inputs.iter().filter(|i| !i.is_empty()).cloned());
            }
        }
        let mut flags = keep.into_iter();
        self.nodes.retain(|_| flags.next().unwrap_or(false));
        self.drop_unused_initializers();
    }

    /// Drops the initializers no node reads.
    pub fn drop_unused_initializers(&mut self) {
        let read: std::collections::HashSet<&str> = self
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .collect();
        self.initializers.retain(|i| read.contains(i.name.as_str()));
    }

    pub fn const_f32(&mut self, hint: &str, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(Initializer {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data: Data::F32(data),
        });
        name
    }

    /// How many node inputs and graph outputs read each value.
    pub fn use_counts(&self) -> HashMap<String, usize> {
        use_counts(&self.nodes, &self.outputs)
    }

    /// The position of the node making each value (its first output).
    pub fn producers(&self) -> HashMap<String, usize> {
        (self.nodes.iter().enumerate())
            .map(|(k, n)| (n.outputs[0].clone(), k))
            .collect()
    }

    /// Initializer positions by name, for the graph passes to look up once (a model file is
    /// untrusted input: no scan of all initializers per node). Adding initializers keeps
    /// the positions valid.
    pub fn initializer_index(&self) -> HashMap<String, usize> {
        (self.initializers.iter().enumerate())
            .map(|(k, i)| (i.name.clone(), k))
            .collect()
    }

    /// The initializer called `name`, through an [`Graph::initializer_index`].
    pub fn initializer(&self, index: &HashMap<String, usize>, name: &str) -> Option<&Initializer> {
        index.get(name).map(|&k| &self.initializers[k])
    }

    /// The pads of `n` where it is a `Pad` that pads with zeros (constant mode, and no value
    /// or a zero one): its `pads` initializer, begins then ends per axis.
    pub fn zero_pads(&self, index: &HashMap<String, usize>, n: &Node) -> Option<&[i64]> {
        if n.op_type != "Pad" || n.inputs.len() > 3 {
            return None;
        }
        let constant = n
            .attr("mode")
            .is_none_or(|m| matches!(m, Attr::Str(s) if s == "constant"));
        let zero = n.inputs.get(2).is_none_or(|v| {
            v.is_empty()
                || matches!(self.initializer(index, v).map(|i| &i.data),
                    Some(Data::F32(d)) if d.iter().all(|&x| x == 0.0))
        });
        match &self.initializer(index, n.inputs.get(1)?)?.data {
            Data::I64(p) if constant && zero => Some(p),
            _ => None,
        }
    }

    pub fn const_i64(&mut self, hint: &str, data: &[i64]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(Initializer {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data: Data::I64(data.to_vec()),
        });
        name
    }
}

/// The whole model: a graph plus opset and free-form metadata.
pub struct ModelInfo<'a> {
    pub opset: i64,
    pub producer: &'a str,
    pub producer_version: &'a str,
    pub doc: &'a str,
    pub metadata: &'a [(String, String)],
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn int_field(out: &mut Vec<u8>, field: u32, v: i64) {
    key(out, field, 0);
    varint(out, v as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn str_field(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(out, field, s.as_bytes());
}

fn msg_field(out: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    bytes_field(out, field, &inner);
}

fn tensor(out: &mut Vec<u8>, t: &Initializer) {
    for &d in &t.dims {
        int_field(out, 1, d);
    }
    let (ty, raw): (i32, Vec<u8>) = match &t.data {
        Data::F32(v) => (FLOAT, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Data::I64(v) => (INT64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    int_field(out, 2, i64::from(ty));
    str_field(out, 8, &t.name);
    bytes_field(out, 9, &raw);
}

fn attribute(out: &mut Vec<u8>, name: &str, a: &Attr) {
    str_field(out, 1, name);
    match a {
        Attr::Float(f) => {
            key(out, 2, 5);
            out.extend_from_slice(&f.to_le_bytes());
            int_field(out, 20, 1);
        }
        Attr::Int(i) => {
            int_field(out, 3, *i);
            int_field(out, 20, 2);
        }
        Attr::Str(s) => {
            str_field(out, 4, s);
            int_field(out, 20, 3);
        }
        Attr::Ints(v) => {
            for &i in v {
                int_field(out, 8, i);
            }
            int_field(out, 20, 7);
        }
    }
}

fn node(out: &mut Vec<u8>, n: &Node) {
    for i in &n.inputs {
        str_field(out, 1, i);
    }
    for o in &n.outputs {
        str_field(out, 2, o);
    }
    str_field(out, 4, &n.op_type);
    for (k, v) in &n.attrs {
        msg_field(out, 5, |m| attribute(m, k, v));
    }
}

fn value_info(out: &mut Vec<u8>, v: &ValueInfo) {
    str_field(out, 1, &v.name);
    msg_field(out, 2, |ty| {
        msg_field(ty, 1, |tt| {
            int_field(tt, 1, i64::from(v.elem_type));
            msg_field(tt, 2, |shape| {
                for (i, &d) in v.dims.iter().enumerate() {
                    // A negative dimension is dynamic: written as a named parameter.
                    if d < 0 {
                        msg_field(shape, 1, |dim| str_field(dim, 2, &format!("d{i}")));
                    } else {
                        msg_field(shape, 1, |dim| int_field(dim, 1, d));
                    }
                }
            });
        });
    });
}

/// Serialises a graph as an ONNX ModelProto.
pub fn encode(graph: &Graph, info: &ModelInfo<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // IR version 8 goes with opset 17/18.
    int_field(&mut out, 1, 8);
    str_field(&mut out, 2, info.producer);
    str_field(&mut out, 3, info.producer_version);
    str_field(&mut out, 6, info.doc);
    msg_field(&mut out, 7, |g| {
        for n in &graph.nodes {
            msg_field(g, 1, |m| node(m, n));
        }
        str_field(g, 2, &graph.name);
        for t in &graph.initializers {
            msg_field(g, 5, |m| tensor(m, t));
        }
        for v in &graph.inputs {
            msg_field(g, 11, |m| value_info(m, v));
        }
        for v in &graph.outputs {
            msg_field(g, 12, |m| value_info(m, v));
        }
    });
    msg_field(&mut out, 8, |o| {
        str_field(o, 1, "");
        int_field(o, 2, info.opset);
    });
    for (k, v) in info.metadata {
        msg_field(&mut out, 14, |m| {
            str_field(m, 1, k);
            str_field(m, 2, v);
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_what_the_outputs_need() {
        // x → Relu → a → Sigmoid → kept;  a → Tanh → dropped (not an output).
        let mut g = Graph::new("t");
        let a = g.op("Relu", &["x"], vec![]);
        let w = g.const_f32("unused", &[1], vec![1.0]);
        g.op_into("Sigmoid", &[&a], "kept", vec![]);
        g.op_into("Tanh", &[&a, &w], "dropped", vec![]);
        g.outputs.push(ValueInfo {
            name: "kept".into(),
            elem_type: FLOAT,
            dims: vec![1],
        });
        g.prune();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", "Sigmoid"]);
        assert!(g.initializers.is_empty());
    }
}
