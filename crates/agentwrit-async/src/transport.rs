//! The driver loop and the reqwest plumbing: the only I/O in this crate.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agentwrit_core::process::PerProcess;
use agentwrit_core::{
    Action, Attempt, ClientConfig, ClientSettings, Clock, Driver, Error, Flow, TransportFailure,
};
use tokio::sync::Notify;
use tracing::Instrument as _;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every call needs: the protocol configuration, a configured
/// reqwest client (its pool shared by clones) and the clock.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) config: ClientConfig,
    client: PerProcess<reqwest::Client>,
    /// For a user's own client: the overall timeout every request sets.
    custom_timeout: Option<Duration>,
    clock: Arc<dyn Clock>,
    /// The broker's base URL, parsed once: each request's URL is a clone
    /// of it with the path and query set (see [`request_url`]).
    origin: Option<reqwest::Url>,
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
    client: OnceLock<Option<PerProcess<reqwest::Client>>>,
    timeout: Duration,
    /// The transport on that client, made once (see `for_release`).
    transport: OnceLock<Option<Arc<Transport>>>,
}

impl Transport {
    /// The transport for `settings`, on `client` (a user's own) or a new
    /// reqwest client.
    pub(crate) fn new(
        settings: &ClientSettings,
        client: Option<reqwest::Client>,
    ) -> Result<Transport, Error> {
        let config = settings.transport_config(client.is_some())?;
        let (client, custom_timeout): (PerProcess<reqwest::Client>, _) = match client {
            Some(client) => (PerProcess::fixed(client), Some(settings.timeout())),
            None => (per_process(settings)?, None),
        };
        let release = ReleasePath::new(settings, custom_timeout.map(|_| client.clone()));
        Ok(Transport {
            origin: reqwest::Url::parse(config.broker().as_str()).ok(),
            config,
            client,
            custom_timeout,
            clock: settings.clock(),
            release,
        })
    }

    /// The transport for `settings` on a client the SDK built itself
    /// (the shared pool of `validate`).
    pub(crate) fn with_sdk_client(
        settings: &ClientSettings,
        client: reqwest::Client,
    ) -> Result<Transport, Error> {
        let config = settings.config()?;
        let rebuilt = settings.clone();
        Ok(Transport {
            origin: reqwest::Url::parse(config.broker().as_str()).ok(),
            config,
            client: PerProcess::new(client, move || http_client(&rebuilt)),
            custom_timeout: None,
            clock: settings.clock(),
            release: ReleasePath::new(settings, None),
        })
    }

    /// This transport as the releaser uses it: the same configuration
    /// and clock on the release client, made once and shared (`None` when
    /// it cannot be built; the reason has been logged).
    pub(crate) fn for_release(&self) -> Option<Arc<Transport>> {
        self.release
            .transport
            .get_or_init(|| {
                let client = self.release.client()?;
                let release = Arc::new(ReleasePath {
                    settings: None,
                    client: OnceLock::from(Some(client.clone())),
                    timeout: self.release.timeout,
                    transport: OnceLock::new(),
                });
                Some(Arc::new(Transport {
                    client,
                    release,
                    ..self.clone()
                }))
            })
            .clone()
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
        flow: F,
        wake: Option<&Notify>,
    ) -> Result<F::Output, Error> {
        let mut driver = self.driver(flow);
        let action = driver.start();
        self.run(&mut driver, action, wake).await
    }

    /// A driver for `flow` on this transport's clock.
    pub(crate) fn driver<F: Flow>(&self, flow: F) -> Driver<F> {
        Driver::new(flow, Arc::clone(&self.clock))
    }

    /// Performs `driver`'s actions from `action` on until the flow ends.
    pub(crate) async fn run<F: Flow>(
        &self,
        driver: &mut Driver<F>,
        mut action: Action<F::Output>,
        wake: Option<&Notify>,
    ) -> Result<F::Output, Error> {
        loop {
            action = match action {
                Action::Done(result) => return result,
                action => self.perform(driver, action, wake).await,
            };
        }
    }

    /// Performs one action (sends, or sleeps) and returns the next.
    pub(crate) async fn perform<F: Flow>(
        &self,
        driver: &mut Driver<F>,
        action: Action<F::Output>,
        wake: Option<&Notify>,
    ) -> Action<F::Output> {
        match action {
            Action::Send(attempt) => match self.send(attempt, driver.step_name()).await {
                Ok(response) => driver.received(response),
                Err((failure, source)) => driver.failed(failure, Some(source)),
            },
            Action::Sleep(wait) => driver.woke(match wake {
                Some(wake) => tokio::select! {
                    () = tokio::time::sleep(wait) => true,
                    () = wake.notified() => false,
                },
                None => {
                    tokio::time::sleep(wait).await;
                    true
                }
            }),
            done @ Action::Done(_) => done,
        }
    }

