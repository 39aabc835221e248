//! The driver loop and the reqwest plumbing: the only I/O in this crate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agentwrit_core::{ClientConfig, ClientSettings, Clock, Error, Flow, Step, TransportFailure};
use tokio::sync::Notify;
use tracing::Instrument as _;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every call needs: the protocol configuration, a configured
/// reqwest client (its pool shared by clones) and the clock.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) config: ClientConfig,
    client: reqwest::Client,
    /// For a user's own client: the overall timeout every request sets.
    custom_timeout: Option<Duration>,
    clock: Arc<dyn Clock>,
    /// What the releaser sends a dropped guard's releases with.
    release: Arc<ReleasePath>,
}

/// The client the releaser ([`crate::releaser`]) uses for this
/// transport's releases: one the SDK builds from the same settings
/// (lazily, once), whose connections live on the releaser's runtime; or
/// the user's own client.
#[derive(Debug)]
struct ReleasePath {
    settings: Option<ClientSettings>,
    client: OnceLock<Option<reqwest::Client>>,
    timeout: Duration,
}

impl Transport {
    /// The transport for `settings`, on `client` (a user's own) or a new
    /// reqwest client.
    pub(crate) fn new(
        settings: &ClientSettings,
        client: Option<reqwest::Client>,
    ) -> Result<Transport, Error> {
        let config = settings.config()?;
        if settings.sends_in_clear_text() {
            tracing::warn!(
                broker = settings.broker_url(),
                "the broker URL is plain http:// to a host that is not loopback: tokens and \
                 secrets travel in clear text; use https://"
            );
        }
        let (client, custom_timeout) = match client {
            Some(client) => {
                if settings.has_tls_options() {
                    return Err(Error::invalid_input(
                        "http_client",
                        "a custom HTTP client brings its own TLS: configure roots and client \
                         identity on it, not with add_root_certificate_pem, \
                         tls_built_in_roots or identity_pem",
                    ));
                }
                (client, Some(settings.get_timeout()))
            }
            None => (http_client(settings)?, None),
        };
        let release = ReleasePath::new(settings, custom_timeout.map(|_| client.clone()));
        Ok(Transport {
            config,
            client,
            custom_timeout,
            clock: settings.get_clock(),
            release,
        })
    }

    /// The transport for `settings` on a client the SDK built itself
    /// (the shared pool of `validate`).
    pub(crate) fn with_sdk_client(
        settings: &ClientSettings,
        client: reqwest::Client,
    ) -> Result<Transport, Error> {
        Ok(Transport {
            config: settings.config()?,
            client,
            custom_timeout: None,
            clock: settings.get_clock(),
            release: ReleasePath::new(settings, None),
        })
    }

    /// This transport as the releaser uses it: the same configuration
    /// and clock on the release client (`None` when it cannot be built;
    /// the reason has been logged).
    pub(crate) fn for_release(&self) -> Option<Transport> {
        let client = self.release.client()?;
        Some(Transport {
            client,
            ..self.clone()
        })
    }

    /// How long one request may take (the overall timeout of the
    /// settings), to bound a wait for `requests` of them.
    pub(crate) fn wait_bound(&self, requests: usize) -> Duration {
        let requests = u32::try_from(requests.max(1)).unwrap_or(u32::MAX);
        self.release
            .timeout
            .saturating_mul(requests)
            .saturating_add(Duration::from_secs(1))
    }

