//! One broker call, run blocking or on the runtime, with one deadline and
//! an owner for its result on every path.
//!
//! A [`Call`] is built from the client (blocking or async) and the SDK
//! method; the shell then either [`Call::wait`]s (a synchronous API,
//! interpreter lock released) or [`Call::start`]s it: the work is spawned
//! on the bindings runtime and a [`Pending`] is handed back. Work that was
//! started always runs to its end, whatever the caller does: a cancelled
//! awaiting task, an aborted promise or a dropped future only stop the
//! *wait*. A result that arrives when nobody waits any more is
//! [abandoned](Abandon): an agent is released at once, so a cancelled
//! creation leaves no live token.
//!
//! The deadline (the settings' timeout) bounds the caller's wait for the
//! whole call, retries included. Calls that only read ([`Effect::Read`]:
//! validate, health, listings) are also *cut* at the deadline, so no
//! retry is sent after it; calls with an effect at the broker (create,
//! renew, release, delegate, operator changes) run on to their end and
//! their result, if nobody takes it, is abandoned.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{BindingError, Result};
use crate::runtime;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What happens to a call's result that nobody takes (the caller stopped
/// waiting, or dropped the [`Pending`]).
pub trait Abandon: Send + 'static {
    /// Called once, on a runtime thread, with the unclaimed value.
    fn abandon(self)
    where
        Self: Sized,
    {
    }
}

macro_rules! nothing_to_abandon {
    ($($t:ty),* $(,)?) => { $(impl Abandon for $t {})* };
}
nothing_to_abandon!((), bool, u64, String, serde_json::Value);
impl<T: Abandon> Abandon for Option<T> {
    fn abandon(self) {
        if let Some(v) = self {
            v.abandon();
        }
    }
}

/// Whether a call only reads (safe to cut at the deadline) or changes
/// something at the broker (runs to its end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Validate, health, listings: cut at the deadline.
    Read,
    /// Create, renew, release, delegate, operator changes: never cut.
    Write,
}

