//! The driver loop and the ureq plumbing: the only I/O in this crate.

use std::io::{ErrorKind, Read as _};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use agentwrit_core::process::PerProcess;
use agentwrit_core::{
    Action, Attempt, ClientConfig, ClientSettings, Clock, Driver, Error, Flow, TransportFailure,
};
use ureq::RequestExt as _;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector as _, NextTimeout, TcpConnector,
};

use crate::tls::SdkTlsConnector;

/// What every call needs: the protocol configuration, a configured ureq
/// agent (its pool shared by clones; a forked child builds its own from
/// the same settings, so it never sends on the parent's connections) and
/// the clock.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) config: ClientConfig,
    client: PerProcess<ureq::Agent>,
    /// For a user's own agent: the settings every request overrides on it.
    custom: Option<CustomClient>,
    clock: Arc<dyn Clock>,
}

/// What the SDK imposes, per request, on an agent the user handed in
/// (besides each attempt's timeout).
#[derive(Clone, Copy, Debug)]
struct CustomClient {
    connect_timeout: Duration,
}

impl Transport {
    /// The transport for `settings`, on `client` or a new ureq agent.
    pub(crate) fn new(
        settings: &ClientSettings,
        client: Option<ureq::Agent>,
    ) -> Result<Transport, Error> {
        let config = settings.transport_config(client.is_some())?;
        let (client, custom) = match client {
            Some(client) => {
                let custom = CustomClient {
                    connect_timeout: settings.connect_timeout(),
                };
                (PerProcess::fixed(client), Some(custom))
            }
            None => (per_process(settings)?, None),
        };
        Ok(Transport {
            config,
            client,
            custom,
            clock: settings.clock(),
        })
    }

    /// The transport for `settings` on an agent the SDK built itself (the
    /// shared pool of `validate`).
    pub(crate) fn with_sdk_client(
        settings: &ClientSettings,
        client: ureq::Agent,
    ) -> Result<Transport, Error> {
        let rebuilt = settings.clone();
        Ok(Transport {
            config: settings.config()?,
            client: PerProcess::new(client, move || http_client(&rebuilt)),
            custom: None,
            clock: settings.clock(),
        })
    }

    /// The transport's clock's current time.
    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }

    /// Drives `flow` to its end: sends what it asks, sleeps when it says.
    /// Only the SDK ends a sleep: an `unpark` of the calling thread is
    /// left for the caller's own `park`.
    pub(crate) fn drive<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.drive_waking(flow, None)
    }

    /// As `drive`; [`Wake::wake`] on `wake` ends a sleep early (how the
    /// auto-renewal worker is told to stop). A request in flight is never
    /// abandoned.
    pub(crate) fn drive_waking<F: Flow>(
        &self,
        flow: F,
        wake: Option<&Wake>,
    ) -> Result<F::Output, Error> {
        let mut driver = Driver::new(flow, Arc::clone(&self.clock));
        let mut action = driver.start();
        loop {
            action = match action {
                Action::Send(attempt) => match self.send(attempt, driver.step_name()) {
                    Ok(response) => driver.received(response),
                    Err((failure, source)) => driver.failed(failure, Some(source)),
                },
                Action::Sleep(wait) => driver.woke(match wake {
                    Some(wake) => wake.sleep(wait),
                    None => {
                        std::thread::sleep(wait);
                        true
                    }
                }),
                Action::Done(result) => return result,
            };
        }
    }

    fn send(
        &self,
        attempt: Attempt,
        step: &'static str,
    ) -> Result<http::Response<Vec<u8>>, (TransportFailure, BoxError)> {
        let request = attempt.request;
        let span = tracing::debug_span!("agentwrit", step, method = %request.method(), path = request.uri().path(), status = tracing::field::Empty, request_id = tracing::field::Empty);
        let _entered = span.enter();
        // What is left of the call's timeout; the SDK's own agent already
        // has the whole of it.
        let timeout = attempt.timeout.unwrap_or(self.config.timeout());
        let client = self
            .client
            .get()
            .map_err(|e| (TransportFailure::Other, BoxError::from(e)))?;
        let response = match self.custom {
            None if timeout >= self.config.timeout() => client.run(request),
            None => request
                .with_agent(&*client)
                .configure()
                .timeout_global(Some(timeout))
                .build()
                .run(),
            // A user's agent may turn statuses into errors, follow
            // redirects or have other timeouts: the SDK's win per request.
            Some(custom) => request
                .with_agent(&*client)
                .configure()
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .timeout_global(Some(timeout))
                .timeout_connect(Some(custom.connect_timeout.min(timeout)))
                .build()
                .run(),
        }
        .map_err(classify)?;
        let (parts, body) = response.into_parts();
        let request_id = parts
            .headers
            .get(agentwrit_core::wire::headers::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        span.record("status", parts.status.as_u16());
        span.record("request_id", request_id);
        // Read at most one byte over the limit, so the flow reports an
        // oversized body as it does any other bad body: with its status.
        // The rest is never read; dropping the reader closes the connection
        // instead of returning it to the pool.
        let limit = u64::try_from(self.config.max_response_bytes())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut received = Vec::new();
        body.into_reader()
            .take(limit)
            .read_to_end(&mut received)
            .map_err(|e| classify(ureq::Error::from(e)))?;
        tracing::debug!(
            status = parts.status.as_u16(),
            request_id,
            bytes = received.len(),
            "broker answered"
        );
        Ok(http::Response::from_parts(parts, received))
    }
}

