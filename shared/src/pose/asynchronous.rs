//! Pose off the streaming thread (`budget-ms`'s async rung): the tracker runs on a worker
//! thread on a copy of the newest frame, and the caller draws the newest finished result —
//! a frame or two late, but the streaming thread only pays for the copy and the drawing.

use std::sync::{Arc, Mutex};

use super::pipeline::Person;
use super::tracker::{PoseTracker, TrackerSettings};
use crate::frame::{FrameMut, OwnedFrame};
use crate::worker::LatestWorker;
use crate::{Error, Result};

type People = Vec<(u64, Person)>;

struct Job {
    frame: OwnedFrame,
    time: f64,
    settings: TrackerSettings,
    max_persons: usize,
}

/// A tracker shared by the streaming thread (synchronous frames) and the worker.
pub type SharedTracker = Arc<Mutex<PoseTracker>>;

/// The worker, started on the first asynchronous frame.
#[derive(Default)]
pub struct AsyncPose {
    worker: Option<LatestWorker<Job, Result<People>>>,
}

impl AsyncPose {
    /// Hands `frame` to the worker and returns the newest finished result, if one arrived
    /// since the last call.
    pub fn process(
        &mut self,
        tracker: &SharedTracker,
        frame: &FrameMut<'_>,
        time: f64,
        settings: &TrackerSettings,
        max_persons: usize,
    ) -> Result<Option<People>> {
        if self.worker.is_none() {
            let tracker = tracker.clone();
            let worker = LatestWorker::start(
                "aifx-pose",
                move |mut job: Job| {
                    let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
                    t.process_all(
                        &job.frame.view(),
                        job.time,
                        &job.settings,
                        job.max_persons,
                        false,
                    )
                },
                || Err(Error::Inference("the pose worker panicked".into())),
            )
            .map_err(|e| Error::Inference(format!("cannot start the pose worker: {e}")))?;
            self.worker = Some(worker);
        }
        let worker = self.worker.as_ref().expect("started above");
        worker.submit(Job {
            frame: OwnedFrame::copy_of(frame),
            time,
            settings: *settings,
            max_persons,
        });
        worker.take_result().transpose()
    }

    /// Stops the worker (after the job it is running); a later call starts a new one.
    pub fn stop(&mut self) {
        self.worker = None;
    }

    /// Drops queued work and results from before a flush or seek.
    pub fn reset(&mut self) {
        if let Some(w) = &self.worker {
            w.reset();
        }
    }
}
