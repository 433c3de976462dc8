//! The real OBS Studio app (Debian's `obs-studio` 29) under Xvfb: a profile and scene
//! collection written here (a media source playing a packaged photo as a video, with "AI
//! Background" on it), recording started from the command line, stopped with SIGINT as a
//! user closing OBS would; the recorded frames must show the effect where MediaPipe's mask
//! says. The preview is saved as a screenshot in target/demo/obs-app.png.

mod common;
#[path = "obs_host.rs"]
mod obs_host;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// What one OBS run left behind.
struct Run {
    log: String,
    recording: Option<PathBuf>,
    /// CPU cores the OBS process used while running (user + system time / wall time).
    cores: f64,
}

fn obs_binary() -> Option<&'static str> {
    Command::new("obs")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "obs")
}

/// The astronaut as a 30 fps MJPEG AVI (what OBS's media source plays).
fn astronaut_video(dir: &Path) -> (PathBuf, Vec<f32>, usize, usize) {
    let refdir = common::reference_dir().join("mediapipe");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(refdir.join("manifest.json")).expect("run `make test`"),
    )
    .unwrap();
    let p = &manifest["selfie"]["astronaut"];
    let (w, h) = (
        p["width"].as_u64().unwrap() as usize,
        p["height"].as_u64().unwrap() as usize,
    );
    let rgb = std::fs::read(refdir.join(p["rgb"].as_str().unwrap())).unwrap();
    let mask = std::fs::read(refdir.join(p["masks"]["selfie"].as_str().unwrap()))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let png = dir.join("astronaut.png");
    image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .unwrap()
        .save(&png)
        .unwrap();
    (video_of(&png, w, h, &dir.join("astronaut.avi")), mask, w, h)
}

/// A still picture as a 3-second, 30 fps MJPEG AVI of `width`×`height`.
fn video_of(picture: &Path, width: usize, height: usize, avi: &Path) -> PathBuf {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,width={width},height={height} ! imagefreeze num-buffers=90 \
         ! video/x-raw,framerate=30/1 ! videoconvert ! jpegenc ! avimux ! filesink location={}",
        picture.display(),
        avi.display()
    ))
    .unwrap();
    run_to_eos(&pipeline);
    avi.to_path_buf()
}

