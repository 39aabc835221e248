//! Start-up: the broker (embedded or from the environment), the port, the
//! server.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use agentwrit_async::wire::{AdminSecret, CreateAppRequest};
use agentwrit_async::{App, Operator};
use agentwrit_devbroker::{DevBrokerBuilder, DevBrokerHandle};
use axum::Router;
use tokio::net::TcpListener;

use crate::KitError;

/// Where the demo's broker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerSource {
    /// An in-process development broker started by the demo.
    Embedded,
    /// `AGENTWRIT_BROKER_URL` with `AGENTWRIT_CLIENT_ID` / `_SECRET`.
    GivenApp,
    /// `AGENTWRIT_BROKER_URL` with `AGENTWRIT_ADMIN_SECRET`: the demo
    /// registered its own app.
    SelfRegistered,
}

/// The broker a demo runs on, its app and (when the admin secret is
/// known) an operator for the audit trail. Keeps an embedded broker alive
/// as long as it lives.
pub struct BrokerSetup {
    /// The demo's app.
    pub app: App,
    /// The broker's base URL.
    pub broker_url: String,
    /// An operator, when the admin secret is known (always for the
    /// embedded broker).
    pub operator: Option<Operator>,
    /// Where the broker came from.
    pub source: BrokerSource,
    /// The app's id at the broker, when known.
    pub app_id: Option<String>,
    embedded: Option<DevBrokerHandle>,
}

impl fmt::Debug for BrokerSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerSetup")
            .field("broker_url", &self.broker_url)
            .field("source", &self.source)
            .field("app_id", &self.app_id)
            .field("operator", &self.operator.is_some())
            .finish_non_exhaustive()
    }
}

impl BrokerSetup {
    /// The broker from the environment when `AGENTWRIT_BROKER_URL` is set
    /// (with `AGENTWRIT_CLIENT_ID` + `AGENTWRIT_CLIENT_SECRET`, or
    /// `AGENTWRIT_ADMIN_SECRET` to register an app named
    /// `{app_name}-{unix seconds}` with ceiling `ceiling`), else an
    /// embedded development broker with default settings and that app.
    ///
    /// # Errors
    ///
    /// Missing credentials next to `AGENTWRIT_BROKER_URL`, the broker
    /// refused, the embedded broker could not start.
    pub async fn from_env_or_embedded(
        app_name: &str,
        ceiling: &[&str],
    ) -> Result<BrokerSetup, KitError> {
        Self::from_vars_or_embedded(app_name, ceiling, |name| std::env::var(name).ok()).await
    }

    /// [`BrokerSetup::from_env_or_embedded`] with the variables read
    /// through `var` (tests pass a map; the binary passes the environment).
    ///
    /// # Errors
    ///
    /// As [`BrokerSetup::from_env_or_embedded`].
    pub async fn from_vars_or_embedded(
        app_name: &str,
        ceiling: &[&str],
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<BrokerSetup, KitError> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        match var("AGENTWRIT_BROKER_URL") {
            Some(url) => {
                let creds = match (var("AGENTWRIT_CLIENT_ID"), var("AGENTWRIT_CLIENT_SECRET")) {
                    (Some(id), Some(secret)) => Some((id, secret)),
                    _ => None,
                };
                Self::remote(
                    &url,
                    app_name,
                    ceiling,
                    creds,
                    var("AGENTWRIT_ADMIN_SECRET"),
                )
                .await
            }
            None => Self::embedded(agentwrit_devbroker::DevBroker::builder(), app_name, ceiling),
        }
    }

    /// An embedded development broker from `builder` (tests pass short
    /// TTLs or a clock here) with an app `app_name` / `ceiling`.
    ///
    /// ```
    /// use agentwrit_demo_kit::{BrokerSetup, BrokerSource};
    /// let setup = BrokerSetup::embedded(agentwrit_devbroker::DevBroker::builder(), "demo", &["read:kb:*"])?;
    /// assert_eq!(setup.source, BrokerSource::Embedded);
    /// assert!(setup.operator.is_some());
    /// # Ok::<(), agentwrit_demo_kit::KitError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker could not start or refused the app.
    pub fn embedded(
        builder: DevBrokerBuilder,
        app_name: &str,
        ceiling: &[&str],
    ) -> Result<BrokerSetup, KitError> {
        let handle = builder
            .start()
            .map_err(|e| KitError::Setup(format!("starting the development broker: {e}")))?;
        let reg = handle
            .register_app(app_name, ceiling, None)
            .map_err(|e| KitError::Setup(format!("registering {app_name}: {e}")))?;
        let url = handle.url().to_owned();
        let app = App::new(&url, &reg.client_id, reg.client_secret.expose_secret())
            .map_err(KitError::Broker)?;
        let operator =
            Operator::new(&url, handle.admin_secret().clone()).map_err(KitError::Broker)?;
        Ok(BrokerSetup {
            app,
            broker_url: url,
            operator: Some(operator),
            source: BrokerSource::Embedded,
            app_id: Some(reg.app_id),
            embedded: Some(handle),
        })
    }

