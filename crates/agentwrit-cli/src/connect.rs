//! Every construction of an SDK client, in one place: the app, the
//! operator and the broker connection from the environment, and the embedded
//! development broker of `run --dev`.

use agentwrit_async::sansio::{ENV_ADMIN_SECRET, ENV_BROKER_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET};
use agentwrit_async::{App, Broker, Operator};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

use crate::error::CliError;

/// The variables holding secrets that no child process receives (nor
/// any other variable holding the same value).
pub const SECRET_VARS: [&str; 2] = [ENV_CLIENT_SECRET, ENV_ADMIN_SECRET];

/// The values of [`SECRET_VARS`] that are set: what `run` strips from the
/// child's environment whatever the variable's name.
pub fn secret_values() -> Vec<String> {
    SECRET_VARS.iter().filter_map(|name| var(name)).collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `AGENTWRIT_BROKER_URL`, when set and not empty.
pub fn broker_url() -> Option<String> {
    var(ENV_BROKER_URL)
}

/// The app of `AGENTWRIT_CLIENT_ID` and `_CLIENT_SECRET` on `broker`.
pub fn app_from_env(broker: &Broker) -> Result<App, CliError> {
    broker.app_from_env().map_err(|e| match e {
        agentwrit_async::Error::InvalidInput { .. } => CliError::Usage(format!(
            "{e} (`run` needs {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} with {ENV_BROKER_URL}, \
             or --launch-token-env, or --dev for a throwaway development broker)"
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

/// The connection for the calls that need no credentials (validate,
/// release, register with a launch token) to `AGENTWRIT_BROKER_URL`, with
/// the TLS variables (`AGENTWRIT_CA_FILE`, `_CLIENT_CERT`, `_CLIENT_KEY`).
pub fn broker_from_env() -> Result<Broker, CliError> {
    if broker_url().is_none() {
        return Err(CliError::Usage(format!(
            "this command needs {ENV_BROKER_URL}"
        )));
    }
    Ok(Broker::from_env()?)
}

/// `run`'s broker: `AGENTWRIT_BROKER_URL`, or a clear error naming both
/// ways out when it is not set (no silent development broker).
pub fn run_broker_from_env() -> Result<Broker, CliError> {
    if broker_url().is_none() {
        return Err(CliError::Usage(format!(
            "{ENV_BROKER_URL} is not set: set it (with {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}, \
             or --launch-token-env) to use a broker, or pass --dev (or set AGENTWRIT_DEV=1) \
             for a throwaway embedded development broker"
        )));
    }
    Ok(Broker::from_env()?)
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
