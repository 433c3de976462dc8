//! `aifx-models bench`: ms per inference of every catalog model on every provider (and
//! precision), then the fastest beside TFLite/XNNPACK (ai-edge-litert) in alternating rounds:
//! a Python process keeps the interpreters loaded and answers one round at a time, so a
//! machine whose speed drifts (these VMs wander 1.5–2× over minutes) slows both sides alike.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use aifx::session::{session, SharedSession};
use aifx::Device;
use aifx_models::catalog::Catalog;
use aifx_models::reference::{read_f32, Reference};
use aifx_models::store::Store;

use crate::session_options;

/// Alternating rounds per provider that pick the fastest.
const PICK_ROUNDS: usize = 3;

/// models/bench_litert.py, running: interpreters loaded, answering `NAME ITERS` lines.
struct Litert {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dir: std::path::PathBuf,
}

impl Litert {
    fn start(python: &Path, job: &serde_json::Value) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("aifx-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("bench_litert.py");
        std::fs::write(&path, include_str!("../bench_litert.py")).map_err(|e| e.to_string())?;
        let mut child = Command::new(python)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut l = Self {
            child,
            stdin,
            stdout,
            dir,
        };
        writeln!(l.stdin, "{job}").map_err(|e| e.to_string())?;
        match l.answer()?.as_str() {
            "ready" => Ok(l),
            other => Err(format!("litert bench said `{other}`")),
        }
    }

    fn answer(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("litert bench: {e}"))?;
        if line.is_empty() {
            return Err("litert bench stopped (is ai-edge-litert installed?)".into());
        }
        Ok(line.trim().to_string())
    }

    /// Mean ms per run of `iters` runs of model `name`.
    fn time(&mut self, name: &str, iters: usize) -> Result<f64, String> {
        writeln!(self.stdin, "{name} {iters}").map_err(|e| e.to_string())?;
        let a = self.answer()?;
        a.parse()
            .map_err(|e| format!("litert bench answered `{a}` ({e})"))
    }
}

