//! Settings from the environment: the `AGENTWRIT_*` variable names and
//! [`broker_settings_from`], [`app_credentials_from`] and
//! [`admin_secret_from`], which read them through a lookup function (so
//! tests need not touch the process environment).

use agentwrit_wire::{AdminSecret, ClientSecret};

use crate::builder::ClientSettings;
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

/// The environment variable naming a PEM file of extra trusted root
/// certificates (a broker behind a private CA).
pub const ENV_CA_FILE: &str = "AGENTWRIT_CA_FILE";
/// The environment variable naming the PEM client certificate (chain) for
/// mutual TLS.
pub const ENV_CLIENT_CERT: &str = "AGENTWRIT_CLIENT_CERT";
/// The environment variable naming the PEM private key of
/// [`ENV_CLIENT_CERT`].
pub const ENV_CLIENT_KEY: &str = "AGENTWRIT_CLIENT_KEY";

fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

fn read_pem(name: &str, path: &str) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::invalid_input(name, format!("cannot read {path}: {e}")))?;
    // The contents are not quoted: the key file holds a secret.
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(Error::invalid_input(
            name,
            format!("{path} holds no PEM block (-----BEGIN ...)"),
        ));
    }
    Ok(bytes)
}

/// Adds the TLS settings named by the environment to `settings`: extra
/// roots from the PEM file [`ENV_CA_FILE`], and the mutual-TLS identity
/// from [`ENV_CLIENT_CERT`] and [`ENV_CLIENT_KEY`] (both or neither).
/// Unset or empty variables change nothing. [`broker_settings_from`]
/// calls it.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the variable whose file cannot be read or
/// holds no PEM, or the one missing of a certificate/key pair.
///
/// ```
/// use agentwrit_core::{ClientSettings, tls_settings_from};
/// let env = |k: &str| (k == "AGENTWRIT_CA_FILE").then(|| "/nonexistent/ca.pem".to_owned());
/// let err = tls_settings_from(ClientSettings::new("https://broker.example"), env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_CA_FILE"));
///
/// let unchanged = tls_settings_from(ClientSettings::new("https://broker.example"), |_| None)?;
/// assert!(!unchanged.has_tls_options());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
pub fn tls_settings_from(
    mut settings: ClientSettings,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ClientSettings, Error> {
    if let Some(path) = optional(&lookup, ENV_CA_FILE) {
        settings = settings.add_root_certificate_pem(&read_pem(ENV_CA_FILE, &path)?);
    }
    match (
        optional(&lookup, ENV_CLIENT_CERT),
        optional(&lookup, ENV_CLIENT_KEY),
    ) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(Error::invalid_input(
                ENV_CLIENT_KEY,
                format!("is not set, but {ENV_CLIENT_CERT} is: mutual TLS needs both"),
            ));
        }
        (None, Some(_)) => {
            return Err(Error::invalid_input(
                ENV_CLIENT_CERT,
                format!("is not set, but {ENV_CLIENT_KEY} is: mutual TLS needs both"),
            ));
        }
        (Some(cert), Some(key)) => {
            let cert = read_pem(ENV_CLIENT_CERT, &cert)?;
            let key = zeroize::Zeroizing::new(read_pem(ENV_CLIENT_KEY, &key)?);
            settings = settings.with_identity_pem(&cert, &key);
        }
    }
    Ok(settings)
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, Error> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::invalid_input(name, "is not set"))
}

/// The settings of the broker named by the environment: its URL from
/// [`ENV_BROKER_URL`] (required), and the TLS settings of
/// [`tls_settings_from`]. `Broker::from_env()` of both transports (and so
/// `App::from_env()` and `Operator::from_env()`) start here, with `lookup`
/// `|k| std::env::var(k).ok()`.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming [`ENV_BROKER_URL`] when it is unset or
/// empty, `broker_url` when it does not parse, or the TLS variable whose
/// file cannot be read.
///
/// ```
/// use agentwrit_core::broker_settings_from;
/// let err = broker_settings_from(|_| None).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_BROKER_URL"));
///
/// let env = |k: &str| (k == "AGENTWRIT_BROKER_URL").then(|| "http://127.0.0.1:8080/".to_owned());
/// let settings = broker_settings_from(env)?;
/// assert_eq!(settings.config()?.broker().as_str(), "http://127.0.0.1:8080");
/// assert!(!settings.has_tls_options());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
pub fn broker_settings_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ClientSettings, Error> {
    let url = BrokerUrl::parse(&required(&lookup, ENV_BROKER_URL)?)?;
    tls_settings_from(ClientSettings::new(url.as_str()), lookup)
}

/// The app's credentials named by the environment: the client id and
/// client secret, from [`ENV_CLIENT_ID`] and [`ENV_CLIENT_SECRET`], through
/// `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first variable that is unset or
/// empty.
///
/// ```
/// use agentwrit_core::app_credentials_from;
/// let env = |k: &str| (k == "AGENTWRIT_CLIENT_ID").then(|| "cm-37a7c9c10885".to_owned());
/// let err = app_credentials_from(env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_CLIENT_SECRET"));
/// ```
pub fn app_credentials_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, ClientSecret), Error> {
    let client_id = required(&lookup, ENV_CLIENT_ID)?;
    let secret = ClientSecret::from(required(&lookup, ENV_CLIENT_SECRET)?);
    Ok((client_id, secret))
}

/// The operator's admin secret named by the environment, from
/// [`ENV_ADMIN_SECRET`], through `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming [`ENV_ADMIN_SECRET`] when it is unset or
/// empty.
///
/// ```
/// use agentwrit_core::admin_secret_from;
/// let err = admin_secret_from(|_| None).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_ADMIN_SECRET"));
/// ```
pub fn admin_secret_from(lookup: impl Fn(&str) -> Option<String>) -> Result<AdminSecret, Error> {
    Ok(AdminSecret::from(required(&lookup, ENV_ADMIN_SECRET)?))
}