fn run_to_eos(pipeline: &gst::Element) {
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Writes OBS's configuration (first run done, profile recording MKV to `rec`, a scene with
/// the media source and our filter) and installs our module as `make install` does.
/// `filter`: our filter's id and settings on the media source (None: no filter).
fn configure(
    dir: &Path,
    video: &Path,
    filter: Option<(&str, serde_json::Value)>,
    width: usize,
    height: usize,
) {
    let c = dir.join("config/obs-studio");
    let module = c.join("plugins/aifx");
    for d in [
        c.join("basic/profiles/aifx"),
        c.join("basic/scenes"),
        module.join("bin/64bit"),
        module.join("data/locale"),
        dir.join("rec"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(
        common::artifact("libaifx_obs.so"),
        module.join("bin/64bit/aifx.so"),
    )
    .unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../obs-plugin/data");
    std::fs::copy(data.join("aifx.effect"), module.join("data/aifx.effect")).unwrap();
    std::fs::copy(
        data.join("locale/en-US.ini"),
        module.join("data/locale/en-US.ini"),
    )
    .unwrap();
    // 29.0.2 as OBS records it: no first-run wizard, no "what's new"; no "really exit while
    // recording?" question (closing with SIGINT would wait on it forever).
    std::fs::write(
        c.join("global.ini"),
        format!(
            "[General]\nFirstRun=true\nLastVersion=486539266\nEnableAutoUpdates=false\n\
         ConfirmOnExit=false\n[BasicWindow]\nWarnBeforeStoppingRecord=false\n\
         WarnBeforeStoppingStream=false\n[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\n\
         ServerPort={}\nAuthRequired=false\nAlertsEnabled=false\n[Basic]\nProfile=aifx\nProfileDir=aifx\nSceneCollection=aifx\nSceneCollectionFile=aifx\n",
            websocket_port()
        ),
    )
    .unwrap();
    std::fs::write(
        c.join("basic/profiles/aifx/basic.ini"),
        format!(
            "[General]\nName=aifx\n[Video]\nBaseCX={width}\nBaseCY={height}\nOutputCX={width}\n\
             OutputCY={height}\nFPSType=0\nFPSCommon=30\n[Output]\nMode=Simple\n[SimpleOutput]\n\
             FilePath={}\nRecFormat=mkv\nRecQuality=Stream\nRecEncoder=x264\nStreamEncoder=x264\n\
             VBitrate=4000\n",
            dir.join("rec").display()
        ),
    )
    .unwrap();
    let filters: Vec<serde_json::Value> = filter
        .into_iter()
        .map(|(id, settings)| {
            let name = match id {
                "aifx_pose" => "AI Pose Overlay",
                _ => "AI Background",
            };
            serde_json::json!({"id": id, "versioned_id": id, "name": name, "enabled": true,
                               "settings": settings})
        })
        .collect();
    let scene = serde_json::json!({
        "name": "aifx", "current_scene": "Scene", "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}],
        "sources": [
            {"id": "scene", "versioned_id": "scene", "name": "Scene", "enabled": true,
             "settings": {"id_counter": 1, "custom_size": false, "items": [
                {"name": "camera", "id": 1, "visible": true, "locked": false,
                 "pos": {"x": 0.0, "y": 0.0}, "scale": {"x": 1.0, "y": 1.0}, "rot": 0.0,
                 "align": 5, "bounds_type": 0, "bounds": {"x": 0.0, "y": 0.0}, "bounds_align": 0}]},
             "filters": []},
            {"id": "ffmpeg_source", "versioned_id": "ffmpeg_source", "name": "camera",
             "enabled": true, "mixers": 255,
             "settings": {"local_file": video.to_str().unwrap(), "looping": true, "is_local_file": true},
             "filters": filters}
        ],
        "transitions": [], "current_transition": "Fade", "transition_duration": 300,
        "groups": [], "quick_transitions": [], "modules": {}
    });
    std::fs::write(c.join("basic/scenes/aifx.json"), scene.to_string()).unwrap();
}

/// obs-websocket's port for this test process (another run may hold the default 4455).
fn websocket_port() -> u16 {
    4455 + (std::process::id() % 1000) as u16 + 1
}

/// Sends one obs-websocket (protocol 5) request and waits for its response: just enough of
/// RFC 6455 for that (client frames masked, no fragmentation).
fn websocket_request(request: &str, data: serde_json::Value) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut ws = std::net::TcpStream::connect(("127.0.0.1", websocket_port()))?;
    ws.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        ws,
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: YWlmeC1vYnMtdGVzdC1rZXk=\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: obswebsocket.json\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let read = |ws: &mut std::net::TcpStream| -> std::io::Result<String> {
        let mut h = [0u8; 2];
        ws.read_exact(&mut h)?;
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                ws.read_exact(&mut l)?;
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                ws.read_exact(&mut l)?;
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        ws.read_exact(&mut payload)?;
        Ok(String::from_utf8_lossy(&payload).into_owned())
    };
    let send = |ws: &mut std::net::TcpStream, text: &str| -> std::io::Result<()> {
        let key = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81u8];
        let n = text.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        frame.extend_from_slice(&key);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ key[i % 4]));
        ws.write_all(&frame)
    };
    read(&mut ws)?; // Hello
    send(&mut ws, r#"{"op":1,"d":{"rpcVersion":1}}"#)?;
    read(&mut ws)?; // Identified
    let req = serde_json::json!({"op": 6, "d": {"requestType": request, "requestId": "1", "requestData": data}});
    send(&mut ws, &req.to_string())?;
    read(&mut ws)
}

