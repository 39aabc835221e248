//! [`RecorderBuilder`]: a recorder's bounds, clock and sinks.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use super::{
    AtomicCounters, ClockFn, Core, DEFAULT_CAPACITY, DEFAULT_GRACE, DEFAULT_MAX_SCOPES_PER_TOKEN,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_SWEEP_INTERVAL, Inner, Recorder, SHARDS, Shard, Writer, lock,
    writer_loop,
};
use crate::{Sink, UsageError};

/// Configures a [`Recorder`].
///
/// ```
/// use std::time::Duration;
/// use agentwrit_usage::{JsonlSink, Recorder};
///
/// let dir = std::env::temp_dir().join(format!("usage-doc-{}", std::process::id()));
/// let recorder = Recorder::builder()
///     .service_name("orders-api")
///     .capacity(50_000)
///     .grace(Duration::from_secs(30))
///     .sink(JsonlSink::dir(&dir)?)
///     .build()?;
/// recorder.shutdown()?;
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[must_use]
pub struct RecorderBuilder {
    service: Option<String>,
    instance: Option<String>,
    capacity: usize,
    max_scopes: usize,
    grace: Duration,
    sweep: Duration,
    queue: usize,
    clock: ClockFn,
    sinks: Vec<Box<dyn Sink>>,
}

impl fmt::Debug for RecorderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecorderBuilder")
            .field("service", &self.service)
            .field("capacity", &self.capacity)
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl RecorderBuilder {
    pub(super) fn new() -> Self {
        RecorderBuilder {
            service: None,
            instance: None,
            capacity: DEFAULT_CAPACITY,
            max_scopes: DEFAULT_MAX_SCOPES_PER_TOKEN,
            grace: DEFAULT_GRACE,
            sweep: DEFAULT_SWEEP_INTERVAL,
            queue: DEFAULT_QUEUE_CAPACITY,
            clock: Arc::new(SystemTime::now),
            sinks: Vec::new(),
        }
    }

    /// The name of the reporting service, in every record (default: the
    /// program's file name). The report lists which services reported.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// The reporting process (default `pid-<process id>`).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The most tokens tracked at once (default [`DEFAULT_CAPACITY`]).
    /// When full, the token expiring soonest is written out early (reason
    /// `capacity`) and counted in [`Counters::tokens_evicted`](crate::Counters::tokens_evicted).
    pub fn capacity(mut self, tokens: usize) -> Self {
        self.capacity = tokens.max(1);
        self
    }

    /// The most distinct (scope, decision) pairs kept per token (default
    /// [`DEFAULT_MAX_SCOPES_PER_TOKEN`]); further checks are counted in
    /// the record's `checks_dropped`.
    pub fn max_scopes_per_token(mut self, pairs: usize) -> Self {
        self.max_scopes = pairs;
        self
    }

    /// How long a token stays tracked past its `exp` (default
    /// [`DEFAULT_GRACE`]), so that requests refusing it as expired are
    /// still recorded on it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How often expired tokens are written out and forgotten (default
    /// [`DEFAULT_SWEEP_INTERVAL`]).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep = interval.max(Duration::from_millis(1));
        self
    }

    /// The most records waiting for the writer thread (default
    /// [`DEFAULT_QUEUE_CAPACITY`]); beyond it a record is dropped and
    /// counted.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue = records.max(1);
        self
    }

    /// The clock (default `SystemTime::now`): first and last use,
    /// expiry. A test can hand in a manual clock.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a sink: every record goes to every sink, on the recorder's
    /// writer thread.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Builds the recorder and, when it has sinks, starts its writer
    /// thread (`agentwrit-usage`).
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn build(self) -> Result<Recorder, UsageError> {
        let service = self.service.unwrap_or_else(program_name);
        let instance = self
            .instance
            .unwrap_or_else(|| format!("pid-{}", std::process::id()));
        let core = Arc::new(Core {
            service,
            instance,
            shard_capacity: self.capacity.div_ceil(SHARDS).max(1),
            max_scopes: self.max_scopes,
            grace_ms: i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX),
            sweep_ms: i64::try_from(self.sweep.as_millis()).unwrap_or(i64::MAX),
            clock: self.clock,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            counters: AtomicCounters::default(),
            closed: AtomicBool::new(false),
            queue: Mutex::new(None),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Handles::register(),
        });
        let writer = if self.sinks.is_empty() {
            None
        } else {
            let (tx, rx) = mpsc::sync_channel(self.queue);
            *lock(&core.queue) = Some(tx.clone());
            let thread_core = Arc::clone(&core);
            let sinks = self.sinks;
            let thread = std::thread::Builder::new()
                .name("agentwrit-usage".into())
                .spawn(move || writer_loop(&thread_core, sinks, &rx))
                .map_err(|e| UsageError::Thread(format!("cannot start the writer thread: {e}")))?;
            Some(Writer { tx, thread })
        };
        Ok(Recorder {
            inner: Arc::new(Inner {
                core,
                writer: Mutex::new(writer),
            }),
        })
    }
}

fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown-service".to_owned())
}
