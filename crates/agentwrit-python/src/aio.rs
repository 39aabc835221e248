//! asyncio awaitables over the binding layer's calls.
//!
//! An awaitable is an `asyncio.Future` of the running loop; the call runs
//! on the binding layer's runtime (started before the awaitable is
//! returned) and its result is handed to the loop with
//! `call_soon_threadsafe`. Cancelling the awaiting task cancels only the
//! wait: the call itself runs to its end (a release, a renewal, a
//! delegation that reached the broker are never cut off), and a result
//! nobody takes is abandoned by the layer.

use std::future::Future;

use agentwrit_bindings::{Abandon, BindingError, Call};
use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors::{IntoPy, to_py};

/// Sets `fut`'s result (or exception) unless it was cancelled meanwhile;
/// called on the loop's thread.
#[pyfunction]
#[pyo3(name = "_resolve")]
pub fn resolve(fut: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if fut.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        fut.call_method1("set_result", (value,))?;
    } else {
        fut.call_method1("set_exception", (value,))?;
    }
    Ok(())
}

fn resolver(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE.import(py, "agentwrit_rs._native", "_resolve")
}

/// Hands `result` to `fut` on its loop.
fn deliver(py: Python<'_>, event_loop: &Py<PyAny>, fut: &Py<PyAny>, result: PyResult<Py<PyAny>>) {
    let (ok, value) = match result {
        Ok(v) => (true, v),
        Err(e) => (false, e.into_value(py).into_any()),
    };
    let scheduled = resolver(py).and_then(|resolve| {
        event_loop.call_method1(py, "call_soon_threadsafe", (resolve, fut, ok, value))
    });
    // A loop that is closed has nobody left to tell.
    drop(scheduled);
}

/// An awaitable of the running loop that resolves with `convert`ed output
/// of `work` (any future; it runs on the binding layer's runtime).
pub fn future<'py, T, W, C>(py: Python<'py>, work: W, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    W: Future<Output = Result<T, BindingError>> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let asyncio = ASYNCIO.get_or_try_init(py, || py.import("asyncio").map(Bound::unbind))?;
    let event_loop = asyncio.bind(py).call_method0("get_running_loop")?;
    let fut = event_loop.call_method0("create_future")?;
    let (event_loop, target) = (event_loop.unbind(), fut.clone().unbind());
    agentwrit_bindings::spawn(async move {
        let result = work.await;
        Python::attach(|py| {
            let result = result.map_err(to_py).and_then(|v| convert(py, v));
            deliver(py, &event_loop, &target, result);
        });
    })
    .py()?;
    Ok(fut)
}

/// An awaitable of `call`, started now.
pub fn awaitable<'py, T, C>(
    py: Python<'py>,
    call: Call<T>,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Abandon,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let pending = call.start();
    future(py, async move { pending.result().await }, convert)
}

/// `convert` for a value Python takes as it is.
pub fn plain<T>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>>
where
    T: for<'py> IntoPyObject<'py>,
{
    value
        .into_pyobject(py)
        .map(|v| v.into_any().unbind())
        .map_err(Into::into)
}
