//! The driver loop and the reqwest plumbing: the only I/O in this crate.

use std::sync::Arc;
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
                (client, Some(settings.timeout()))
            }
            None => (http_client(settings)?, None),
        };
        Ok(Transport {
            config,
            client,
            custom_timeout,
            clock: settings.clock(),
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
            clock: settings.clock(),
        })
    }

    /// The transport's clock's current time.
    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.clock.now()
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
                            match flow.handle_transport_error(failure, self.clock.now()) {
                                Some(next) => next,
                                None => return Err(Error::transport(failure, name, Some(source))),
                            }
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

/// A reqwest client as the SDK wants it: rustls on core's TLS set-up
/// (explicit provider, roots, client identity), no redirects, connect and
/// overall timeouts, a pool of idle connections.
pub(crate) fn http_client(settings: &ClientSettings) -> Result<reqwest::Client, Error> {
    let tls = settings.tls_setup()?;
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout())
        .connect_timeout(settings.connect_timeout())
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
