//! Every construction of an SDK client, in one place: the app, the
//! operator and the validator from the environment, and the embedded
//! development broker `run` falls back to.

use agentwrit_async::sansio::{
    ENV_ADMIN_SECRET, ENV_BROKER_URL, ENV_CA_FILE, ENV_CLIENT_CERT, ENV_CLIENT_ID, ENV_CLIENT_KEY,
    ENV_CLIENT_SECRET,
};
use agentwrit_async::{App, Operator, Validator};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

use crate::error::CliError;

/// The variables holding secrets that no child process receives.
pub const SECRET_VARS: [&str; 2] = [ENV_CLIENT_SECRET, ENV_ADMIN_SECRET];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `AGENTWRIT_BROKER_URL`, when set and not empty.
pub fn broker_url() -> Option<String> {
    var(ENV_BROKER_URL)
}

/// The app of `AGENTWRIT_BROKER_URL`, `_CLIENT_ID`, `_CLIENT_SECRET` and
/// the TLS variables.
pub fn app_from_env() -> Result<App, CliError> {
    App::from_env().map_err(|e| match e {
        agentwrit_async::Error::InvalidInput { .. } => CliError::Usage(format!(
            "{e} (`run` needs {ENV_BROKER_URL}, {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}, \
             or none of them for the embedded development broker)"
        )),
        other => CliError::Sdk(other),
    })
}

/// The operator of `AGENTWRIT_BROKER_URL`, `AGENTWRIT_ADMIN_SECRET` and
/// the TLS variables.
pub fn operator_from_env() -> Result<Operator, CliError> {
    if broker_url().is_none() || var(ENV_ADMIN_SECRET).is_none() {
        return Err(CliError::Usage(format!(
            "operator commands need {ENV_BROKER_URL} and {ENV_ADMIN_SECRET}"
        )));
    }
    Ok(Operator::from_env()?)
}

/// A client for the endpoints that need no credentials (validate,
/// release, register with a launch token) at `AGENTWRIT_BROKER_URL`, with
/// the TLS variables.
pub fn validator_from_env() -> Result<Validator, CliError> {
    let url = broker_url()
        .ok_or_else(|| CliError::Usage(format!("this command needs {ENV_BROKER_URL}")))?;
    let mut builder = Validator::builder(&url);
    if let Some(path) = var(ENV_CA_FILE) {
        builder = builder.add_root_certificate_pem(&read(ENV_CA_FILE, &path)?);
    }
    match (var(ENV_CLIENT_CERT), var(ENV_CLIENT_KEY)) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            builder =
                builder.identity_pem(&read(ENV_CLIENT_CERT, &cert)?, &read(ENV_CLIENT_KEY, &key)?);
        }
        _ => {
            return Err(CliError::Usage(format!(
                "set both {ENV_CLIENT_CERT} and {ENV_CLIENT_KEY}, or neither"
            )));
        }
    }
    Ok(builder.build()?)
}

fn read(var: &str, path: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::io(format!("{var}={path}"), e))
}

/// An embedded development broker for one run, and an app on it whose
/// ceiling is exactly `scopes`. Dropping it stops the broker.
pub struct Embedded {
    /// The broker (stops when dropped).
    pub broker: DevBrokerHandle,
    /// The app.
    pub app: App,
}

/// Starts an embedded development broker on 127.0.0.1 and registers an
/// app for `scopes` on it.
pub fn embedded(scopes: &[String]) -> Result<Embedded, CliError> {
    let broker = DevBroker::start().map_err(|e| CliError::DevBroker(e.to_string()))?;
    let registered = broker
        .register_app("agentwrit-cli", scopes, None)
        .map_err(|e| CliError::DevBroker(e.to_string()))?;
    let app = App::new(
        broker.url(),
        &registered.client_id,
        registered.client_secret,
    )?;
    Ok(Embedded { broker, app })
}
