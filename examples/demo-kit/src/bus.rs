//! The event bus of one run, and the registry of runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::Stream;
use tokio::sync::watch;

use crate::event::{Envelope, Event};

/// How many runs a [`Runs`] registry keeps (the oldest is dropped).
pub const MAX_RUNS: usize = 64;

/// The trace of one run: an append-only log of [`Envelope`]s plus a
/// wake-up signal, so every subscriber, early or late, sees the whole run
/// in order and then the live tail. Cheap to clone.
///
/// The run ends with [`Event::RunFinished`] (emit it with
/// [`EventBus::finish`]); nothing is accepted after it and every stream
/// ends there.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use agentwrit_demo_kit::{Event, EventBus};
/// use futures_util::StreamExt;
///
/// let bus = EventBus::new();
/// bus.emit(Event::Step { role: "pipeline".into(), text: "begin".into() });
/// bus.finish("done");
/// // A subscriber that arrives after the end still sees everything.
/// let kinds: Vec<String> = bus.stream().map(|e| e.kind).collect().await;
/// assert_eq!(kinds, ["step", "run_finished"]);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

#[derive(Debug)]
struct BusInner {
    log: Mutex<Log>,
    signal: watch::Sender<usize>,
    started: Instant,
}

#[derive(Debug, Default)]
struct Log {
    entries: Vec<Envelope>,
    finished: bool,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// An empty bus; its clock starts now.
    #[must_use]
    pub fn new() -> EventBus {
        let (signal, _) = watch::channel(0);
        EventBus {
            inner: Arc::new(BusInner {
                log: Mutex::new(Log::default()),
                signal,
                started: Instant::now(),
            }),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-written
        // (push is the only mutation), so a poisoned lock is still usable.
        self.inner
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `event` and wakes every subscriber. Returns its sequence
    /// number, or `None` when the run has already finished (the event is
    /// dropped). Emitting [`Event::RunFinished`] finishes the run.
    ///
    /// ```
    /// use agentwrit_demo_kit::{Event, EventBus};
    /// let bus = EventBus::new();
    /// assert_eq!(bus.emit(Event::Halted { reason: "x".into() }), Some(0));
    /// bus.finish("over");
    /// assert_eq!(bus.emit(Event::Halted { reason: "late".into() }), None);
    /// ```
    pub fn emit(&self, event: Event) -> Option<u64> {
        let at_ms = u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut log = self.log();
        if log.finished {
            return None;
        }
        let seq = log.entries.len() as u64;
        if matches!(event, Event::RunFinished { .. }) {
            log.finished = true;
        }
        log.entries.push(Envelope::new(seq, at_ms, event));
        let len = log.entries.len();
        drop(log);
        self.inner.signal.send_replace(len);
        Some(seq)
    }

    /// Emits [`Event::RunFinished`] with `summary` (once; later calls do
    /// nothing).
    pub fn finish(&self, summary: impl Into<String>) {
        self.emit(Event::RunFinished {
            summary: summary.into(),
        });
    }

    /// Whether [`Event::RunFinished`] has been emitted.
    ///
    /// ```
    /// let bus = agentwrit_demo_kit::EventBus::new();
    /// assert!(!bus.is_finished());
    /// bus.finish("ok");
    /// assert!(bus.is_finished());
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.log().finished
    }

    /// A copy of every envelope so far.
    ///
    /// ```
    /// use agentwrit_demo_kit::{Event, EventBus};
    /// let bus = EventBus::new();
    /// bus.emit(Event::Step { role: "a".into(), text: "b".into() });
    /// assert_eq!(bus.snapshot().len(), 1);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Vec<Envelope> {
        self.log().entries.clone()
    }

    /// Waits until an envelope matching `pred` is in the log and returns
    /// the first such; `None` if the run finished without one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use agentwrit_demo_kit::{Event, EventBus};
    /// let bus = EventBus::new();
    /// let waiter = bus.clone();
    /// let task = tokio::spawn(async move { waiter.wait_for(|e| e.kind == "halted").await });
    /// bus.emit(Event::Halted { reason: "anonymous".into() });
    /// assert_eq!(task.await.unwrap().unwrap().seq, 0);
    /// # }
    /// ```
    pub async fn wait_for(&self, mut pred: impl FnMut(&Envelope) -> bool) -> Option<Envelope> {
        let mut rx = self.inner.signal.subscribe();
        loop {
            {
                let log = self.log();
                if let Some(found) = log.entries.iter().find(|e| pred(e)) {
                    return Some(found.clone());
                }
                if log.finished {
                    return None;
                }
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Every envelope from the first, then the live tail; ends after
    /// [`Event::RunFinished`]. Late subscribers replay the whole run.
    pub fn stream(&self) -> impl Stream<Item = Envelope> + Send + 'static {
        let bus = self.clone();
        let rx = self.inner.signal.subscribe();
        futures_util::stream::unfold((bus, rx, 0usize), |(bus, mut rx, next)| async move {
            loop {
                {
                    let log = bus.log();
                    if let Some(entry) = log.entries.get(next) {
                        let entry = entry.clone();
                        drop(log);
                        return Some((entry, (bus, rx, next + 1)));
                    }
                    if log.finished {
                        return None;
                    }
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }

    /// Time since the bus was created.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

/// The runs an app has started, by id (`run-1`, `run-2`, ...), the newest
/// [`MAX_RUNS`] kept. Cheap to clone; share one per app.
///
/// ```
/// use agentwrit_demo_kit::Runs;
/// let runs = Runs::new();
/// let (id, bus) = runs.start();
/// assert_eq!(id, "run-1");
/// assert!(runs.get(&id).is_some());
/// assert_eq!(runs.latest().unwrap().0, "run-1");
/// # drop(bus);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Runs {
    inner: Arc<Mutex<RunsInner>>,
}

#[derive(Debug, Default)]
struct RunsInner {
    next: u64,
    runs: VecDeque<(String, EventBus)>,
}

impl Runs {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Runs {
        Runs::default()
    }

    fn lock(&self) -> MutexGuard<'_, RunsInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new run and returns its id and bus.
    pub fn start(&self) -> (String, EventBus) {
        let mut inner = self.lock();
        inner.next += 1;
        let id = format!("run-{}", inner.next);
        let bus = EventBus::new();
        inner.runs.push_back((id.clone(), bus.clone()));
        while inner.runs.len() > MAX_RUNS {
            inner.runs.pop_front();
        }
        (id, bus)
    }

    /// The bus of run `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<EventBus> {
        self.lock()
            .runs
            .iter()
            .find(|(run, _)| run == id)
            .map(|(_, bus)| bus.clone())
    }

    /// The newest run.
    #[must_use]
    pub fn latest(&self) -> Option<(String, EventBus)> {
        self.lock().runs.back().cloned()
    }
}
