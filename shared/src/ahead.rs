//! Models built ahead of need: for settings a stream may soon move to (`budget-ms`'s
//! neighbouring rungs), each on a thread of its own at the lowest priority, and the model a
//! step replaced (kept: the stream may step back). A step then takes a ready model instead of
//! stalling a frame on a session build (selfie-landscape on OpenVINO: 150–180 ms here; pose's
//! two one-thread sessions: 110–350 ms).

use std::thread::JoinHandle;

use crate::Result;

/// Models keyed by what they were loaded for (`K`: model, device, precision, threads …).
pub struct LoadAhead<K, M> {
    models: Vec<(K, Ahead<M>)>,
    /// Whether the stream looks ahead (see [`LoadAhead::want`]).
    active: bool,
}

enum Ahead<M> {
    Loading(JoinHandle<Result<M>>),
    /// Loaded, or the model in use before a step.
    Ready(M),
}

impl<M> Ahead<M> {
    fn is_loading(&self) -> bool {
        matches!(self, Ahead::Loading(h) if !h.is_finished())
    }

    /// The model (waiting for its load); `None` when the load failed.
    fn into_model(self) -> Option<M> {
        match self {
            Ahead::Loading(h) => h.join().ok()?.ok(),
            Ahead::Ready(m) => Some(m),
        }
    }
}

impl<K, M> Default for LoadAhead<K, M> {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            active: false,
        }
    }
}

impl<K, M> Drop for LoadAhead<K, M> {
    fn drop(&mut self) {
        // A model still loading is waited for: a session build left running while the
        // process exits could still be inside the runtime as its libraries are torn down.
        for (_, a) in self.models.drain(..) {
            let _ = a.into_model();
        }
    }
}