enum Work<T> {
    Blocking(Box<dyn FnOnce() -> Result<T> + Send + 'static>),
    Async(BoxFuture<Result<T>>),
}

/// A call not yet run: [`wait`](Call::wait) for it, or
/// [`start`](Call::start) it on the runtime.
#[must_use = "a call does nothing until it is waited for or started"]
pub struct Call<T> {
    work: Work<T>,
    step: &'static str,
    effect: Effect,
    deadline: Option<Duration>,
    broker_url: String,
}

impl<T: Abandon> Call<T> {
    /// A call on a blocking client.
    pub(crate) fn blocking(
        step: &'static str,
        effect: Effect,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Self {
        Call {
            work: Work::Blocking(Box::new(f)),
            step,
            effect,
            deadline: None,
            broker_url: String::new(),
        }
    }

    /// A call on an async client.
    pub(crate) fn nonblocking(
        step: &'static str,
        effect: Effect,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Self {
        Call {
            work: Work::Async(Box::pin(f)),
            step,
            effect,
            deadline: None,
            broker_url: String::new(),
        }
    }

    /// An already known result (an input refused before any work).
    pub(crate) fn ready(step: &'static str, result: Result<T>) -> Self {
        Call::nonblocking(step, Effect::Read, async move { result })
    }

    /// Names `broker_url` in the call's timeout error.
    pub(crate) fn within_url(mut self, broker_url: &str) -> Self {
        self.broker_url = broker_url.to_owned();
        self
    }

    /// Bounds the call by `deadline` (none: only the transports' own
    /// per-request timeouts).
    pub(crate) fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same call with its output converted by `f`.
    pub fn map<U: Abandon>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Call<U> {
        let work = match self.work {
            Work::Blocking(g) => Work::Blocking(Box::new(move || g().map(f))),
            Work::Async(fut) => Work::Async(Box::pin(async move { fut.await.map(f) })),
        };
        Call {
            work,
            step: self.step,
            effect: self.effect,
            deadline: self.deadline,
            broker_url: self.broker_url,
        }
    }

    /// The same call followed by the fallible conversion `f`.
    pub fn and_then<U: Abandon>(self, f: impl FnOnce(T) -> Result<U> + Send + 'static) -> Call<U> {
        let work = match self.work {
            Work::Blocking(g) => Work::Blocking(Box::new(move || g().and_then(f))),
            Work::Async(fut) => Work::Async(Box::pin(async move { fut.await.and_then(f) })),
        };
        Call {
            work,
            step: self.step,
            effect: self.effect,
            deadline: self.deadline,
            broker_url: self.broker_url,
        }
    }

    /// Runs the call on the calling thread and returns its result: a
    /// blocking client's call directly, an async client's driven on the
    /// bindings runtime within the deadline.
    ///
    /// # Errors
    ///
    /// The call's error, or a timeout at the deadline.
    pub fn wait(self) -> Result<T> {
        match self.work {
            Work::Blocking(f) => f(),
            work @ Work::Async(_) => {
                let call = Call {
                    work,
                    step: self.step,
                    effect: self.effect,
                    deadline: self.deadline,
                    broker_url: self.broker_url,
                };
                runtime::block_on(call.start().result())?
            }
        }
    }

    /// Starts the call on the bindings runtime (a blocking client's on its
    /// blocking pool) and returns at once. The work runs to its end
    /// whatever becomes of the returned [`Pending`].
    pub fn start(self) -> Pending<T> {
        let slot = Slot::new(
            self.deadline
                .map(|d| (d, self.step, self.broker_url.clone())),
        );
        let cut = match (self.effect, self.deadline) {
            (Effect::Read, Some(deadline)) => Some(deadline),
            _ => None,
        };
        let (step, url) = (self.step, self.broker_url);
        let finish = Arc::clone(&slot);
        let spawned = match self.work {
            Work::Async(fut) => runtime::spawn(async move {
                let result = match cut {
                    Some(deadline) => tokio::time::timeout(deadline, fut)
                        .await
                        .unwrap_or_else(|_| Err(BindingError::deadline(step, deadline, &url))),
                    None => fut.await,
                };
                finish.arrive(result);
            })
            .map(drop),
            Work::Blocking(f) => runtime::unblock(move || finish.arrive(f())).map(drop),
        };
        if let Err(error) = spawned {
            slot.arrive(Err(error));
        }
        Pending { slot }
    }

    /// Starts the call and waits for its result (on any runtime or
    /// executor: the work itself runs on the bindings runtime). Dropping
    /// this future stops the wait, not the work; an unclaimed result is
    /// abandoned.
    ///
    /// # Errors
    ///
    /// The call's error, or a timeout at the deadline.
    pub async fn run(self) -> Result<T> {
        self.start().result().await
    }
}

enum State<T> {
    Running,
    Arrived(Result<T>),
    Taken,
    Abandoned,
}

/// A callback of [`Pending::when_finished`].
type Listener = Box<dyn FnOnce() + Send + 'static>;

struct Slot<T: Abandon> {
    state: Mutex<State<T>>,
    /// True once there is nothing left to wait for: the result arrived,
    /// or the call was given up (its result, if it comes, is abandoned).
    done: watch::Sender<bool>,
    /// Called once `done` is set (under this lock, so none is missed).
    listeners: Mutex<Vec<Listener>>,
    /// The caller's wait bound, its step and the broker (for the error).
    wait: Option<(Duration, &'static str, String)>,
}

impl<T: Abandon> Slot<T> {
    fn new(wait: Option<(Duration, &'static str, String)>) -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(State::Running),
            done: watch::Sender::new(false),
            listeners: Mutex::new(Vec::new()),
            wait,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Nothing left to wait for: wakes the waiters, then calls the
    /// listeners (on this thread, without any lock held).
    fn set_done(&self) {
        let listeners = {
            let mut listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.done.send_replace(true);
            std::mem::take(&mut *listeners)
        };
        for listener in listeners {
            listener();
        }
    }

    /// The work's result comes in: kept for the caller, or abandoned if
    /// the caller is gone.
    fn arrive(&self, result: Result<T>) {
        let mut state = self.lock();
        match *state {
            State::Running => {
                *state = State::Arrived(result);
                drop(state);
                self.set_done();
            }
            _ => {
                drop(state);
                if let Ok(value) = result {
                    value.abandon();
                }
            }
        }
    }
}

/// A started call: wait for it ([`Pending::finished`]), then
/// [`take`](Pending::take) its result, or [`abandon`](Pending::abandon)
/// it. Dropping a `Pending` whose result was not taken abandons it.
///
/// For a language whose await can be interrupted between the result's
/// arrival and the caller's next step (asyncio delivers a cancellation to
/// a task whose awaited future already has its result), the shell awaits
/// `finished()` only, then takes the result synchronously, and abandons
/// on any interruption: no path leaves a result without an owner.
pub struct Pending<T: Abandon> {
    slot: Arc<Slot<T>>,
}

impl<T: Abandon> Pending<T> {
    /// Resolves when the result is there, when the call was given up
    /// ([`abandon`](Pending::abandon)), or when the caller's wait bound
    /// (the deadline) has passed. Independent of `self`: it may be
    /// awaited on any executor, and dropped at any time.
    pub fn finished(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut done = self.slot.done.subscribe();
        let bound = self.slot.wait.as_ref().map(|(d, _, _)| *d);
        let wait = async move {
            let arrived = async move {
                // An error means the slot is gone: nothing more to wait for.
                let _ = done.wait_for(|d| *d).await;
            };
            match bound {
                Some(bound) => {
                    let _ = tokio::time::timeout(bound, arrived).await;
                }
                None => arrived.await,
            }
        };
        async move {
            if tokio::runtime::Handle::try_current().is_ok() {
                wait.await;
            } else {
                // Awaited outside any tokio runtime (another executor): the
                // deadline's timer runs on the bindings runtime.
                match runtime::spawn(wait) {
                    Ok(handle) => drop(handle.await),
                    Err(error) => tracing::warn!(%error, "could not wait for a call"),
                }
            }
        }
    }

    /// Calls `f` once, as soon as [`finished`](Pending::finished) would
    /// resolve: on the thread where the result arrives (or the call is
    /// given up), at once if that has happened, or on the runtime when the
    /// caller's wait bound passes first. No task waits in between: a
    /// language whose promises are settled from any thread (a Node-API
    /// deferred) settles them here, without an extra hop.
    pub fn when_finished(&self, f: impl FnOnce() + Send + 'static) {
        let once: Arc<Mutex<Option<Listener>>> = Arc::new(Mutex::new(Some(Box::new(f))));
        let fire = |once: &Mutex<Option<Listener>>| {
            let f = once.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(f) = f {
                f();
            }
        };
        let registered = {
            let mut listeners = self
                .slot
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *self.slot.done.borrow() {
                false
            } else {
                let once = Arc::clone(&once);
                listeners.push(Box::new(move || fire(&once)));
                true
            }
        };
        if !registered {
            fire(&once);
            return;
        }
        if let Some((bound, _, _)) = &self.slot.wait {
            // The wait bound: a timer that ends as soon as the call does.
            let (bound, mut done) = (*bound, self.slot.done.subscribe());
            let timer = runtime::spawn(async move {
                let _ = tokio::time::timeout(bound, done.wait_for(|d| *d)).await;
                fire(&once);
            });
            if let Err(error) = timer {
                tracing::warn!(%error, "could not bound the wait for a call");
            }
        }
    }

    /// Whether the result is there (arrived, or arrived and taken).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(*self.slot.lock(), State::Arrived(_) | State::Taken)
    }

    /// The result, once. Before it arrives: the deadline's timeout error,
    /// and the call is abandoned (its result, if it ever comes, is
    /// abandoned then).
    ///
    /// # Errors
    ///
    /// The call's error; the deadline's timeout; an error if the result
    /// was already taken or abandoned.
    pub fn take(&self) -> Result<T> {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Arrived(result) => result,
            State::Running => {
                *state = State::Abandoned;
                drop(state);
                self.slot.set_done();
                Err(match &self.slot.wait {
                    Some((deadline, step, url)) => BindingError::deadline(step, *deadline, url),
                    None => BindingError::plain(
                        crate::ErrorKind::Other,
                        "the call has not finished".to_owned(),
                    ),
                })
            }
            other => {
                *state = other;
                Err(BindingError::plain(
                    crate::ErrorKind::Other,
                    "the call's result was already taken".to_owned(),
                ))
            }
        }
    }

    /// Gives the result up: abandoned now if it is there, or when it
    /// arrives. Idempotent; nothing happens once it was taken. Whoever
    /// still awaits [`finished`](Pending::finished) is woken (there is
    /// nothing left to wait for; a [`take`](Pending::take) then fails).
    pub fn abandon(&self) {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut *state, State::Abandoned) {
            State::Arrived(Ok(value)) => {
                drop(state);
                value.abandon();
            }
            State::Taken => {
                *state = State::Taken;
                return;
            }
            _ => drop(state),
        }
        self.slot.set_done();
    }

    /// Waits for the result and takes it; dropping this future abandons
    /// the call.
    ///
    /// # Errors
    ///
    /// As [`Pending::take`].
    pub async fn result(self) -> Result<T> {
        self.finished().await;
        self.take()
    }
}

impl<T: Abandon> Drop for Pending<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A value that counts its abandonment.
    struct Owned(Arc<AtomicUsize>);
    impl Abandon for Owned {
        fn abandon(self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn gate() -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        tokio::sync::oneshot::channel()
    }

    #[test]
    fn a_result_nobody_waits_for_is_abandoned_when_it_arrives() {
        let abandoned = Arc::new(AtomicUsize::new(0));
        let (open, gate) = gate();
        let value = Owned(Arc::clone(&abandoned));
        let call = Call::nonblocking("create", Effect::Write, async move {
            let _ = gate.await;
            Ok(value)
        });
        let pending = call.start();
        drop(pending); // the caller is gone before the result
        assert_eq!(abandoned.load(Ordering::SeqCst), 0);
        open.send(()).unwrap();
        // Wait for the work to end: the runtime finishes it on its own.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while abandoned.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(abandoned.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_result_that_arrived_and_is_given_up_is_abandoned_once() {
        let abandoned = Arc::new(AtomicUsize::new(0));
        let value = Owned(Arc::clone(&abandoned));
        let pending = Call::nonblocking("create", Effect::Write, async move { Ok(value) }).start();
        runtime::block_on(pending.finished()).unwrap();
        assert!(pending.is_finished());
        pending.abandon();
        pending.abandon();
        drop(pending);
        assert_eq!(abandoned.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn giving_a_call_up_wakes_whoever_waits_for_it() {
        let abandoned = Arc::new(AtomicUsize::new(0));
        let (open, gate) = gate();
        let value = Owned(Arc::clone(&abandoned));
        let pending = Call::nonblocking("create", Effect::Write, async move {
            let _ = gate.await;
            Ok(value)
        })
        .start();
        let waiting = pending.finished();
        pending.abandon();
        // Woken at once, though the work is still running.
        runtime::block_on(waiting).unwrap();
        assert!(!pending.is_finished());
        assert!(pending.take().is_err());
        open.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while abandoned.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(abandoned.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_listener_runs_once_where_the_result_arrives_or_at_once() {
        let (open, gate) = gate();
        let pending = Call::nonblocking("create", Effect::Write, async move {
            let _ = gate.await;
            Ok(7_u64)
        })
        .start();
        let (tx, rx) = std::sync::mpsc::channel();
        let early = tx.clone();
        pending.when_finished(move || early.send("early").unwrap());
        assert!(rx.try_recv().is_err(), "called before the result");
        open.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "early");
        // Registered after the result: called at once, on this thread.
        pending.when_finished(move || tx.send("late").unwrap());
        assert_eq!(rx.try_recv().unwrap(), "late");
        assert_eq!(pending.take().unwrap(), 7);
        assert!(rx.try_recv().is_err(), "each listener runs once");
    }

    #[test]
    fn a_listener_runs_at_the_wait_bound_and_when_a_call_is_given_up() {
        let (_open, first) = gate();
        let (_open2, second) = gate();
        let slow = Call::nonblocking("validate", Effect::Write, async move {
            let _ = first.await;
            Ok(1_u64)
        })
        .deadline(Some(Duration::from_millis(20)))
        .start();
        let (tx, rx) = std::sync::mpsc::channel();
        let bound = tx.clone();
        slow.when_finished(move || bound.send("bound").unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "bound");
        assert!(slow.take().unwrap_err().is_timeout());
        let given_up = Call::nonblocking("create", Effect::Write, async move {
            let _ = second.await;
            Ok(2_u64)
        })
        .start();
        given_up.when_finished(move || tx.send("abandoned").unwrap());
        given_up.abandon();
        assert_eq!(rx.try_recv().unwrap(), "abandoned");
    }

    #[test]
    fn a_taken_result_is_never_abandoned() {
        let abandoned = Arc::new(AtomicUsize::new(0));
        let value = Owned(Arc::clone(&abandoned));
        let pending = Call::nonblocking("create", Effect::Write, async move { Ok(value) }).start();
        runtime::block_on(pending.finished()).unwrap();
        let taken = pending.take();
        assert!(taken.is_ok());
        assert!(pending.take().is_err());
        pending.abandon();
        drop(pending);
        assert_eq!(abandoned.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_read_is_cut_at_the_deadline() {
        let polls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&polls);
        let call = Call::nonblocking("validate", Effect::Read, async move {
            seen.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        })
        .within_url("http://127.0.0.1:9")
        .deadline(Some(Duration::from_millis(50)));
        let error = call.wait().unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert!(error.message().contains("http://127.0.0.1:9"));
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_write_outlives_the_wait_and_is_abandoned_after_it() {
        let abandoned = Arc::new(AtomicUsize::new(0));
        let (open, gate) = gate();
        let value = Owned(Arc::clone(&abandoned));
        let call = Call::nonblocking("create", Effect::Write, async move {
            let _ = gate.await;
            Ok(value)
        })
        .within_url("http://b")
        .deadline(Some(Duration::from_millis(20)));
        let error = call.wait().err().unwrap();
        assert!(error.is_timeout());
        open.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while abandoned.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(abandoned.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_call_can_be_awaited_outside_any_tokio_runtime() {
        let call = Call::nonblocking("health", Effect::Read, async { Ok(7_u64) })
            .deadline(Some(Duration::from_secs(5)));
        // A plain thread polling with a minimal executor of its own.
        let value = std::thread::spawn(move || {
            let fut = call.run();
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut fut = std::pin::pin!(fut);
            loop {
                if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    return v;
                }
                std::thread::yield_now();
            }
        })
        .join()
        .unwrap();
        assert_eq!(value.unwrap(), 7);
    }

    #[test]
    fn a_blocking_call_waited_for_runs_on_the_calling_thread() {
        let here = std::thread::current().id();
        let call = Call::blocking("health", Effect::Read, move || {
            Ok(std::thread::current().id() == here)
        });
        assert!(call.wait().unwrap());
        let started = Call::blocking("health", Effect::Read, move || {
            Ok(std::thread::current().id() == here)
        })
        .start();
        assert!(!runtime::block_on(started.result()).unwrap().unwrap());
    }
}