/// Runs OBS for `seconds` (recording when `record`), then closes it with SIGINT.
/// With `panel`, the filters dialog of the media source is opened (through obs-websocket)
/// before the screenshot, showing our filter's properties.
fn run_obs(dir: &Path, record: bool, seconds: u64, screenshot: Option<&Path>, panel: bool) -> Run {
    let mut args = vec!["--collection", "aifx", "--profile", "aifx", "--multi"];
    args.push("--disable-missing-files-check");
    if record {
        args.push("--startrecording");
    }
    let log_path = dir.join("obs.log");
    let mut child = Command::new("obs")
        .args(&args)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start obs");
    // Let it start (loading modules, the model), then measure a steady stretch.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("Loaded scenes:") || log.contains("==== Recording Start") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (cpu0, wall0) = (obs_host::cpu_seconds(child.id()), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let cores = (obs_host::cpu_seconds(child.id()) - cpu0) / wall0.elapsed().as_secs_f64();
    if panel {
        let reply = websocket_request(
            "OpenInputFiltersDialog",
            serde_json::json!({"inputName": "camera"}),
        );
        println!("OpenInputFiltersDialog: {reply:?}");
        std::thread::sleep(Duration::from_secs(3));
    }
    if let Some(png) = screenshot {
        let display = std::env::var("DISPLAY").unwrap();
        let pipeline = gst::parse::launch(&format!(
            "ximagesrc display-name={display} num-buffers=1 use-damage=false ! videoconvert \
             ! pngenc ! filesink location={}",
            png.display()
        ))
        .unwrap();
        run_to_eos(&pipeline);
    }
    if panel {
        // The open dialog would hold up a polite close; nothing is being recorded.
        let _ = child.kill();
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "OBS did not close within 60 s of SIGINT:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let recording = std::fs::read_dir(dir.join("rec"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "mkv"));
    Run {
        log: std::fs::read_to_string(&log_path).unwrap_or_default(),
        recording,
        cores,
    }
}

/// RGB frames of a recording, one per second.
fn frames(file: &Path, width: usize, height: usize) -> Vec<Vec<u8>> {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! matroskademux ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,format=RGB,width={width},height={height} ! videorate \
         ! video/x-raw,framerate=1/1 ! appsink name=sink sync=false",
        file.display()
    ))
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().unwrap();
        let map = buffer.map_readable().unwrap();
        // Rows of RGB at this size are padded to 4 bytes.
        let stride = (width * 3).div_ceil(4) * 4;
        let mut rgb = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            rgb.extend_from_slice(&map[y * stride..y * stride + width * 3]);
        }
        out.push(rgb);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// A private X server for the whole process, held open by a connection of our own (Xvfb runs
/// with `-terminate`: one OBS closing must not take it down, and it ends with this process).
struct Display {
    _xvfb: obs_host::Xvfb,
    _x11: libloading::Library,
}

