use std::path::PathBuf;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let t = std::time::Instant::now();
    let c = aifx_models::convert::convert_bytes(&bytes, "m", &[]).unwrap();
    eprintln!("{:?} {:?} {:?} {:?}", t.elapsed(), c.ops, c.inputs, c.outputs);
    std::fs::write(PathBuf::from(&args[2]), c.onnx).unwrap();
}