    /// Drives `flow` to its end: sends what it asks, sleeps when it says.
    pub(crate) async fn drive<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.drive_waking(flow, None).await
    }

    /// As `drive`; a `notify_one` on `wake` ends a sleep early (how the
    /// auto-renewal task is told to stop). A request in flight is never
    /// abandoned: a renewal that reached the broker is always installed.
    pub(crate) async fn drive_waking<F: Flow>(
        &self,
        mut flow: F,
        wake: Option<&Notify>,
    ) -> Result<F::Output, Error> {
        let mut step = flow.start(self.clock.now());
        loop {
            step = match step {
                Step::Send(request) => {
                    let name = flow.name();
                    match self.send(request, name).await {
                        Ok(response) => flow.handle_response(response, self.clock.now()),
                        Err((failure, source)) => {
                            let give_up = Error::transport(failure, name, Some(source));
                            flow.handle_transport_failure(failure, give_up, self.clock.now())
                        }
                    }
                }
                Step::Wait { until } => {
                    let wait = until.duration_since(self.clock.now()).unwrap_or_default();
                    let slept = match wake {
                        Some(wake) => tokio::select! {
                            () = tokio::time::sleep(wait) => true,
                            () = wake.notified() => false,
                        },
                        None => {
                            tokio::time::sleep(wait).await;
                            true
                        }
                    };
                    // A full sleep counts as reaching `until` even on a
                    // clock that does not move by itself (a test clock).
                    let now = self.clock.now();
                    flow.resume(if slept { now.max(until) } else { now })
                }
                Step::Done(result) => return result,
            };
        }
    }

    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        step: &'static str,
    ) -> Result<http::Response<Vec<u8>>, (TransportFailure, BoxError)> {
        let span = tracing::debug_span!("agentwrit", step, method = %request.method(), path = request.uri().path(), status = tracing::field::Empty, request_id = tracing::field::Empty);
        let limit = self.config.max_response_bytes();
        async move {
            let mut request = reqwest::Request::try_from(request)
                .map_err(|e| (TransportFailure::Other, BoxError::from(e)))?;
            if let Some(timeout) = self.custom_timeout {
                // A user's client keeps its connect timeout; the SDK's
                // overall timeout applies per request.
                *request.timeout_mut() = Some(timeout);
            }
            let mut response = self.client.execute(request).await.map_err(classify)?;
            let request_id = response
                .headers()
                .get(agentwrit_core::wire::headers::X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let span = tracing::Span::current();
            span.record("status", response.status().as_u16());
            span.record("request_id", request_id.as_str());
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = builder.headers_mut() {
                headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            // Read at most one byte over the limit, so that the flow
            // reports an oversized body; a 10 MiB body costs 1 MiB.
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                let room = limit.saturating_add(1).saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() > limit {
                    break;
                }
            }
            tracing::debug!(status = response.status().as_u16(), %request_id, bytes = body.len(), "broker answered");
            builder
                .body(body)
                .map_err(|e| (TransportFailure::Other, BoxError::from(e)))
        }
        .instrument(span)
        .await
    }
}

impl ReleasePath {
    /// For `settings`; `user_client` is the user's own client, used as it
    /// is (the SDK cannot rebuild it).
    fn new(settings: &ClientSettings, user_client: Option<reqwest::Client>) -> Arc<ReleasePath> {
        let client = OnceLock::new();
        let timeout = settings.get_timeout();
        let settings = match user_client {
            Some(user_client) => {
                let _ = client.set(Some(user_client));
                None
            }
            None => Some(settings.clone()),
        };
        Arc::new(ReleasePath {
            settings,
            client,
            timeout,
        })
    }

    fn client(&self) -> Option<reqwest::Client> {
        self.client
            .get_or_init(|| {
                let settings = self.settings.as_ref()?;
                http_client(settings)
                    .map_err(|error| {
                        tracing::warn!(%error, "could not build the releaser's HTTP client");
                    })
                    .ok()
            })
            .clone()
    }
}

/// A reqwest client as the SDK wants it: rustls on core's TLS set-up
/// (explicit provider, roots, client identity), no redirects, connect and
/// overall timeouts, a pool of idle connections.
pub(crate) fn http_client(settings: &ClientSettings) -> Result<reqwest::Client, Error> {
    let tls = settings.tls_setup()?;
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.get_timeout())
        .connect_timeout(settings.get_connect_timeout())
        .user_agent(agentwrit_core::DEFAULT_USER_AGENT)
        .tls_backend_preconfigured(rustls::ClientConfig::clone(tls.client_config()))
        .build()
        .map_err(|e| Error::transport(TransportFailure::Other, "http_client", Some(Box::new(e))))
}

/// The failure's kind, and the underlying error to keep as its source.
/// reqwest's message names the URL, never a header or body.
fn classify(error: reqwest::Error) -> (TransportFailure, BoxError) {
    if let Some(tls) = agentwrit_core::tls::tls_error_in(&error) {
        return (TransportFailure::Tls, Box::new(tls));
    }
    let failure = if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::Timeout
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportFailure::Io
    } else {
        TransportFailure::Other
    };
    (failure, Box::new(error))
}
