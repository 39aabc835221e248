//! Settings from the environment: the `AGENTWRIT_*` variable names and
//! [`app_settings_from`] / [`operator_settings_from`], which read them
//! through a lookup function (so tests need not touch the process
//! environment).

use agentwrit_wire::{AdminSecret, ClientSecret};

use crate::config::BrokerUrl;
use crate::error::Error;

/// The environment variable holding the broker's URL.
pub const ENV_BROKER_URL: &str = "AGENTWRIT_BROKER_URL";
/// The environment variable holding the app's client id.
pub const ENV_CLIENT_ID: &str = "AGENTWRIT_CLIENT_ID";
/// The environment variable holding the app's client secret.
pub const ENV_CLIENT_SECRET: &str = "AGENTWRIT_CLIENT_SECRET";
/// The environment variable holding the operator's admin secret (the
/// broker's `AA_ADMIN_SECRET`).
pub const ENV_ADMIN_SECRET: &str = "AGENTWRIT_ADMIN_SECRET";

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, Error> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::invalid_input(name, "is not set"))
}

/// What to read from the environment for an app: the broker URL, client id
/// and client secret, from [`ENV_BROKER_URL`], [`ENV_CLIENT_ID`] and
/// [`ENV_CLIENT_SECRET`], through `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first variable that is unset or
/// empty, or a broker URL that does not parse.
///
/// ```
/// use agentwrit_core::app_settings_from;
/// let env = |k: &str| match k {
///     "AGENTWRIT_BROKER_URL" => Some("http://127.0.0.1:8080".to_owned()),
///     "AGENTWRIT_CLIENT_ID" => Some("cm-37a7c9c10885".to_owned()),
///     _ => None,
/// };
/// let err = app_settings_from(env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_CLIENT_SECRET"));
/// ```
pub fn app_settings_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(BrokerUrl, String, ClientSecret), Error> {
    let url = BrokerUrl::parse(&required(&lookup, ENV_BROKER_URL)?)?;
    let client_id = required(&lookup, ENV_CLIENT_ID)?;
    let secret = ClientSecret::from(required(&lookup, ENV_CLIENT_SECRET)?);
    Ok((url, client_id, secret))
}

/// What to read from the environment for the operator: the broker URL and
/// the admin secret, from [`ENV_BROKER_URL`] and [`ENV_ADMIN_SECRET`],
/// through `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first variable that is unset or
/// empty, or a broker URL that does not parse.
///
/// ```
/// use agentwrit_core::operator_settings_from;
/// let env = |k: &str| (k == "AGENTWRIT_BROKER_URL").then(|| "http://127.0.0.1:8080".to_owned());
/// let err = operator_settings_from(env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_ADMIN_SECRET"));
/// ```
pub fn operator_settings_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(BrokerUrl, AdminSecret), Error> {
    let url = BrokerUrl::parse(&required(&lookup, ENV_BROKER_URL)?)?;
    let secret = AdminSecret::from(required(&lookup, ENV_ADMIN_SECRET)?);
    Ok((url, secret))
}