    async fn send(
        &self,
        attempt: Attempt,
        step: &'static str,
    ) -> Result<http::Response<Vec<u8>>, (TransportFailure, BoxError)> {
        let (request, attempt_timeout) = (attempt.request, attempt.timeout);
        let span = tracing::debug_span!("agentwrit", step, method = %request.method(), path = request.uri().path(), status = tracing::field::Empty, request_id = tracing::field::Empty);
        let limit = self.config.max_response_bytes();
        async move {
            let mut request = to_reqwest(request, self.origin.as_ref())?;
            // What is left of the call's timeout (a user's client keeps
            // its connect timeout).
            if let Some(timeout) = attempt_timeout.or(self.custom_timeout) {
                *request.timeout_mut() = Some(timeout);
            }
            let client = self
                .client
                .get()
                .map_err(|e| (TransportFailure::Other, BoxError::from(e)))?;
            let mut response = client.execute(request).await.map_err(classify)?;
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
                // Moved, not cloned: the body is read through `chunk`,
                // which needs no headers.
                *headers = std::mem::take(response.headers_mut());
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

/// `request` as reqwest's request. reqwest's own conversion turns the
/// URI into a string and parses it whole (host, IDNA, path) on every
/// request, about a sixth of an async create-agent's instructions beyond
/// the blocking client's; the broker's origin never changes, so its parsed
/// form is cloned and only the path and query are set.
fn to_reqwest(
    request: http::Request<Vec<u8>>,
    origin: Option<&reqwest::Url>,
) -> Result<reqwest::Request, (TransportFailure, BoxError)> {
    let (parts, body) = request.into_parts();
    let url = match request_url(&parts.uri, origin) {
        Some(url) => url,
        None => reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|e| (TransportFailure::Other, BoxError::from(e)))?,
    };
    let mut out = reqwest::Request::new(parts.method, url);
    *out.headers_mut() = parts.headers;
    *out.version_mut() = parts.version;
    *out.body_mut() = Some(reqwest::Body::from(body));
    Ok(out)
}

/// `uri` as a URL, from `origin` when `uri` has the same scheme and
/// authority (what `Url::parse` of the whole URI would give); `None`
/// otherwise.
fn request_url(uri: &http::Uri, origin: Option<&reqwest::Url>) -> Option<reqwest::Url> {
    let origin = origin?;
    let prefix = &origin.as_str()[..url_position_before_path(origin)?];
    let (scheme, authority) = (uri.scheme_str()?, uri.authority()?.as_str());
    let same = prefix
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .is_some_and(|rest| rest == authority);
    if !same {
        return None;
    }
    let mut url = origin.clone();
    url.set_path(uri.path());
    url.set_query(uri.query());
    Some(url)
}

/// The byte offset where `url`'s path starts.
fn url_position_before_path(url: &reqwest::Url) -> Option<usize> {
    let s = url.as_str();
    let after_scheme = s.find("://")? + 3;
    Some(
        after_scheme
            + s[after_scheme..]
                .find('/')
                .unwrap_or(s.len() - after_scheme),
    )
}

impl ReleasePath {
    /// For `settings`; `user_client` is the user's own client, used as it
    /// is (the SDK cannot rebuild it).
    fn new(
        settings: &ClientSettings,
        user_client: Option<PerProcess<reqwest::Client>>,
    ) -> Arc<ReleasePath> {
        let client = OnceLock::new();
        let timeout = settings.timeout();
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
            transport: OnceLock::new(),
        })
    }

    fn client(&self) -> Option<PerProcess<reqwest::Client>> {
        self.client
            .get_or_init(|| {
                let settings = self.settings.as_ref()?;
                per_process(settings)
                    .map_err(|error| {
                        tracing::warn!(%error, "could not build the releaser's HTTP client");
                    })
                    .ok()
            })
            .clone()
    }
}

/// [`http_client`] for `settings`, rebuilt from them in a forked child.
fn per_process(settings: &ClientSettings) -> Result<PerProcess<reqwest::Client>, Error> {
    let rebuilt = settings.clone();
    Ok(PerProcess::new(http_client(settings)?, move || {
        http_client(&rebuilt)
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_built_from_the_origin_equal_a_full_parse() {
        for (base, uris) in [
            (
                "http://127.0.0.1:8080",
                &[
                    "http://127.0.0.1:8080/v1/register",
                    "http://127.0.0.1:8080/v1/audit/events?agent_id=spiffe%3A%2F%2Fx%2Fa&limit=5",
                    "http://127.0.0.1:8080/v1/a%20b/%7Bc%7D",
                    "http://127.0.0.1:8080/",
                ][..],
            ),
            (
                "https://Broker.Example.com/prefix",
                &[
                    "https://broker.example.com/prefix/v1/challenge",
                    "https://broker.example.com/prefix/v1/x?y=z",
                ][..],
            ),
            ("http://[::1]:9000", &["http://[::1]:9000/v1/health"][..]),
        ] {
            let origin = reqwest::Url::parse(base).unwrap();
            for uri in uris {
                let parsed: http::Uri = uri.parse().unwrap();
                let fast = request_url(&parsed, Some(&origin)).unwrap();
                assert_eq!(
                    fast,
                    reqwest::Url::parse(&parsed.to_string()).unwrap(),
                    "{uri}"
                );
            }
        }
    }

    #[test]
    fn another_origin_falls_back_to_a_full_parse() {
        let origin = reqwest::Url::parse("http://127.0.0.1:8080").unwrap();
        for uri in [
            "http://127.0.0.1:8081/v1/health",
            "https://127.0.0.1:8080/v1/health",
            "http://127.0.0.1/v1/health",
            "http://127.0.0.1:80801/v1/health",
        ] {
            let parsed: http::Uri = uri.parse().unwrap();
            assert_eq!(request_url(&parsed, Some(&origin)), None, "{uri}");
        }
        let parsed: http::Uri = "http://127.0.0.1:8080/v1/health".parse().unwrap();
        assert_eq!(request_url(&parsed, None), None);
        let request = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:8081/v1/register")
            .header("content-type", "application/json")
            .body(b"{}".to_vec())
            .unwrap();
        let out = to_reqwest(request, Some(&origin)).unwrap();
        assert_eq!(out.url().as_str(), "http://127.0.0.1:8081/v1/register");
        assert_eq!(out.method(), http::Method::POST);
        assert_eq!(out.headers()["content-type"], "application/json");
        assert_eq!(
            out.body().and_then(reqwest::Body::as_bytes),
            Some(&b"{}"[..])
        );
    }
}