impl<K: Clone + PartialEq, M: Send + 'static> LoadAhead<K, M> {
    /// Keeps the models for `wanted` (the most urgent first) loaded or loading; those no
    /// longer wanted are dropped. Starts at most one build, with the job `job(key)` makes,
    /// and only while none runs (builds are serialised inside the session cache anyway, and
    /// each takes a core). An empty `wanted` turns looking ahead off.
    pub fn want<J>(&mut self, wanted: &[K], in_use: Option<&K>, job: impl FnOnce(&K) -> J)
    where
        J: FnOnce() -> Result<M> + Send + 'static,
    {
        self.active = !wanted.is_empty();
        // A load in flight is let finish (a build cannot be cancelled) even when no longer
        // wanted, and never left unawaited.
        self.models
            .retain(|(k, a)| wanted.contains(k) || a.is_loading());
        if let Some(next) = wanted
            .iter()
            .find(|&k| in_use != Some(k) && !self.models.iter().any(|(m, _)| m == k))
        {
            self.start(next.clone(), job(next));
        }
    }

    /// Builds the models for `wanted` not loaded yet, here and now: when the stream starts,
    /// before frames flow. A build beside a playing stream slows its frames even at the
    /// lowest priority (OpenVINO compiles on the thread pool its inference runs on: pose
    /// frames of 95–145 ms instead of 13 while one built). A model that fails to load is left
    /// to [`model_for`](Self::model_for), which says why should a step need it.
    pub fn load_now<J>(&mut self, wanted: &[K], in_use: Option<&K>, job: impl Fn(&K) -> J)
    where
        J: FnOnce() -> Result<M>,
    {
        self.active = !wanted.is_empty();
        for k in wanted {
            if in_use != Some(k) && !self.models.iter().any(|(m, _)| m == k) {
                if let Ok(m) = job(k)() {
                    self.models.push((k.clone(), Ahead::Ready(m)));
                }
            }
        }
    }

    /// Whether [`want`](Self::want) was last asked for models.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Whether a build started here is still running.
    pub fn building(&self) -> bool {
        self.models.iter().any(|(_, a)| a.is_loading())
    }

    /// Starts `job` on a thread of its own at the lowest priority, unless a build runs.
    pub fn start(&mut self, key: K, job: impl FnOnce() -> Result<M> + Send + 'static) {
        if self.building() {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("aifx-load-ahead".into())
            .spawn(move || {
                // A build for a step the stream may take must not slow the frames it runs
                // beside (measured with one core spinning: segment's frames at 7–15 ms
                // instead of 2–3 during a build at normal priority, half a second). Threads
                // the runtime starts here inherit the priority: the rungs that load ahead
                // run inference on one thread (no pool), and the element's own model,
                // built when it starts, is kept.
                crate::parallel::lower_this_thread(19);
                job()
            });
        if let Ok(loading) = spawned {
            self.models.push((key, Ahead::Loading(loading)));
        }
    }

    /// Keeps `model` (the one a step replaced) while looking ahead; drops it otherwise.
    pub fn keep(&mut self, key: K, model: M) {
        if self.active {
            self.models.push((key, Ahead::Ready(model)));
        }
    }

    /// The model to switch to for `key`: `Ok(None)` keeps the one in use for now.
    ///
    /// Without a model in use (`in_use == false`) this always gives one: loaded ahead
    /// (waiting for a build in flight) or loaded here with `load`. With one in use while
    /// looking ahead, a frame never waits on a build: a model still loading is let load,
    /// and one not foreseen (two steps while one build ran) is built the same way, after the
    /// build in flight. A failed load ahead is tried once more here, which says why.
    pub fn model_for(
        &mut self,
        key: &K,
        in_use: bool,
        load: impl FnOnce() -> Result<M> + Send + 'static,
    ) -> Result<Option<M>> {
        if let Some(i) = self.models.iter().position(|(k, _)| k == key) {
            if self.models[i].1.is_loading() && in_use {
                return Ok(None);
            }
            if let Some(m) = self.models.swap_remove(i).1.into_model() {
                return Ok(Some(m));
            }
        } else if self.active && in_use {
            self.start(key.clone(), load);
            return Ok(None);
        }
        load().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn slow(n: u32) -> impl FnOnce() -> Result<u32> + Send + 'static {
        move || {
            std::thread::sleep(Duration::from_millis(50));
            Ok(n)
        }
    }

    #[test]
    fn one_build_at_a_time_and_no_wait_while_a_model_is_in_use() {
        let mut ahead = LoadAhead::<u32, u32>::default();
        ahead.want(&[1, 2], Some(&0), |&k| slow(k));
        assert!(ahead.building());
        // Not loaded yet: the model in use stays, the frame does not wait.
        assert!(matches!(ahead.model_for(&1, true, slow(1)), Ok(None)));
        ahead.want(&[1, 2], Some(&0), |&k| slow(k));
        assert_eq!(ahead.models.len(), 1, "a second build waits for the first");
        while ahead.building() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ahead.model_for(&1, true, slow(1)).unwrap(), Some(1));
        ahead.keep(0, 0);
        // Stepping back takes the kept model at once.
        assert_eq!(ahead.model_for(&0, true, slow(0)).unwrap(), Some(0));
    }

    #[test]
    fn without_a_model_in_use_it_loads_or_waits() {
        let loads = Arc::new(AtomicUsize::new(0));
        let mut ahead = LoadAhead::<u32, u32>::default();
        let counted = |loads: &Arc<AtomicUsize>| {
            let loads = loads.clone();
            move || {
                loads.fetch_add(1, Ordering::Relaxed);
                Ok(7)
            }
        };
        assert_eq!(
            ahead.model_for(&7, false, counted(&loads)).unwrap(),
            Some(7)
        );
        ahead.want(&[3], None, |&k| slow(k));
        assert_eq!(ahead.model_for(&3, false, slow(3)).unwrap(), Some(3));
        assert_eq!(loads.load(Ordering::Relaxed), 1);
        // Loaded now: a step takes it at once, a model that fails is left out.
        ahead.load_now(&[4, 5, 6], Some(&3), |&k| {
            move || {
                if k == 5 {
                    Err(crate::Error::BadInput("5".into()))
                } else {
                    Ok(k)
                }
            }
        });
        assert!(!ahead.building());
        assert_eq!(ahead.model_for(&4, true, slow(4)).unwrap(), Some(4));
        // … built after all, on a thread of its own (it may have been a passing failure).
        assert_eq!(ahead.model_for(&5, true, slow(5)).unwrap(), None);
        while ahead.building() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Not looking ahead: nothing is kept, a step builds here.
        ahead.want(&[], None, |&k| slow(k));
        ahead.keep(3, 3);
        assert!(ahead.models.is_empty());
        assert_eq!(ahead.model_for(&8, true, counted(&loads)).unwrap(), Some(7));
        assert_eq!(loads.load(Ordering::Relaxed), 2);
    }
}
