//! Running a frame's work on the thread pool.
//!
//! Every parallel loop started from a thread outside rayon's pool hands its work to a pool
//! thread and sleeps until it is done: about 0.1 ms per loop here once the pool has gone to
//! sleep during inference, and a frame has a dozen such loops. Running the whole frame on a
//! pool thread pays that hand-off once; the loops inside then start in microseconds.

/// Runs `work` on a thread of rayon's global pool (directly when already on one).
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}