/// [`http_client`] for `settings`, rebuilt from them in a forked child.
fn per_process(settings: &ClientSettings) -> Result<PerProcess<ureq::Agent>, Error> {
    let rebuilt = settings.clone();
    Ok(PerProcess::new(http_client(settings)?, move || {
        http_client(&rebuilt)
    }))
}

/// A ureq agent as the SDK wants it: TCP (through a CONNECT proxy if one
/// is configured) and TLS on core's rustls configuration (explicit
/// provider, roots, client identity: the one the async transport uses),
/// no redirects, statuses as responses, connect and overall timeouts, a
/// pool of idle connections.
pub(crate) fn http_client(settings: &ClientSettings) -> Result<ureq::Agent, Error> {
    let tls = settings.tls_setup()?;
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(settings.timeout()))
        .timeout_connect(Some(settings.connect_timeout()))
        .user_agent(agentwrit_core::DEFAULT_USER_AGENT)
        .build();
    let connector = ()
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(SdkTlsConnector::new(Arc::clone(tls.client_config())));
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        LiteralFirstResolver::default(),
    ))
}

/// ureq's resolver, except that an IP-literal host (`127.0.0.1`, `[::1]`)
/// is answered without a lookup. With a timeout configured, ureq resolves
/// the host on every request (pooled connection or not) on a freshly
/// spawned thread; for a literal that thread was most of the client's CPU
/// per create-agent (see docs/performance.md).
#[derive(Debug, Default)]
struct LiteralFirstResolver(DefaultResolver);

impl Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
            let host = authority.host();
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let port = authority.port_u16().or(match scheme {
                "http" => Some(80),
                "https" => Some(443),
                _ => None,
            });
            if let (Ok(ip), Some(port)) = (host.parse::<IpAddr>(), port) {
                let mut addrs = self.empty();
                addrs.push(SocketAddr::new(ip, port));
                return Ok(addrs);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The failure's kind, and the underlying error to keep as its source
/// (the `std::io::Error` itself for an I/O failure).
fn classify(error: ureq::Error) -> (TransportFailure, BoxError) {
    // ureq's `Error::source()` does not lead into its I/O error: look
    // there directly (rustls reports handshake failures inside one).
    let tls = match &error {
        ureq::Error::Io(io) => agentwrit_core::tls::tls_error_in(io),
        other => agentwrit_core::tls::tls_error_in(other),
    };
    if let Some(tls) = tls {
        return (TransportFailure::Tls, Box::new(tls));
    }
    let failure = match &error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportFailure::Connect,
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            TransportFailure::Connect
        }
        ureq::Error::Timeout(_) => TransportFailure::Timeout,
        ureq::Error::BodyExceedsLimit(_) => TransportFailure::BodyTooLarge,
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable => TransportFailure::Connect,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportFailure::Timeout,
            _ => TransportFailure::Io,
        },
        ureq::Error::Protocol(_) | ureq::Error::BodyStalled => TransportFailure::Io,
        _ => TransportFailure::Other,
    };
    let source: BoxError = match error {
        ureq::Error::Io(io) => Box::new(io),
        other => Box::new(other),
    };
    (failure, source)
}

#[cfg(test)]
mod resolver_tests {
    use super::*;

