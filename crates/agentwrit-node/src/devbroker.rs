//! `agentwrit-rs/testing`'s engine: the development broker of
//! `agentwrit-devbroker`, in this process, on `127.0.0.1:0`, in plain
//! HTTP, TLS or mutual-TLS mode (a throwaway PKI made per broker), on
//! the system clock or a manual one.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use agentwrit_bindings::{BindingError, ErrorKind};
use agentwrit_devbroker::tls::TestPki;
use agentwrit_devbroker::{DevBroker as Engine, DevBrokerError, DevBrokerHandle, ManualClock};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use napi::Env;
use napi::bindgen_prelude::Object;
use napi_derive::napi;

use crate::promise::{Resolver, throw};

fn broker_error(env: &Env, e: &DevBrokerError) -> napi::Error {
    throw(
        env,
        &BindingError::plain(ErrorKind::Other, format!("development broker: {e}")),
    )
}

fn whole_seconds(env: &Env, field: &str, secs: Option<f64>) -> napi::Result<Option<Duration>> {
    secs.map(|s| {
        if s.is_finite() && s >= 1.0 && s.fract() == 0.0 {
            Ok(Duration::from_secs(s as u64))
        } else {
            Err(throw(
                env,
                &BindingError::invalid_input(
                    field,
                    &format!("must be a whole number of seconds (at least 1), got {s}"),
                ),
            ))
        }
    })
    .transpose()
}

/// How the development broker runs.
#[napi(object)]
#[derive(Default)]
pub struct DevBrokerOptions {
    /// `"none"` (plain HTTP, the default), `"tls"` or `"mtls"`.
    pub tls: Option<String>,
    /// Enforce the real broker's rate limits (off by default).
    pub rate_limits: Option<bool>,
    /// Agent token lifetime when none is asked (seconds).
    pub default_ttl: Option<f64>,
    /// The longest agent token lifetime (seconds).
    pub max_ttl: Option<f64>,
    /// The app token lifetime (seconds).
    pub app_token_ttl: Option<f64>,
    /// The tokens' `iss` (empty by default, as the real broker's).
    pub issuer: Option<String>,
    /// Run on a clock that only `advance()` moves.
    pub manual_clock: Option<bool>,
}

/// A registered app.
#[napi(object)]
pub struct RegisteredApp {
    /// The app's id.
    pub app_id: String,
    /// Its client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
}

/// A running development broker.
#[napi]
pub struct DevBroker {
    handle: Mutex<Option<DevBrokerHandle>>,
    url: String,
    admin_secret: String,
    mode: &'static str,
    pki: Option<TestPki>,
    clock: Option<ManualClock>,
    public_key: [u8; 32],
}

impl DevBroker {
    fn with<T>(
        &self,
        env: &Env,
        f: impl FnOnce(&DevBrokerHandle) -> napi::Result<T>,
    ) -> napi::Result<T> {
        let guard = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_ref() {
            Some(h) => f(h),
            None => Err(throw(
                env,
                &BindingError::plain(
                    ErrorKind::Other,
                    "development broker: already stopped".to_owned(),
                ),
            )),
        }
    }
}

