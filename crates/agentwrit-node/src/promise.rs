//! Promises settled from the binding layer's runtime, and the layer's
//! errors as JavaScript `Error`s.
//!
//! A call is started on the binding layer's runtime (or its blocking
//! pool); where its result arrives, it is converted (to a value Node-API
//! can hand over) and the promise settled through a Node-API deferred (a
//! threadsafe function, which keeps the event loop alive while the call
//! runs). A promise nobody awaits does not stop the call: started work
//! runs to its end.

use std::sync::Arc;

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

/// A promise of `call`, started now (it runs to its end whatever becomes
/// of the promise). The result is taken and converted where it arrives
/// (a runtime or pool thread), and the promise settled from there: no
/// task waits for it in between.
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
    let (deferred, promise) = env.create_deferred::<V, Resolver<V>>()?;
    let pending = Arc::new(call.start());
    let taken = Arc::clone(&pending);
    pending.when_finished(move || {
        let resolver: Resolver<V> = match taken.take() {
            Ok(value) => {
                let value = convert(value);
                Box::new(move |_| Ok(value))
            }
            Err(error) => Box::new(move |env| Err(throw(&env, &error))),
        };
        deferred.resolve(resolver);
    });
    Ok(promise)
}
