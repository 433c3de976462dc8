//! The session cache and device fallback on the real runtime and a real converted model
//! (installed by the set-up; `make test` runs it first).

use aifx::paths::resolve_model;
use aifx::session::{cached_sessions, cached_sessions_of, session, SessionOptions};
use aifx::Device;

#[test]
fn sessions_are_shared_per_model_device_and_threads() {
    let model = resolve_model("selfie").expect("run `make test` to install the models");
    let a = session(
        &model,
        &SessionOptions {
            threads: 2,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    let b = session(
        &model,
        &SessionOptions {
            threads: 2,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert!(a.same_as(&b), "a second instance must reuse the session");
    assert!(cached_sessions() >= 1);
    let c = session(
        &model,
        &SessionOptions {
            threads: 1,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert!(!a.same_as(&c), "another thread count is another session");
    assert_eq!(
        c.inputs[0].shape,
        vec![Some(1), Some(256), Some(256), Some(3)]
    );
    assert_eq!(
        a.outputs[0].shape,
        vec![Some(1), Some(256), Some(256), Some(1)]
    );

    // Many threads asking at once still get the one session.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = model.clone();
            std::thread::spawn(move || {
                session(
                    &m,
                    &SessionOptions {
                        threads: 2,
                        ..SessionOptions::default()
                    },
                )
                .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().same_as(&a));
    }
    let out = a.run(&[1, 256, 256, 3], &vec![0.5; 256 * 256 * 3]).unwrap();
    assert_eq!(out[0].shape, vec![1, 256, 256, 1]);
    assert!(out[0].data.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn an_unavailable_provider_falls_back_to_cpu() {
    let model = resolve_model("selfie").expect("run `make test` to install the models");
    // The installed runtime has OpenVINO but no CUDA/TensorRT; CoreML/DirectML never on Linux.
    let available = aifx::session::available_devices();
    for d in [
        Device::Cuda,
        Device::TensorRt,
        Device::OpenVino,
        Device::CoreMl,
        Device::DirectMl,
    ]
    .into_iter()
    .filter(|d| !available.contains(d))
    {
        let s = session(
            &model,
            &SessionOptions {
                device: d,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.device(), Device::Cpu, "{d} should fall back to cpu here");
    }
}

#[test]
fn corrupt_and_wrong_inputs_are_errors() {
    let dir = std::env::temp_dir().join(format!("aifx-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("corrupt.onnx");
    std::fs::write(&bad, b"\x08\x07garbage that is not a model").unwrap();
    let e = session(&bad, &SessionOptions::default())
        .expect_err("error")
        .to_string();
    // The user's own file: what is wrong with it, not "reinstall aifx's models".
    assert!(
        e.contains("corrupt.onnx")
            && e.contains("not a valid ONNX model")
            && !e.contains("make demo"),
        "{e}"
    );
    // The set-up's own files are the ones a reinstall fixes.
    assert!(aifx::paths::is_installed(&resolve_model("selfie").unwrap()));
    assert!(!aifx::paths::is_installed(&bad));

    let model = resolve_model("selfie").unwrap();
    let s = session(&model, &SessionOptions::default()).unwrap();
    let e = s
        .run(&[1, 256, 256, 3], &[0.0; 10])
        .expect_err("error")
        .to_string();
    assert!(e.contains("needs"), "{e}");
    let e = s
        .run(&[1, 128, 128, 3], &vec![0.0; 128 * 128 * 3])
        .expect_err("error")
        .to_string();
    assert!(e.contains("inference failed"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sessions_no_one_holds_are_dropped() {
    let model = resolve_model("selfie").expect("run `make test` to install the models");
    // A file of its own, so no other test's sessions are counted.
    let copy = std::env::temp_dir().join(format!("aifx-evict-{}.onnx", std::process::id()));
    std::fs::copy(&model, &copy).unwrap();
    let opts = SessionOptions::default();
    let a = session(&copy, &opts).unwrap();
    let b = session(&copy, &opts).unwrap();
    assert!(a.same_as(&b));
    assert_eq!(cached_sessions_of(&copy), 1);
    drop(a);
    assert_eq!(cached_sessions_of(&copy), 1, "still held by `b`");
    drop(b);
    assert_eq!(
        cached_sessions_of(&copy),
        0,
        "kept after its last holder went"
    );
    // And it loads again on the next use.
    let c = session(&copy, &opts).unwrap();
    assert_eq!(cached_sessions_of(&copy), 1);
    drop(c);
    let _ = std::fs::remove_file(&copy);
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The set-up installs ONNX Runtime with OpenVINO: it runs the models (the relu6 rewrite's
/// HardSigmoid included) with the CPU's results, and `auto` settles on one provider after its
/// trial runs, every run giving the same answer.
#[test]
fn openvino_agrees_with_cpu_and_auto_settles() {
    let available = aifx::session::available_devices();
    assert!(available.contains(&Device::Auto) && available.contains(&Device::Cpu));
    if !available.contains(&Device::OpenVino) {
        println!("no OpenVINO in this ONNX Runtime: {available:?}");
        return;
    }
    for (name, shape) in [
        ("selfie", [1usize, 256, 256, 3]),
        ("pose-landmark-full-nomask", [1, 256, 256, 3]),
    ] {
        let model = resolve_model(name).expect("run `make test` to install the models");
        let n: usize = shape.iter().product();
        // A smooth picture-like ramp, not a constant (constants hide layout mistakes).
        let input: Vec<f32> = (0..n).map(|i| ((i * 7) % 255) as f32 / 255.0).collect();
        let run = |device| {
            let s = session(
                &model,
                &SessionOptions {
                    device,
                    precision: aifx::Precision::Fp32,
                    threads: 2,
                    ..SessionOptions::default()
                },
            )
            .unwrap();
            assert_eq!(s.device(), device, "{name} on {device}: {:?}", s.notice);
            s.run(&shape, &input).unwrap()
        };
        let cpu = run(Device::Cpu);
        let ov = run(Device::OpenVino);
        for (c, o) in cpu.iter().zip(&ov) {
            let scale = c.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let d = max_diff(&c.data, &o.data);
            assert!(
                d <= 1e-3 * scale,
                "{name} output {}: {d} (scale {scale})",
                c.name
            );
        }
        let auto = session(
            &model,
            &SessionOptions {
                precision: aifx::Precision::Fp32,
                threads: 2,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        assert!(auto.notice.is_none(), "{:?}", auto.notice);
        for _ in 0..14 {
            let out = auto.run(&shape, &input).unwrap();
            let scale = cpu[0].data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            assert!(max_diff(&out[0].data, &cpu[0].data) <= 1e-3 * scale);
        }
        let settled = auto.device();
        for _ in 0..4 {
            auto.run(&shape, &input).unwrap();
            assert_eq!(auto.device(), settled, "auto changes its mind no more");
        }
        println!("{name}: auto settled on {settled}");
    }
}

/// A precision the provider cannot run is said (and the model runs fp32): int8 of a model
/// without an int8 variant, bf16 on ONNX Runtime's own CPU code.
#[test]
fn a_precision_the_provider_lacks_is_said() {
    let model = resolve_model("selfie").expect("run `make test` to install the models");
    // A copy with no variant beside it.
    let dir = std::env::temp_dir().join(format!("aifx-no-variant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lone = dir.join("selfie.onnx");
    std::fs::copy(&model, &lone).unwrap();
    for (file, device, precision) in [
        (&lone, Device::Cpu, aifx::Precision::Int8),
        (&model, Device::Cpu, aifx::Precision::Bf16),
        (&lone, Device::Auto, aifx::Precision::Int8),
    ] {
        let s = session(
            file,
            &SessionOptions {
                device,
                precision,
                ..SessionOptions::default()
            },
        )
        .unwrap();
        let notice = s.notice.clone().unwrap_or_default();
        assert!(
            notice.contains(&format!("precision={precision}")) && notice.contains("fp32"),
            "{device} {precision}: {notice:?}"
        );
    }
    let fine = session(
        &model,
        &SessionOptions {
            device: Device::Cpu,
            precision: aifx::Precision::Fp32,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert!(fine.notice.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The set-up's int8 variants: `precision=int8` runs the variant (its outputs are not the
/// fp32 model's), says so when the record has it missing the quality bar, and `auto` never
/// picks a variant the record does not offer.
#[test]
fn int8_runs_the_variant_and_auto_follows_the_record() {
    let model = resolve_model("selfie").expect("run `make test` to install the models");
    let variant = aifx::variants::int8_path(&model);
    assert!(
        variant.is_file(),
        "{} (the set-up makes it)",
        variant.display()
    );
    let record = std::fs::read_to_string(model.with_file_name(aifx::variants::RECORD))
        .expect("int8.txt (the set-up writes it)");
    let opts = |precision| SessionOptions {
        device: Device::Cpu,
        precision,
        ..SessionOptions::default()
    };
    let shape = [1, 256, 256, 3];
    let input: Vec<f32> = (0..256 * 256 * 3)
        .map(|i| (i % 251) as f32 / 250.0)
        .collect();
    let fp32 = session(&model, &opts(aifx::Precision::Fp32)).unwrap();
    let int8 = session(&model, &opts(aifx::Precision::Int8)).unwrap();
    let (a, b) = (
        fp32.run(&shape, &input).unwrap(),
        int8.run(&shape, &input).unwrap(),
    );
    assert_ne!(a[0].data, b[0].data, "int8 ran the fp32 model");
    let missed = aifx::variants::missed_bar(&record, "selfie");
    assert_eq!(
        int8.notice
            .as_deref()
            .is_some_and(|n| n.contains("quality bar")),
        missed.is_some(),
        "{:?} / record {missed:?}",
        int8.notice
    );
    let auto = session(&model, &opts(aifx::Precision::Auto)).unwrap();
    let c = auto.run(&shape, &input).unwrap();
    let offered = aifx::variants::offered(&record, "selfie", Device::Cpu);
    assert_eq!(
        c[0].data == b[0].data,
        offered,
        "auto and the record disagree"
    );
}