#[napi]
impl DevBroker {
    /// Starts a broker.
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<DevBrokerOptions>) -> napi::Result<Self> {
        let o = options.unwrap_or_default();
        let mut builder = Engine::builder();
        if let Some(issuer) = o.issuer {
            builder = builder.issuer(issuer);
        }
        if !o.rate_limits.unwrap_or(false) {
            builder = builder.no_rate_limits();
        }
        if let Some(t) = whole_seconds(&env, "defaultTtl", o.default_ttl)? {
            builder = builder.default_ttl(t);
        }
        if let Some(t) = whole_seconds(&env, "maxTtl", o.max_ttl)? {
            builder = builder.max_ttl(t);
        }
        if let Some(t) = whole_seconds(&env, "appTokenTtl", o.app_token_ttl)? {
            builder = builder.app_token_ttl(t);
        }
        let clock = o
            .manual_clock
            .unwrap_or(false)
            .then(|| ManualClock::new(SystemTime::now()));
        if let Some(clock) = &clock {
            builder = builder.clock(std::sync::Arc::new(clock.clone()));
        }
        let (mode, pki) = match o.tls.as_deref() {
            None | Some("none") => ("none", None),
            Some(mode @ ("tls" | "mtls")) => {
                let pki = TestPki::generate().map_err(|e| broker_error(&env, &e))?;
                let config = if mode == "tls" {
                    pki.server_config()
                } else {
                    pki.mtls_server_config()
                }
                .map_err(|e| broker_error(&env, &e))?;
                builder = builder.tls(config);
                (if mode == "tls" { "tls" } else { "mtls" }, Some(pki))
            }
            Some(other) => {
                return Err(throw(
                    &env,
                    &BindingError::invalid_input(
                        "tls",
                        &format!("expected \"none\", \"tls\" or \"mtls\", got {other:?}"),
                    ),
                ));
            }
        };
        let handle = builder.start().map_err(|e| broker_error(&env, &e))?;
        Ok(DevBroker {
            url: handle.url().to_owned(),
            admin_secret: handle.admin_secret().expose_secret().to_owned(),
            public_key: handle.public_key(),
            handle: Mutex::new(Some(handle)),
            mode,
            pki,
            clock,
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` in TLS modes).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }
    /// The operator's admin secret.
    #[napi(getter)]
    pub fn admin_secret(&self) -> String {
        self.admin_secret.clone()
    }
    /// `"none"`, `"tls"` or `"mtls"`.
    #[napi(getter)]
    pub fn tls_mode(&self) -> String {
        self.mode.to_owned()
    }
    /// The throwaway CA (PEM), in TLS modes.
    #[napi(getter)]
    pub fn ca_pem(&self) -> Option<String> {
        self.pki.as_ref().map(|p| p.ca_pem().to_owned())
    }
    /// A client certificate the broker accepts in `mtls` mode (PEM).
    #[napi(getter)]
    pub fn client_cert_pem(&self) -> Option<String> {
        self.pki.as_ref().map(|p| p.client().cert_pem().to_owned())
    }
    /// That certificate's key (PEM).
    #[napi(getter)]
    pub fn client_key_pem(&self) -> Option<String> {
        self.pki.as_ref().map(|p| p.client().key_pem().to_owned())
    }
    /// The broker's token-signing public key (base64url, a JWK's `x`):
    /// what a service verifying locally pins.
    #[napi(getter)]
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key)
    }
    /// Whether it still runs.
    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.handle.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Registers an app with the ceiling `scopes`.
    #[napi]
    pub fn register_app(
        &self,
        env: Env,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> napi::Result<RegisteredApp> {
        self.with(&env, |h| {
            let app = h
                .register_app(&name, &scopes, token_ttl)
                .map_err(|e| broker_error(&env, &e))?;
            Ok(RegisteredApp {
                app_id: app.app_id,
                client_id: app.client_id,
                client_secret: app.client_secret.expose_secret().to_owned(),
            })
        })
    }

    /// Moves a manual clock forward by `seconds`.
    #[napi]
    pub fn advance(&self, env: Env, seconds: f64) -> napi::Result<()> {
        let Some(clock) = &self.clock else {
            return Err(throw(
                &env,
                &BindingError::invalid_input(
                    "advance",
                    "the broker runs on the system clock (start it with manualClock: true)",
                ),
            ));
        };
        let by = Duration::try_from_secs_f64(seconds).map_err(|e| {
            throw(
                &env,
                &BindingError::invalid_input("seconds", &e.to_string()),
            )
        })?;
        clock.advance(by);
        Ok(())
    }

    /// Stops the broker (idempotent); resolves once it has stopped.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let (deferred, promise) = env.create_deferred::<(), Resolver<()>>()?;
        match handle {
            None => deferred.resolve(Box::new(|_| Ok(()))),
            Some(h) => {
                let stopper = std::thread::Builder::new()
                    .name("agentwrit-devbroker-stop".into())
                    .spawn(move || {
                        h.shutdown();
                        deferred.resolve(Box::new(|_| Ok(())));
                    });
                if let Err(e) = stopper {
                    return Err(napi::Error::from_reason(format!(
                        "development broker: could not stop: {e}"
                    )));
                }
            }
        }
        Ok(promise)
    }
}

/// The name of the development broker's universal app (the sample apps').
#[napi]
pub const UNIVERSAL_APP_NAME: &str = agentwrit_devbroker::UNIVERSAL_APP_NAME;

/// The universal app's scope ceiling.
#[napi]
pub fn universal_app_scopes() -> Vec<String> {
    agentwrit_devbroker::UNIVERSAL_APP_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