impl Drop for Litert {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Mean ms per run of `n` runs.
fn time_runs(s: &SharedSession, shape: &[usize], input: &[f32], n: usize) -> Result<f64, String> {
    let t = Instant::now();
    for _ in 0..n {
        s.run(shape, input).map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64)
}

/// How much to time: threads per session, runs per timing, and alternating rounds of those
/// per model against TFLite.
pub struct Runs {
    pub threads: usize,
    pub iters: usize,
    pub rounds: usize,
}

pub fn bench(
    catalog: &Catalog,
    store: &Store,
    runs: Runs,
    device: &str,
    litert_python: Option<&Path>,
    reference: &Path,
) -> Result<(), String> {
    let Runs {
        threads,
        iters,
        rounds,
    } = runs;
    let reference = Reference::load(reference)?;
    // Columns: `DEVICE[:PRECISION]`; `all` = every provider the runtime has in fp32, OpenVINO
    // in bf16 too, and each provider on the int8 variants.
    let devices: Vec<String> = if device == "all" {
        let mut v: Vec<String> = aifx::session::available_devices()
            .into_iter()
            .filter(|&d| d != Device::Auto)
            .map(|d| d.to_string())
            .collect();
        if v.iter().any(|d| d == "openvino") {
            v.push("openvino:bf16".into());
        }
        // The set-up's int8 variants, where it made them.
        let int8: Vec<String> = v
            .iter()
            .filter(|d| !d.contains(':'))
            .map(|d| format!("{d}:int8"))
            .collect();
        v.extend(int8);
        v
    } else {
        device.split(',').map(str::to_owned).collect()
    };
    let record =
        std::fs::read_to_string(store.dir.join(aifx::variants::RECORD)).unwrap_or_default();
    let mut jobs = Vec::new();
    // Per model: its input, ms per device (NaN where the device is not usable) and the
    // fastest session.
    struct Row {
        name: String,
        shape: Vec<usize>,
        input: Vec<f32>,
        ms: Vec<f64>,
        best: Option<(usize, SharedSession)>,
    }
    let mut rows: Vec<Row> = Vec::new();
    // What `auto` settled on, per model.
    let mut settled: Vec<String> = Vec::new();
    for m in &catalog.models {
        let cases = reference
            .manifest
            .models
            .get(&m.name)
            .ok_or_else(|| format!("reference has no input for `{}`", m.name))?;
        let (case_name, case) = cases.cases.iter().next().ok_or("empty reference")?;
        let input_path = reference.file(&m.name, case_name, &case.input_file);
        let input = read_f32(&input_path)?;
        // An int8 variant that missed the quality bar is timed, not counted as the best.
        let missed = aifx::variants::missed_bar(&record, &m.name).is_some();
        // Every usable provider's session (and whether it may count as the fastest), then
        // their timings in alternating rounds (the median of each): one timing apiece let a
        // noisy moment on a shared machine decide which provider counted as fastest.
        let mut sessions: Vec<Option<(SharedSession, bool)>> = Vec::new();
        for d in &devices {
            let opts = session_options(d, threads)?;
            let s = session(&store.onnx(m), &opts).map_err(|e| e.to_string())?;
            // `auto` runs its first frames on each provider in turn; time what it settles on.
            let auto = opts.device == Device::Auto;
            let warmup = if auto { 20 } else { 5 };
            // A fallback (other provider, fp32 for a precision it lacks) is not what the
            // column names; an int8 variant below the quality bar still is.
            let fell_back = s
                .notice
                .as_deref()
                .is_some_and(|n| !n.contains("quality bar"));
            if (s.device() != opts.device && !auto) || fell_back {
                sessions.push(None);
                continue;
            }
            time_runs(&s, &case.input_shape, &input, warmup)?;
            if auto {
                settled.push(format!("{} {}", m.name, s.device()));
            }
            let counts = !(auto || missed && d.ends_with(":int8"));
            sessions.push(Some((s, counts)));
        }
        let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); devices.len()];
        for _ in 0..PICK_ROUNDS {
            for (k, s) in sessions.iter().enumerate() {
                if let Some((s, _)) = s {
                    rounds[k].push(time_runs(s, &case.input_shape, &input, iters)?);
                }
            }
        }
        let ms: Vec<f64> = (rounds.into_iter())
            .map(|r| {
                if r.is_empty() {
                    f64::NAN
                } else {
                    aifx::timing::median(r)
                }
            })
            .collect();
        let mut best: Option<(usize, SharedSession)> = None;
        for (i, s) in sessions.into_iter().enumerate() {
            let Some((s, counts)) = s else { continue };
            if counts && best.as_ref().is_none_or(|(b, _)| ms[i] < ms[*b]) {
                best = Some((i, s));
            }
        }
        jobs.push(serde_json::json!({
            "name": m.name,
            "tflite": store.tflite(m),
            "input": input_path,
            "shape": case.input_shape,
        }));
        rows.push(Row {
            name: m.name.clone(),
            shape: case.input_shape.clone(),
            input,
            ms,
            best,
        });
    }
    let mut litert = match litert_python {
        Some(py) => Some(Litert::start(
            py,
            &serde_json::json!({"threads": threads, "warmup": 5, "models": jobs}),
        )?),
        None => None,
    };
    let rt = aifx::runtime::runtime(None).map_err(|e| e.to_string())?;
    println!(
        "inference per model, batch 1, {threads} threads, {iters} runs, ONNX Runtime {} ({})",
        rt.version,
        rt.library.display()
    );
    print!("{:28}", "model");
    for d in &devices {
        print!(" {:>14}", format!("{d} ms"));
    }
    if litert.is_some() {
        println!(
            "  fastest, then {rounds} alternating rounds of {iters} runs against TFLite: \
             ours ms, TFLite ms, speed-up (rounds' range)"
        );
    } else {
        println!("  fastest");
    }
    for r in &rows {
        print!("{:28}", r.name);
        for ms in &r.ms {
            print!(" {ms:>14.2}");
        }
        let Some((b, s)) = &r.best else {
            println!("  -");
            continue;
        };
        print!("  {:14}", devices[*b]);
        if let Some(l) = litert.as_mut() {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                ours.push(time_runs(s, &r.shape, &r.input, iters)?);
                theirs.push(l.time(&r.name, iters)?);
            }
            let ratios: Vec<f64> = theirs.iter().zip(&ours).map(|(t, o)| t / o).collect();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            print!(
                " {:>7.2} {:>7.2} {:>6.2}× ({lo:.2}–{hi:.2})",
                aifx::timing::median(ours),
                aifx::timing::median(theirs),
                aifx::timing::median(ratios)
            );
        }
        println!();
    }
    if !settled.is_empty() {
        println!("auto settled on: {}", settled.join(", "));
    }
    if devices.iter().any(|d| d.ends_with(":int8")) {
        println!(
            "(:int8 = the set-up's int8 variants; one that missed the quality bar against its \
             fp32 model is timed but not counted as fastest: {})",
            store.dir.join(aifx::variants::RECORD).display()
        );
    }
    Ok(())
}