/// Tests take turns with the display: one OBS at a time (CPU, the websocket port).
fn display() -> std::sync::MutexGuard<'static, Display> {
    static DISPLAY: std::sync::OnceLock<std::sync::Mutex<Display>> = std::sync::OnceLock::new();
    DISPLAY
        .get_or_init(|| {
            let xvfb = obs_host::start_xvfb();
            // SAFETY: libX11 is the system's; XOpenDisplay(NULL) opens $DISPLAY, and the
            // connection stays open for the process's life (the library is never unloaded).
            let x11 = unsafe { libloading::Library::new("libX11.so.6") }.expect("libX11");
            // SAFETY: XOpenDisplay's C signature.
            unsafe {
                let open: libloading::Symbol<
                    unsafe extern "C" fn(*const std::ffi::c_char) -> *mut std::ffi::c_void,
                > = x11.get(b"XOpenDisplay").unwrap();
                assert!(
                    !open(std::ptr::null()).is_null(),
                    "cannot open the X display"
                );
            }
            std::sync::Mutex::new(Display {
                _xvfb: xvfb,
                _x11: x11,
            })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aifx-obs-app-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn obs_studio_records_the_background_effect() {
    if obs_binary().is_none() {
        println!("SKIPPED: the `obs` command (package obs-studio) cannot start here");
        return;
    }
    let _x = display();
    let dir = temp_dir("record");
    let (video, mask, w, h) = astronaut_video(&dir);
    let settings = serde_json::json!({"effect": "color", "color": 0xFF00_FF00u32});
    configure(&dir, &video, Some(("aifx_background", settings)), w, h);
    let demo = common::release_dir().join("../demo");
    std::fs::create_dir_all(&demo).unwrap();
    let run = run_obs(&dir, true, 5, Some(&demo.join("obs-app.png")), false);
    assert!(
        run.log.contains("[aifx] module loaded"),
        "OBS loaded our module:\n{}",
        run.log
    );
    assert!(run
        .log
        .contains("- filter: 'AI Background' (aifx_background)"));
    let file = run.recording.expect("OBS recorded a file");
    let frames = frames(&file, w, h);
    assert!(frames.len() >= 3, "{} frames recorded", frames.len());
    // From the second second on (the first frames may precede the first mask).
    for (i, f) in frames.iter().enumerate().skip(1) {
        let green = |p: &[u8]| p[1] > 200 && p[0] < 80 && p[2] < 80;
        let (mut bg, mut bg_green, mut person, mut person_green) = (0, 0, 0, 0);
        for (p, &m) in f.chunks_exact(3).zip(&mask) {
            if m < 0.05 {
                bg += 1;
                bg_green += usize::from(green(p));
            } else if m > 0.95 {
                person += 1;
                person_green += usize::from(green(p));
            }
        }
        let (bg_share, person_share) = (
            bg_green as f64 / bg as f64,
            person_green as f64 / person as f64,
        );
        println!(
            "recorded frame {i}: {:.1} % of MediaPipe's background green, {:.2} % of the person",
            100.0 * bg_share,
            100.0 * person_share
        );
        assert!(bg_share > 0.95, "frame {i}: background replaced");
        assert!(person_share < 0.02, "frame {i}: person kept");
    }
    println!(
        "OBS used {:.2} cores while recording with the filter",
        run.cores
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `make bench`: CPU use of the real OBS process showing the media source, with the filter
/// on and off (same scene, same profile, no recording).
#[test]
#[ignore = "a benchmark (make bench)"]
fn bench_obs_app_cpu() {
    if obs_binary().is_none() {
        println!("SKIPPED: the `obs` command cannot start here");
        return;
    }
    let _x = display();
    let (w, h) = (1920, 1080);
    println!("| OBS Studio, 1080p media source at 30 fps | CPU cores of the OBS process |");
    println!("|---|---|");
    for (label, filter) in [
        ("no filter", None),
        (
            "AI Background, blur",
            Some(("aifx_background", serde_json::json!({"effect": "blur"}))),
        ),
        (
            "AI Pose Overlay",
            Some(("aifx_pose", serde_json::json!({}))),
        ),
    ] {
        let dir = temp_dir("cpu");
        let video = video_of(
            Path::new("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"),
            w,
            h,
            &dir.join("messi5.avi"),
        );
        configure(&dir, &video, filter, w, h);
        let run = run_obs(&dir, false, 10, None, false);
        println!("| {label} | {:.2} |", run.cores);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `make demo`: the real OBS with AI Background's properties open (its filters dialog), as a
/// screenshot in target/demo/obs-panel.png.
#[test]
#[ignore = "writes a demo picture (make demo)"]
fn demo_properties_panel() {
    if obs_binary().is_none() {
        println!("SKIPPED: the `obs` command cannot start here");
        return;
    }
    let _x = display();
    let dir = temp_dir("panel");
    let (video, _, w, h) = astronaut_video(&dir);
    configure(
        &dir,
        &video,
        Some(("aifx_background", serde_json::json!({"effect": "blur"}))),
        w,
        h,
    );
    let demo = common::release_dir().join("../demo");
    std::fs::create_dir_all(&demo).unwrap();
    let png = demo.join("obs-panel.png");
    run_obs(&dir, false, 2, Some(&png), true);
    println!("{}", png.display());
    let _ = std::fs::remove_dir_all(&dir);
}