    async fn remote(
        url: &str,
        app_name: &str,
        ceiling: &[&str],
        creds: Option<(String, String)>,
        admin_secret: Option<String>,
    ) -> Result<BrokerSetup, KitError> {
        let operator = match admin_secret {
            Some(secret) => {
                Some(Operator::new(url, AdminSecret::new(secret)).map_err(KitError::Broker)?)
            }
            None => None,
        };
        if let Some((id, secret)) = creds {
            let app = App::new(url, &id, secret.as_str()).map_err(KitError::Broker)?;
            return Ok(BrokerSetup {
                app,
                broker_url: url.to_owned(),
                operator,
                source: BrokerSource::GivenApp,
                app_id: None,
                embedded: None,
            });
        }
        let Some(op) = operator else {
            return Err(KitError::Setup(
                "AGENTWRIT_BROKER_URL is set: also set AGENTWRIT_CLIENT_ID and AGENTWRIT_CLIENT_SECRET, \
                 or AGENTWRIT_ADMIN_SECRET so the demo registers its own app"
                    .into(),
            ));
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{app_name}-{stamp}");
        let created = op
            .create_app(CreateAppRequest::new(
                name,
                ceiling.iter().map(|s| (*s).to_owned()).collect(),
            ))
            .await
            .map_err(KitError::Broker)?;
        let Some(secret) = created.client_secret else {
            return Err(KitError::Setup(
                "the broker did not return the new app's client secret".into(),
            ));
        };
        let app =
            App::new(url, &created.client_id, secret.expose_secret()).map_err(KitError::Broker)?;
        Ok(BrokerSetup {
            app,
            broker_url: url.to_owned(),
            operator: Some(op),
            source: BrokerSource::SelfRegistered,
            app_id: Some(created.app_id),
            embedded: None,
        })
    }

    /// The embedded broker, when there is one (tests read its admin
    /// secret or key from it).
    #[must_use]
    pub fn embedded_broker(&self) -> Option<&DevBrokerHandle> {
        self.embedded.as_ref()
    }

    /// A one-line description for the start-up banner (no secrets).
    #[must_use]
    pub fn describe(&self) -> String {
        match self.source {
            BrokerSource::Embedded => {
                format!("embedded development broker at {}", self.broker_url)
            }
            BrokerSource::GivenApp => format!("broker {} with the given app", self.broker_url),
            BrokerSource::SelfRegistered => format!(
                "broker {} with a newly registered app {}",
                self.broker_url,
                self.app_id.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Reads `--port N` / `--port=N` from `args` (the program name excluded);
/// 0 (any free port) when absent.
///
/// ```
/// use agentwrit_demo_kit::parse_port;
/// assert_eq!(parse_port(["--port", "8080"]), Ok(8080));
/// assert_eq!(parse_port(["--port=0"]), Ok(0));
/// assert_eq!(parse_port::<[&str; 0], _>([]), Ok(0));
/// assert!(parse_port(["--port", "x"]).is_err());
/// assert!(parse_port(["--bogus"]).is_err());
/// ```
///
/// # Errors
///
/// An unknown flag or a bad number.
pub fn parse_port<I, S>(args: I) -> Result<u16, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut port = 0;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_ref();
        let value = if arg == "--port" {
            args.next()
                .map(|v| v.as_ref().to_owned())
                .ok_or("--port needs a number")?
        } else if let Some(v) = arg.strip_prefix("--port=") {
            v.to_owned()
        } else if arg == "--help" || arg == "-h" {
            return Err("usage: [--port N]   (default: a free port)".into());
        } else {
            return Err(format!("unknown argument {arg:?}; usage: [--port N]"));
        };
        port = value
            .parse()
            .map_err(|_| format!("--port: {value:?} is not a port number"))?;
    }
    Ok(port)
}

/// Binds `127.0.0.1:port` (0: a free one).
///
/// # Errors
///
/// The port is taken or not allowed.
pub async fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Serves `router` on `listener` until Ctrl-C.
///
/// # Errors
///
/// The server failed.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
