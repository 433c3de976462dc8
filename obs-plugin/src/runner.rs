//! Inference off the graphics thread: each filter owns one `Runner`, whose worker runs the
//! model on the newest picture while the render path only uploads the latest result. With
//! "wait for the result" (recording) the picture is analysed inline instead, so the effect
//! belongs to the very frame it is drawn on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aifx::worker::LatestWorker;

use crate::capture::Picture;
use crate::lock;

type Work<S, R> = Arc<dyn Fn(Picture, &S) -> R + Send + Sync>;

pub struct Runner<S: Send + 'static, R: Send + 'static> {
    name: &'static str,
    work: Work<S, R>,
    panicked: fn() -> R,
    worker: Mutex<Option<LatestWorker<(Picture, S), R>>>,
    inline: Mutex<Option<R>>,
    frames: AtomicU64,
    /// Video time (ns) of the last picture an async source delivered: while pictures arrive
    /// on the CPU the render path does not read anything back from the GPU.
    async_at: AtomicU64,
    showing: AtomicBool,
}

impl<S: Send + 'static, R: Send + 'static> Runner<S, R> {
    pub fn new(
        name: &'static str,
        work: impl Fn(Picture, &S) -> R + Send + Sync + 'static,
        panicked: fn() -> R,
    ) -> Self {
        Self {
            name,
            work: Arc::new(work),
            panicked,
            worker: Mutex::new(None),
            inline: Mutex::new(None),
            frames: AtomicU64::new(0),
            async_at: AtomicU64::new(0),
            showing: AtomicBool::new(true),
        }
    }

    /// True on one frame in `interval` (the first frame always).
    pub fn due(&self, interval: u32) -> bool {
        self.frames
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(u64::from(interval.max(1)))
    }

    /// Analyses `picture`: on the worker (the result arrives later), or here when `wait`.
    pub fn run(&self, picture: Picture, settings: S, wait: bool) {
        if wait {
            // Dropping the worker stops it (after the job it is running).
            lock(&self.worker).take();
            let work = self.work.clone();
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(picture, &settings)))
                    .unwrap_or_else(|_| (self.panicked)());
            *lock(&self.inline) = Some(r);
            return;
        }
        let mut w = lock(&self.worker);
        if w.is_none() {
            let work = self.work.clone();
            match LatestWorker::start(
                self.name,
                move |(p, s): (Picture, S)| work(p, &s),
                self.panicked,
            ) {
                Ok(started) => *w = Some(started),
                Err(e) => {
                    crate::ffi::warn(&format!("cannot start the {} worker: {e}", self.name));
                    return;
                }
            }
        }
        if let Some(worker) = w.as_ref() {
            worker.submit((picture, settings));
        }
    }

    /// The newest result since the last call.
    pub fn take(&self) -> Option<R> {
        if let Some(r) = lock(&self.inline).take() {
            return Some(r);
        }
        lock(&self.worker).as_ref().and_then(|w| w.take_result())
    }

    /// Forgets queued work and results (settings that change the analysis, a hidden source).
    pub fn reset(&self) {
        if let Some(w) = lock(&self.worker).as_ref() {
            w.reset();
        }
        lock(&self.inline).take();
        self.frames.store(0, Ordering::Relaxed);
    }

    pub fn note_async_frame(&self) {
        self.async_at
            .store(crate::ffi::video_time_ns().max(1), Ordering::Relaxed);
    }

    /// True while an async source delivers pictures (one within the last half second).
    pub fn fed_by_async(&self) -> bool {
        let at = self.async_at.load(Ordering::Relaxed);
        at > 0 && crate::ffi::video_time_ns().saturating_sub(at) < 500_000_000
    }

    /// Hiding the source stops its inference; showing it starts afresh.
    pub fn set_showing(&self, showing: bool) {
        self.showing.store(showing, Ordering::Relaxed);
        if !showing {
            lock(&self.worker).take();
            self.reset();
        }
    }

    pub fn showing(&self) -> bool {
        self.showing.load(Ordering::Relaxed)
    }
}
