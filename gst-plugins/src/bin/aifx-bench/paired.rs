//! Paired rounds: our element and a reference peer (MediaPipe in a Python child process) timed
//! alternately, round after round, so that a machine whose speed drifts (this project's VMs
//! wander 1.5–2× over minutes) slows both sides alike. The ratio reported is the median of the
//! per-round ratios, with their range.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use crate::{frame_rgb, WARMUP};

/// A reference script of `tests/reference` kept running with `--serve` (see `peer.py`).
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dir: PathBuf,
}

impl Peer {
    /// Starts `python SCRIPT --serve DIR` with messi5 frames of each size written into DIR.
    pub fn start(python: &Path, script: &str, sizes: &[(u32, u32)]) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("aifx-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for &(w, h) in sizes {
            std::fs::write(dir.join(format!("{w}x{h}.rgb")), frame_rgb(w, h))
                .map_err(|e| e.to_string())?;
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/reference")
            .join(script);
        let mut child = Command::new(python)
            .arg(&script)
            .arg("--serve")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            dir,
        })
    }

    /// Mean ms of `iters` runs of the peer's `what` on the `size` frame.
    pub fn time(&mut self, what: &str, (w, h): (u32, u32), iters: usize) -> Result<f64, String> {
        writeln!(self.stdin, "{what} {w}x{h} {iters}").map_err(|e| format!("peer: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("peer: {e}"))?;
        line.trim()
            .parse()
            .map_err(|e| format!("peer answered `{}` ({e})", line.trim()))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One element in a harness, kept between rounds. Each frame's pixels are written into its
/// buffer just before it is pushed, as a decoder or a camera upstream would; only the element
/// is timed.
pub struct ElementTimer {
    hns: gst_check::Harness,
    pixels: Vec<u8>,
}

impl ElementTimer {
    pub fn new(desc: &str, buf: &gst::Buffer, info: &gst_video::VideoInfo) -> Self {
        let mut hns = gst_check::Harness::new_parse(desc);
        hns.set_src_caps(info.to_caps().unwrap());
        let pixels = buf.map_readable().expect("readable source buffer").to_vec();
        Self { hns, pixels }
    }

    /// Mean ms per frame over `frames` frames.
    pub fn time(&mut self, frames: usize) -> f64 {
        let mut spent = std::time::Duration::ZERO;
        for _ in 0..frames {
            let mut b = gst::Buffer::with_size(self.pixels.len()).expect("buffer");
            b.get_mut()
                .expect("fresh buffer")
                .copy_from_slice(0, &self.pixels)
                .expect("pixels");
            let t = Instant::now();
            let out = self.hns.push_and_pull(b).expect("frame");
            spent += t.elapsed();
            // Freed after the clock stops: a pipeline's buffers go back to a pool, and freeing
            // a whole frame's memory is the harness's cost, not the element's.
            drop(out);
        }
        spent.as_secs_f64() * 1000.0 / frames.max(1) as f64
    }
}

/// Per-round means of both sides.
pub struct Rounds {
    pub ours: Vec<f64>,
    pub theirs: Vec<f64>,
}

impl Rounds {
    /// Alternates `rounds` rounds of `frames` frames: ours, then the peer's `what`.
    pub fn run(
        ours: &mut ElementTimer,
        peer: &mut Peer,
        what: &str,
        size: (u32, u32),
        rounds: usize,
        frames: usize,
    ) -> Result<Self, String> {
        // A round of each side first, untimed: the first timed round had run slower on both
        // sides (ours 5.5 ms against ~3 in the next four, MediaPipe 5.7 against ~4.4), and a
        // row's first round set its range.
        ours.time(WARMUP.max(frames));
        peer.time(what, size, WARMUP.max(frames))?;
        let mut r = Self {
            ours: Vec::new(),
            theirs: Vec::new(),
        };
        for _ in 0..rounds {
            r.ours.push(ours.time(frames));
            r.theirs.push(peer.time(what, size, frames)?);
        }
        Ok(r)
    }

    /// `ours ms  theirs ms  speed-up (median of the rounds' ratios, their range)`.
    pub fn summary(&self) -> String {
        let ratios: Vec<f64> = self
            .theirs
            .iter()
            .zip(&self.ours)
            .map(|(t, o)| t / o)
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
        format!(
            "{:>9.2} {:>10.2} {:>7.2}× ({lo:.2}–{hi:.2})",
            aifx::timing::median(self.ours.iter().copied()),
            aifx::timing::median(self.theirs.iter().copied()),
            aifx::timing::median(ratios.iter().copied()),
        )
    }

    /// The header matching [`Rounds::summary`], after a `width`-wide label column.
    pub fn header(width: usize) -> String {
        format!(
            "{:width$} {:>9} {:>10} {:>8} (rounds' range)",
            "", "ours ms", "theirs ms", "speed-up"
        )
    }
}
