//! A background thread that runs the newest job only ("latest frame wins"), for effects whose
//! model must never hold up the thread that hands it frames: the `segment` element's
//! `async=true` and the OBS filters.
//!
//! Job, stop flag and result generation live under one mutex, so a stop or a new job can never
//! land between the worker's check and its wait (a lost wake-up would make `join` hang).
//! Every job carries the generation current when it was submitted; [`LatestWorker::reset`]
//! bumps it, so a result computed before a flush or seek is thrown away instead of landing
//! after it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The worker's niceness: CFS weights it about a third of a normal thread's, so it yields to
/// the threads handing it frames on a busy core and has the core to itself on an idle one.
pub const WORKER_NICENESS: i32 = 5;

struct Shared<J, R> {
    /// The newest job not yet taken, with its generation.
    job: Option<(u64, J)>,
    /// The newest finished result, with the generation of its job.
    result: Option<(u64, R)>,
    generation: u64,
    stop: bool,
}

struct Slot<J, R> {
    state: Mutex<Shared<J, R>>,
    wake: Condvar,
}

impl<J, R> Slot<J, R> {
    /// The state, whether or not a panic elsewhere poisoned the lock (the state is a few
    /// plain fields that are always consistent between statements).
    fn lock(&self) -> MutexGuard<'_, Shared<J, R>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A worker thread running `work` on the newest submitted job.
pub struct LatestWorker<J, R> {
    slot: Arc<Slot<J, R>>,
    thread: Option<JoinHandle<()>>,
}

impl<J: Send + 'static, R: Send + 'static> LatestWorker<J, R> {
    /// Starts the thread. A panic inside `work` is caught and handed back through `on_panic`
    /// as that job's result; the worker keeps running.
    pub fn start(
        name: &str,
        work: impl Fn(J) -> R + Send + 'static,
        on_panic: impl Fn() -> R + Send + 'static,
    ) -> std::io::Result<Self> {
        let slot = Arc::new(Slot {
            state: Mutex::new(Shared {
                job: None,
                result: None,
                generation: 0,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let s = slot.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // The threads handing the worker frames come first: the worker's result may
                // be a frame later, their frames may not (measured with one core spinning:
                // the frame that starts a job beside the worker cost 6.4 ms instead of 2.9).
                crate::parallel::lower_this_thread(WORKER_NICENESS);
                loop {
                    let (generation, job) = {
                        let mut st = s.lock();
                        loop {
                            if st.stop {
                                return;
                            }
                            if let Some(j) = st.job.take() {
                                break j;
                            }
                            // Tests widen the gap between the check and the wait, where a wake-up
                            // sent without this lock would be lost.
                            #[cfg(test)]
                            tests::between_check_and_wait();
                            st = s.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job)))
                        .unwrap_or_else(|_| on_panic());
                    let mut st = s.lock();
                    if st.generation == generation {
                        st.result = Some((generation, r));
                    }
                }
            })?;
        Ok(Self {
            slot,
            thread: Some(thread),
        })
    }
}

impl<J, R> LatestWorker<J, R> {
    /// Hands the worker a job, replacing one it has not started yet.
    pub fn submit(&self, job: J) {
        let mut st = self.slot.lock();
        st.job = Some((st.generation, job));
        self.slot.wake.notify_one();
    }

    /// The newest finished result of the current generation, if one arrived since the last
    /// call.
    pub fn take_result(&self) -> Option<R> {
        let mut st = self.slot.lock();
        let generation = st.generation;
        match st.result.take() {
            Some((g, r)) if g == generation => Some(r),
            _ => None,
        }
    }

    /// Drops the pending job and any result, and makes the result of a job already running
    /// be thrown away when it finishes.
    pub fn reset(&self) {
        let mut st = self.slot.lock();
        st.generation += 1;
        st.job = None;
        st.result = None;
    }

    /// Stops the thread and waits for it (after the job it is running, if any).
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            {
                let mut st = self.slot.lock();
                st.stop = true;
                st.job = None;
                // Notified under the lock: the worker is either before its check (and sees
                // `stop`) or already waiting (and is woken).
                self.slot.wake.notify_all();
            }
            let _ = thread.join();
        }
    }
}

impl<J, R> Drop for LatestWorker<J, R> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// A few microseconds of spinning: makes the stop-vs-wait race of a worker whose stop
    /// does not take the state lock (the design this replaced) show up in a few hundred cycles
    /// instead of once in millions.
    pub(super) fn between_check_and_wait() {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_micros(5) {
            std::hint::spin_loop();
        }
    }

    fn wait_for<R: Send + 'static>(w: &LatestWorker<u32, R>) -> R {
        let t0 = Instant::now();
        loop {
            if let Some(r) = w.take_result() {
                return r;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "no result");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn runs_the_job_and_hands_back_its_result() {
        let w = LatestWorker::start("t", |x: u32| x * 2, || 0).unwrap();
        w.submit(21);
        assert_eq!(wait_for(&w), 42);
        assert_eq!(w.take_result(), None, "a result is handed back once");
    }

    #[test]
    fn a_panicking_job_gives_the_panic_result_and_the_worker_goes_on() {
        let w = LatestWorker::start(
            "t",
            |x: u32| {
                assert!(x != 0, "boom");
                x
            },
            || u32::MAX,
        )
        .unwrap();
        w.submit(0);
        assert_eq!(wait_for(&w), u32::MAX);
        w.submit(7);
        assert_eq!(wait_for(&w), 7);
    }

    #[test]
    fn a_result_from_before_reset_is_dropped() {
        // The job blocks until released, so reset lands while it is running.
        let release = Arc::new(AtomicBool::new(false));
        let r = release.clone();
        let w = LatestWorker::start(
            "t",
            move |x: u32| {
                while !r.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                x
            },
            || 0,
        )
        .unwrap();
        w.submit(1);
        std::thread::sleep(Duration::from_millis(20));
        w.reset();
        release.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(w.take_result(), None, "the pre-reset result landed");
        w.submit(2);
        assert_eq!(wait_for(&w), 2);
    }

    /// Thousands of start/stop cycles from several threads, each stop racing the worker's
    /// first wait. A lost wake-up leaves a `stop` blocked in `join` for ever: the watchdog
    /// turns that into a failure instead of a hung test run.
    #[test]
    fn start_stop_cycles_never_hang() {
        const THREADS: usize = 4;
        const CYCLES: usize = 2_500;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for t in 0..THREADS {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_u32.wrapping_mul(t as u32 + 1);
                for i in 0..CYCLES {
                    let mut w = LatestWorker::start("stress", |x: usize| x, || 0).unwrap();
                    if i % 3 == 0 {
                        w.submit(i);
                    }
                    // A varying pause, so the stop lands at every point of the worker's
                    // start-up and job hand-off, its check-then-wait included.
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let pause = Duration::from_nanos(u64::from(seed >> 16) % 60_000);
                    let t0 = Instant::now();
                    while t0.elapsed() < pause {
                        std::hint::spin_loop();
                    }
                    if i % 2 == 0 {
                        w.stop();
                    } // else dropped
                }
                let _ = done.send(t);
            });
        }
        drop(done_tx);
        let deadline = Instant::now() + Duration::from_secs(120);
        for _ in 0..THREADS {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                done_rx.recv_timeout(left).is_ok(),
                "a worker stop hung (lost wake-up)"
            );
        }
    }
}