    fn resolve(uri: &str) -> Vec<SocketAddr> {
        let config = ureq::config::Config::default();
        let uri: ureq::http::Uri = uri.parse().unwrap();
        let timeout = NextTimeout::default();
        LiteralFirstResolver::default()
            .resolve(&uri, &config, timeout)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn ip_literals_are_answered_without_a_lookup() {
        assert_eq!(
            resolve("http://127.0.0.1:8080/v1/health"),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(resolve("http://[::1]:9/x"), ["[::1]:9".parse().unwrap()]);
        assert_eq!(
            resolve("https://10.1.2.3/"),
            ["10.1.2.3:443".parse().unwrap()]
        );
        assert_eq!(
            resolve("http://10.1.2.3/"),
            ["10.1.2.3:80".parse().unwrap()]
        );
    }

    #[test]
    fn names_go_to_the_default_resolver() {
        let addrs = resolve("http://localhost:8080/");
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
    }
}

/// A sleep that only [`Wake::wake`] ends early: a condition variable and
/// a flag, never the thread's park token (a caller's own `unpark` neither
/// cuts an SDK wait short nor is swallowed by it).
#[derive(Debug, Default)]
pub(crate) struct Wake {
    woken: Mutex<bool>,
    condvar: Condvar,
}

impl Wake {
    /// Ends the current or the next [`Wake::sleep`] at once.
    pub(crate) fn wake(&self) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.condvar.notify_all();
    }

    /// Sleeps for `wait` unless woken: `true` after the full wait,
    /// `false` when woken (the wake-up is consumed).
    pub(crate) fn sleep(&self, wait: Duration) -> bool {
        let deadline = Instant::now().checked_add(wait);
        let mut woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if std::mem::take(&mut *woken) {
                return false;
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => wait,
            };
            if left.is_zero() {
                return true;
            }
            woken = self
                .condvar
                .wait_timeout(woken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod wait_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    use agentwrit_core::{ManualClock, Step};

    use super::*;

    /// Waits once (a backoff), unparking the calling thread just before:
    /// a stray wake-up of the kind a caller's own code may leave pending.
    struct Backoff {
        until: Option<SystemTime>,
        resumes: Arc<AtomicUsize>,
    }

    impl Flow for Backoff {
        type Output = ();

        fn name(&self) -> &'static str {
            "backoff"
        }

        fn start(&mut self, now: SystemTime) -> Step<()> {
            let until = now + Duration::from_millis(200);
            self.until = Some(until);
            std::thread::current().unpark();
            Step::Wait { until }
        }

        fn handle_response(&mut self, _: http::Response<Vec<u8>>, _: SystemTime) -> Step<()> {
            Step::Done(Err(Error::invalid_state("no request was sent")))
        }

        fn resume(&mut self, now: SystemTime) -> Step<()> {
            self.resumes.fetch_add(1, Ordering::SeqCst);
            match self.until {
                Some(until) if now < until => Step::Wait { until },
                _ => Step::Done(Ok(())),
            }
        }

        fn handle_transport_failure(
            &mut self,
            _: TransportFailure,
            give_up: Error,
            _: SystemTime,
        ) -> Step<()> {
            Step::Done(Err(give_up))
        }
    }

    #[test]
    fn a_callers_unpark_neither_cuts_a_wait_short_nor_is_swallowed() {
        // A clock that does not move: only a full sleep reaches `until`.
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let settings = ClientSettings::new("http://127.0.0.1:9").with_clock(clock);
        let transport = Transport::new(&settings, None).unwrap();
        let resumes = Arc::new(AtomicUsize::new(0));
        let flow = Backoff {
            until: None,
            resumes: Arc::clone(&resumes),
        };
        transport.drive(flow).unwrap();
        // Woken early, the flow would have been resumed before `until`
        // and asked to wait again.
        assert_eq!(resumes.load(Ordering::SeqCst), 1, "the wait was cut short");
        // The caller's unpark is still pending: its own park returns at
        // once (the bound only keeps a regression from hanging the test).
        let parked = Instant::now();
        std::thread::park_timeout(Duration::from_secs(60));
        assert!(
            parked.elapsed() < Duration::from_secs(30),
            "the SDK consumed the caller's unpark"
        );
    }

    #[test]
    fn the_sdks_own_wake_ends_a_sleep_and_is_consumed() {
        let wake = Wake::default();
        wake.wake();
        assert!(
            !wake.sleep(Duration::from_secs(60)),
            "a pending wake ends the sleep"
        );
        assert!(wake.sleep(Duration::ZERO), "and is consumed by it");
    }
}
