//! Token validation for services that hold no credentials: one pooled
//! validator per (flavour, broker URL, settings), per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::call::Call;
use crate::error::Result;
use crate::runtime::process_id;
use crate::settings::Settings;
use crate::value::ValidationResult;
use crate::{Client, Flavour};

/// A validator for one broker (its connection), of either [`Flavour`].
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Validator {
    client: Client<agentwrit_blocking::Broker, agentwrit_async::Broker>,
    broker_url: String,
    deadline: Option<Duration>,
    /// Shared by clones: tells one validator's connections from another's.
    identity: Arc<()>,
}

type Key = (Flavour, String, Settings);

/// At most this many cached validators (a program validating against many
/// brokers or settings does not grow the cache without end).
const CACHE_LIMIT: usize = 64;

impl Validator {
    /// A validator of its own for `broker_url`.
    ///
    /// # Errors
    ///
    /// A malformed URL, unusable TLS material.
    pub fn new(flavour: Flavour, broker_url: &str, settings: &Settings) -> Result<Validator> {
        let client = match flavour {
            Flavour::Blocking => Client::Blocking(settings.blocking_broker(broker_url)?),
            Flavour::Async => Client::Async(settings.async_broker(broker_url)?),
        };
        Ok(Validator {
            client,
            broker_url: broker_url.to_owned(),
            deadline: Some(settings.timeout()),
            identity: Arc::new(()),
        })
    }

    /// The validator this process keeps for (`flavour`, `broker_url`,
    /// `settings`): every setting is part of the key (TLS roots, client
    /// identity, `https_only`, timeout, User-Agent), so a call never reuses
    /// a client configured otherwise. A forked child starts with an empty
    /// cache.
    ///
    /// ```
    /// use agentwrit_bindings::{Flavour, Options, Settings, Validator};
    /// let plain = Settings::new(Options::default())?;
    /// let strict = Settings::new(Options { https_only: true, ..Options::default() })?;
    /// let url = "https://broker.example";
    /// assert!(Validator::cached(Flavour::Blocking, url, &plain)?
    ///     .same_client(&Validator::cached(Flavour::Blocking, url, &plain)?));
    /// assert!(!Validator::cached(Flavour::Blocking, url, &plain)?
    ///     .same_client(&Validator::cached(Flavour::Blocking, url, &strict)?));
    /// # Ok::<(), agentwrit_bindings::BindingError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Validator::new`].
    pub fn cached(flavour: Flavour, broker_url: &str, settings: &Settings) -> Result<Validator> {
        static CACHE: Mutex<Option<(u32, HashMap<Key, Validator>)>> = Mutex::new(None);
        let pid = process_id();
        let key = (flavour, broker_url.to_owned(), settings.clone());
        let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.as_ref().is_none_or(|(owner, _)| *owner != pid) {
            // A parent's validators (and their connections) are forgotten,
            // never used nor torn down, in a child.
            if let Some(stale) = cache.replace((pid, HashMap::new())) {
                std::mem::forget(stale);
            }
        }
        let Some((_, map)) = cache.as_mut() else {
            return Validator::new(flavour, broker_url, settings);
        };
        if let Some(v) = map.get(&key) {
            return Ok(v.clone());
        }
        let v = Validator::new(flavour, broker_url, settings)?;
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, v.clone());
        Ok(v)
    }

    /// Whether `other` shares this validator's connections (a clone, or
    /// the same cache entry).
    #[must_use]
    pub fn same_client(&self, other: &Validator) -> bool {
        Arc::ptr_eq(&self.identity, &other.identity)
    }

    /// `POST /v1/token/validate`. An invalid token is a result, not an
    /// error.
    pub fn validate(&self, token: String) -> Call<ValidationResult> {
        call!(self.client.clone(), &self.broker_url, "validate", Read, v => v.validate(token.as_str()))
            .deadline(self.deadline)
    }
}

/// The broker's scope rule: every scope in `requested` is covered by one in
/// `allowed`.
///
/// ```
/// use agentwrit_bindings::scope_is_subset;
/// assert!(scope_is_subset(&["read:data:x".into()], &["read:data:*".into()]));
/// assert!(!scope_is_subset(&["write:data:x".into()], &["read:data:*".into()]));
/// ```
#[must_use]
pub fn scope_is_subset(requested: &[String], allowed: &[String]) -> bool {
    agentwrit_blocking::scope_is_subset(requested, allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_url_is_refused() {
        let s = Settings::default();
        let e = Validator::cached(Flavour::Blocking, "not a url", &s).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{e}");
    }
}
