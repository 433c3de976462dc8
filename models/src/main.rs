//! `aifx-models`: fetch, convert, verify, list and benchmark the default models.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aifx::session::{session, SessionOptions};
use aifx::{Device, Precision};
use aifx_models::catalog::Catalog;
use aifx_models::convert::{convert_forms, Forms};
use aifx_models::reference::{read_f32, Reference};
use aifx_models::store::{sha256_file, write_atomic, Store};
use clap::{Parser, Subcommand};

mod bench;
use bench::bench;

#[derive(Parser)]
#[command(
    name = "aifx-models",
    version,
    about = "aifx model catalog and TFLite → ONNX converter"
)]
struct Cli {
    /// Model store (default: ${XDG_DATA_HOME:-~/.local/share}/aifx/models).
    #[arg(long, global = true)]
    model_dir: Option<PathBuf>,
    /// Catalog file (default: the catalog built into this binary).
    #[arg(long, global = true)]
    catalog: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract the catalog's TFLite files from the downloaded wheel, checking sha256s.
    Fetch {
        /// The folder `pip download` put the wheel in, or the wheel file itself.
        #[arg(long)]
        wheel: PathBuf,
    },
    /// Convert every fetched model to ONNX (skips models already converted by this binary).
    Convert {
        #[arg(long)]
        force: bool,
        /// Convert only these models.
        names: Vec<String>,
    },
    /// Compare converted models with the TFLite reference tensors.
    Verify {
        /// Reference folder written by tests/reference/litert_reference.py.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// `DEVICE[:PRECISION]`; fp32 unless a precision is given (the tolerances are fp32's).
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// List the catalog with conversion and verification status.
    List,
    /// Time ONNX Runtime inference per model, beside ai-edge-litert when a Python is given.
    Bench {
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 50)]
        iters: usize,
        /// Alternating rounds of `iters` runs per model against TFLite (the figure is the
        /// median of the rounds' speed-ups).
        #[arg(long, default_value_t = 9)]
        rounds: usize,
        /// Providers to time, comma-separated; `all` = every one the loaded ONNX Runtime has.
        #[arg(long, default_value = "all")]
        device: String,
        /// Python with ai-edge-litert installed, for the TFLite column.
        #[arg(long)]
        litert_python: Option<PathBuf>,
        /// Reference folder whose input tensors both engines get.
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// Make int8 variants (`NAME-int8.onnx`), judge them against the fp32 models, time both
    /// on every provider and record where `precision=auto` uses them (`int8.txt`).
    Quantize {
        /// Python with onnx and onnxruntime (the set-up's reference venv).
        #[arg(long)]
        python: PathBuf,
        /// Remake variants that exist.
        #[arg(long)]
        force: bool,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Reference folder whose inputs the variants are judged on.
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// Run the selfie model on photos and write the masks as PNGs.
    Demo {
        #[arg(long)]
        out: PathBuf,
        photos: Vec<PathBuf>,
    },
}

fn converter_hash() -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    sha256_file(&exe).map_err(|e| format!("{}: {e}", exe.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aifx-models: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let catalog = Catalog::load(cli.catalog.as_deref())?;
    let store = Store::new(cli.model_dir.unwrap_or_else(aifx::paths::default_model_dir));
    match cli.command {
        Command::Fetch { wheel } => fetch(&catalog, &store, &wheel),
        Command::Convert { force, names } => convert(&catalog, &store, force, &names),
        Command::Verify { reference, device } => verify(
            &catalog,
            &store,
            &reference.unwrap_or_else(aifx::paths::reference_dir),
            &device,
        ),
        Command::List => list(&catalog, &store),
        Command::Bench {
            threads,
            iters,
            rounds,
            device,
            litert_python,
            reference,
        } => bench(
            &catalog,
            &store,
            bench::Runs {
                threads,
                iters: iters.max(1),
                rounds: rounds.max(1),
            },
            &device,
            litert_python.as_deref(),
            &reference.unwrap_or_else(aifx::paths::reference_dir),
        ),
        Command::Quantize {
            python,
            force,
            threads,
            reference,
        } => quantize(
            &catalog,
            &store,
            &python,
            force,
            threads,
            &reference.unwrap_or_else(aifx::paths::reference_dir),
        ),
        Command::Demo { out, photos } => demo(&store, &out, &photos),
    }
}

/// `aifx-models quantize`: see `aifx_models::quantize`. Variants are made once (a stamp of
/// the fp32 model's and the script's sha256 and the calibration's version beside each); the record is rewritten when any
/// variant was made or it is missing.
fn quantize(
    catalog: &Catalog,
    store: &Store,
    python: &Path,
    force: bool,
    threads: usize,
    reference: &Path,
) -> Result<(), String> {
    use aifx_models::quantize::{calibration_inputs, offered, quality, timing};
    let reference = Reference::load(reference)?;
    let script = include_str!("../quantize.py");
    let record = store.dir.join(aifx::variants::RECORD);
    let mut made = false;
    let work = std::env::temp_dir().join(format!("aifx-quantize-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let script_path = work.join("quantize.py");
    std::fs::write(&script_path, script).map_err(|e| e.to_string())?;
    let result = (|| -> Result<(), String> {
        for m in catalog.models.iter().filter(|m| !m.int8.is_empty()) {
            let src = store.onnx(m);
            let dst = aifx::variants::int8_path(&src);
            let stamp_path = store.dir.join(".stamps").join(format!("{}.int8", m.name));
            let stamp = format!(
                "{} {} {}",
                sha256_file(&src).map_err(|e| format!("{}: {e}", src.display()))?,
                aifx_models::store::sha256_hex(script.as_bytes()),
                aifx_models::quantize::CALIBRATION_VERSION
            );
            let current = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp);
            if current && dst.is_file() && !force {
                continue;
            }
            let (n, calib) = calibration_inputs(m, store)?;
            let calib_path = work.join(format!("{}.f32", m.name));
            let bytes: Vec<u8> = calib.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&calib_path, bytes).map_err(|e| e.to_string())?;
            let tmp = work.join(format!("{}-int8.onnx", m.name));
            let t = Instant::now();
            let status = std::process::Command::new(python)
                .arg(&script_path)
                .arg(&src)
                .arg(&tmp)
                .arg(&calib_path)
                .args(
                    [n, m.input_shape[1], m.input_shape[2], m.input_shape[3]]
                        .map(|v| v.to_string()),
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .map_err(|e| format!("{}: {e}", python.display()))?;
            if !status.status.success() {
                return Err(format!(
                    "quantizing {} failed:\n{}",
                    m.name,
                    String::from_utf8_lossy(&status.stderr)
                ));
            }
            let bytes = std::fs::read(&tmp).map_err(|e| e.to_string())?;
            write_atomic(&dst, &bytes)?;
            std::fs::create_dir_all(stamp_path.parent().expect("stamps folder"))
                .map_err(|e| e.to_string())?;
            std::fs::write(&stamp_path, &stamp).map_err(|e| e.to_string())?;
            println!(
                "{}: int8 variant from {n} calibration inputs in {:.1} s",
                m.name,
                t.elapsed().as_secs_f64()
            );
            made = true;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    if !made && record.is_file() && !force {
        println!("int8 variants up to date ({})", record.display());
        return Ok(());
    }
    let devices: Vec<Device> = aifx::session::available_devices()
        .into_iter()
        .filter(|&d| matches!(d, Device::Cpu | Device::OpenVino))
        .collect();
    let mut lines = vec![
        "# Written by `aifx-models quantize`: each int8 variant against its model, per provider.".to_string(),
        "# ms: the model at its default precision there (OpenVINO bf16 hint, else fp32) and the".to_string(),
        "# int8 variant, medians of alternating rounds; quality: the worst over the reference".to_string(),
        "# inputs (bar: IoU >= 0.98, landmark error <= 0.015 of the box diagonal, score gap <= 0.1);".to_string(),
        "# auto: yes where the bar is kept and int8 is 10 % faster or more.".to_string(),
        "# model device default-ms int8-ms quality bar auto".to_string(),
    ];
    for m in catalog.models.iter().filter(|m| !m.int8.is_empty()) {
        let (src, dst) = (store.onnx(m), aifx::variants::int8_path(&store.onnx(m)));
        let (words, pass) = quality(m, &src, &dst, &reference)?;
        let cases = &reference.manifest.models[&m.name];
        let (case_name, case) = cases.cases.iter().next().ok_or("empty reference")?;
        let input = read_f32(&reference.file(&m.name, case_name, &case.input_file))?;
        for &d in &devices {
            let (a, b) = timing(&src, &dst, d, &case.input_shape, &input, threads)?;
            let line = format!(
                "{} {d} {a:.2} {b:.2} {words} {} {}",
                m.name,
                if pass { "kept" } else { "missed" },
                if offered(pass, a, b) { "yes" } else { "no" }
            );
            println!("{line}");
            lines.push(line);
        }
    }
    write_atomic(&record, (lines.join("\n") + "\n").as_bytes())
}

fn fetch(catalog: &Catalog, store: &Store, wheel: &Path) -> Result<(), String> {
    let wheel = if wheel.is_dir() {
        wheel.join(&catalog.wheel.file)
    } else {
        wheel.to_path_buf()
    };
    let n = store.fetch(catalog, &wheel)?;
    if n == 0 {
        println!(
            "all {} TFLite models present in {}",
            catalog.models.len(),
            store.dir.display()
        );
    } else {
        println!(
            "extracted {n} TFLite models to {}",
            store.dir.join("tflite").display()
        );
    }
    Ok(())
}

fn convert(catalog: &Catalog, store: &Store, force: bool, names: &[String]) -> Result<(), String> {
    let hash = converter_hash()?;
    for name in names {
        if catalog.find(name).is_none() {
            return Err(format!("`{name}` is not in the catalog"));
        }
    }
    for m in catalog
        .models
        .iter()
        .filter(|m| names.is_empty() || names.contains(&m.name))
    {
        if !force && store.is_converted(m, &hash) {
            println!("{:28} up to date", m.name);
            continue;
        }
        if !store.has_tflite(m) {
            return Err(format!(
                "{} is missing or has the wrong sha256; run `aifx-models fetch --wheel DIR` first (make demo does)",
                store.tflite(m).display()
            ));
        }
        let bytes = std::fs::read(store.tflite(m)).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let meta = vec![
            ("aifx.name".to_string(), m.name.clone()),
            (
                "aifx.source".to_string(),
                format!("{} ({})", m.source, catalog.wheel.requirement),
            ),
            ("aifx.tflite_sha256".to_string(), m.tflite_sha256.clone()),
            ("aifx.layout".to_string(), m.layout.clone()),
            ("aifx.color".to_string(), m.color.clone()),
            (
                "aifx.input_range".to_string(),
                format!("{},{}", m.input_range[0], m.input_range[1]),
            ),
            ("aifx.license".to_string(), m.license.clone()),
        ];
        let parsed =
            aifx_models::tflite::Model::parse(&bytes).map_err(|e| format!("{}: {e}", m.name))?;
        let c = convert_forms(&parsed, &m.name, &meta, &m.outputs, Forms::Reference)
            .map_err(|e| format!("{}: {e}", m.name))?;
        let elapsed = t.elapsed();
        // The same model as before is left as it is: a rewrite would change its modification
        // time, which `device=auto`'s remembered decisions are keyed on (a set-up from another
        // checkout, whose converter differs only in its build, had every model timed again).
        let same = std::fs::read(store.onnx(m)).is_ok_and(|old| old == c.onnx);
        if !same {
            write_atomic(&store.onnx(m), &c.onnx)?;
        }
        // OpenVINO's forms where the catalog asks for them and they differ from the
        // reference graph (the same bytes are left alone, as above).
        let ov_path = aifx::variants::openvino_path(&store.onnx(m));
        let ov = if m.openvino_forms {
            let ov = convert_forms(&parsed, &m.name, &meta, &m.outputs, Forms::OpenVino)
                .map_err(|e| format!("{}: {e}", m.name))?;
            (ov.onnx != c.onnx).then_some(ov.onnx)
        } else {
            None
        };
        match ov {
            Some(bytes) if std::fs::read(&ov_path).map_or(true, |old| old != bytes) => {
                write_atomic(&ov_path, &bytes)?
            }
            Some(_) => {}
            None => {
                let _ = std::fs::remove_file(&ov_path);
            }
        }
        store.mark_converted(m, &hash)?;
        let ops: usize = c.ops.values().sum();
        println!(
            "{:28} converted {ops} ops in {:.1} ms → {} ({} KiB{})",
            m.name,
            elapsed.as_secs_f64() * 1000.0,
            store.onnx(m).display(),
            c.onnx.len() / 1024,
            if same { ", unchanged" } else { "" }
        );
    }
    Ok(())
}

/// `DEVICE[:PRECISION]`, e.g. `openvino:bf16`; the tools' precision defaults to fp32 (the
/// TFLite tolerances are fp32's).
pub(crate) fn session_options(device: &str, threads: usize) -> Result<SessionOptions, String> {
    let (device, precision) = device.split_once(':').unwrap_or((device, "fp32"));
    Ok(SessionOptions {
        device: device.parse::<Device>().map_err(|e| e.to_string())?,
        precision: precision.parse::<Precision>().map_err(|e| e.to_string())?,
        threads,
        library: None,
    })
}

fn verify(catalog: &Catalog, store: &Store, reference: &Path, device: &str) -> Result<(), String> {
    let reference = Reference::load(reference)?;
    let rows =
        aifx_models::verify::verify(catalog, store, &reference, &session_options(device, 0)?)?;
    println!(
        "{:28} {:10} {:14} {:>10} {:>10}  {:24} result",
        "model", "photo", "output", "max abs", "mean abs", "tolerance"
    );
    let mut report = serde_json::Map::new();
    for r in &rows {
        println!(
            "{:28} {:10} {:14} {:>10.2e} {:>10.2e}  {:24} {}",
            r.model,
            r.case,
            r.output,
            r.diff.max_abs,
            r.diff.mean_abs,
            r.tolerance,
            match (r.passed, r.diff.nan) {
                (true, _) => "ok".to_string(),
                (false, 0) => "FAIL".to_string(),
                (false, n) => format!("FAIL ({n} NaN)"),
            }
        );
        let e = report
            .entry(r.model.clone())
            .or_insert_with(|| serde_json::json!({"passed": true, "max_abs": 0.0}));
        e["passed"] = serde_json::Value::Bool(e["passed"].as_bool().unwrap_or(false) && r.passed);
        let m = e["max_abs"]
            .as_f64()
            .unwrap_or(0.0)
            .max(f64::from(r.diff.max_abs));
        e["max_abs"] = serde_json::json!(m);
    }
    write_atomic(
        &store.verify_report(),
        serde_json::to_string_pretty(&report)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let failed = rows.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} outputs are outside their tolerance",
            rows.len()
        ));
    }
    println!("all {} outputs within tolerance", rows.len());
    Ok(())
}

fn list(catalog: &Catalog, store: &Store) -> Result<(), String> {
    let report: serde_json::Value = std::fs::read_to_string(store.verify_report())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    println!(
        "models in {} ({}, {})",
        store.dir.display(),
        catalog.wheel.requirement,
        catalog.wheel.license
    );
    let record =
        std::fs::read_to_string(store.dir.join(aifx::variants::RECORD)).unwrap_or_default();
    println!(
        "{:28} {:16} {:10} {:22} {:14} description",
        "name", "input", "converted", "verified", "int8 variant"
    );
    for m in &catalog.models {
        // What `aifx-models quantize` recorded: whether `auto` uses the variant anywhere.
        let int8 = if m.int8.is_empty() {
            "none"
        } else if !aifx::variants::int8_path(&store.onnx(m)).is_file() {
            "not made yet"
        } else if aifx::variants::missed_bar(&record, &m.name).is_some() {
            "missed the bar"
        } else if [Device::Cpu, Device::OpenVino, Device::Cuda]
            .into_iter()
            .any(|d| aifx::variants::offered(&record, &m.name, d))
        {
            "used by auto"
        } else {
            "not faster"
        };
        let converted = if store.onnx(m).is_file() { "yes" } else { "no" };
        let verified = match report.get(&m.name) {
            Some(v) if v["passed"].as_bool() == Some(true) => {
                format!("ok (max {:.1e})", v["max_abs"].as_f64().unwrap_or(0.0))
            }
            Some(_) => "FAILED".to_string(),
            None => "not yet".to_string(),
        };
        let shape = m
            .input_shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        println!(
            "{:28} {:16} {:10} {:22} {:14} {}",
            m.name, shape, converted, verified, int8, m.description
        );
    }
    Ok(())
}

fn demo(store: &Store, out: &Path, photos: &[PathBuf]) -> Result<(), String> {
    let model = store.dir.join("selfie.onnx");
    let s = session(&model, &SessionOptions::default()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    for photo in photos {
        let img = image::open(photo)
            .map_err(|e| format!("{}: {e}", photo.display()))?
            .to_rgb8();
        let small = image::imageops::resize(&img, 256, 256, image::imageops::FilterType::Triangle);
        let input = aifx::tensor::rgb_to_nhwc(small.as_raw(), aifx::tensor::InputRange::UNIT);
        let t = Instant::now();
        let outputs = s
            .run(&[1, 256, 256, 3], &input)
            .map_err(|e| e.to_string())?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mask = &outputs[0].data;
        let mask_img = image::GrayImage::from_fn(256, 256, |x, y| {
            image::Luma([(mask[(y * 256 + x) as usize].clamp(0.0, 1.0) * 255.0).round() as u8])
        });
        let full = image::imageops::resize(
            &mask_img,
            img.width(),
            img.height(),
            image::imageops::FilterType::Triangle,
        );
        let cutout = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
            let a = f32::from(full.get_pixel(x, y)[0]) / 255.0;
            let p = img.get_pixel(x, y);
            image::Rgb(std::array::from_fn(|c| {
                (f32::from(p[c]) * a + 40.0 * (1.0 - a)).round() as u8
            }))
        });
        let stem = photo
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("photo");
        let mask_path = out.join(format!("{stem}-mask.png"));
        let cut_path = out.join(format!("{stem}-cutout.png"));
        full.save(&mask_path).map_err(|e| e.to_string())?;
        cutout.save(&cut_path).map_err(|e| e.to_string())?;
        println!(
            "{}: selfie mask in {ms:.1} ms → {} and {}",
            photo.display(),
            mask_path.display(),
            cut_path.display()
        );
    }
    Ok(())
}
