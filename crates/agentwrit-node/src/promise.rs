//! Promises settled from the binding layer's runtime, and the layer's
//! errors as JavaScript `Error`s.
//!
//! A call is started on the binding layer's runtime; its output is
//! converted there (to a value Node-API can hand over), and the promise is
//! settled on the JavaScript thread through a Node-API deferred (a
//! threadsafe function, which keeps the event loop alive while the call
//! runs). A promise nobody awaits does not stop the call: started work
//! runs to its end.

use std::future::Future;

use agentwrit_bindings::{Abandon, BindingError, Call};
use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, JsValue, Status};

use crate::values::Problem;

/// The settle-time closure of a deferred (boxed, so that success and
/// failure share one type).
pub(crate) type Resolver<V> = Box<dyn FnOnce(Env) -> napi::Result<V> + Send>;

/// `error` as a JavaScript `Error` (its `code` the layer's kind), to
/// throw or reject with.
pub(crate) fn throw(env: &Env, error: &BindingError) -> napi::Error {
    build(env, error).unwrap_or_else(|e| e)
}

fn build(env: &Env, error: &BindingError) -> napi::Result<napi::Error> {
    let mut object = env.create_error(napi::Error::new(
        Status::GenericFailure,
        error.message().to_owned(),
    ))?;
    object.set("code", error.kind().code())?;
    object.set("retryable", error.retryable())?;
    object.set("timeout", error.is_timeout())?;
    if let Some(status) = error.status() {
        object.set("status", u32::from(status))?;
    }
    if let Some(problem) = error.problem() {
        object.set("problem", Problem::from(problem))?;
    }
    if let Some(id) = error.request_id() {
        object.set("requestId", id)?;
    }
    if let Some(after) = error.retry_after() {
        object.set("retryAfter", after.as_secs_f64())?;
    }
    Ok(napi::Error::from(object.to_unknown()))
}

/// A promise of `work`'s output, converted with `convert` on the runtime.
pub(crate) fn settle<'env, T, V, W, C>(
    env: &'env Env,
    work: W,
    convert: C,
) -> napi::Result<Object<'env>>
where
    T: Send + 'static,
    V: ToNapiValue + Send + 'static,
    W: Future<Output = Result<T, BindingError>> + Send + 'static,
    C: FnOnce(T) -> V + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<V, Resolver<V>>()?;
    let spawned = agentwrit_bindings::spawn(async move {
        let resolver: Resolver<V> = match work.await {
            Ok(value) => {
                let value = convert(value);
                Box::new(move |_| Ok(value))
            }
            Err(error) => Box::new(move |env| Err(throw(&env, &error))),
        };
        deferred.resolve(resolver);
    });
    match spawned {
        Ok(_) => Ok(promise),
        Err(error) => Err(throw(env, &error)),
    }
}

/// A promise of `call`, started now (it runs to its end whatever becomes
/// of the promise).
pub(crate) fn promise<'env, T, V, C>(
    env: &'env Env,
    call: Call<T>,
    convert: C,
) -> napi::Result<Object<'env>>
where
    T: Abandon,
    V: ToNapiValue + Send + 'static,
    C: FnOnce(T) -> V + Send + 'static,
{
    let pending = call.start();
    settle(env, pending.result(), convert)
}
