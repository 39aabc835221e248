//! The two transports behind one interface.

use std::fmt::Debug;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::{AccessToken, Claims, DelegationRecord};
use agentwrit_core::wire::{
    AdminSecret, AppResponse, AuditEvent, AuditQuery, CreateAppRequest, HealthResponse,
    LaunchTokenRequest, LaunchTokenResponse, ListAppsResponse, RevocationLevel, RevokeResponse,
    UpdateAppRequest,
};
use agentwrit_core::{AgentOptions, Error, ReleaseOutcome, RetryPolicy, Validation};

/// Adds the TLS material registered for `url` (see
/// [`client_tls`](crate::client_tls)) to a builder of either crate.
macro_rules! with_tls {
    ($builder:expr, $url:expr) => {{
        let mut builder = $builder;
        if let Some(tls) = crate::client_tls($url) {
            if let Some(ca) = &tls.ca_pem {
                builder = builder.add_root_certificate_pem(ca);
            }
            if let Some((cert, key)) = &tls.identity {
                builder = builder.identity_pem(cert, key);
            }
        }
        builder
    }};
}

/// The plain (not async) methods of an agent, the same in both crates:
/// implemented below by calling each crate's inherent methods, so a
/// method missing from one crate, or with another signature, fails to
/// build.
pub trait AgentApi {
    fn agent_id(&self) -> String;
    fn access_token(&self) -> AccessToken;
    fn bearer_header_value(&self) -> Result<http::HeaderValue, Error>;
    fn scope(&self) -> Vec<String>;
    fn allows(&self, required: &[&str]) -> bool;
    fn claims(&self) -> Claims;
    fn expires_at(&self) -> SystemTime;
    fn expires_in(&self) -> Duration;
    fn jti(&self) -> String;
    fn task_id(&self) -> String;
    fn orch_id(&self) -> String;
    fn is_released(&self) -> bool;
    fn start_auto_renewal(&self);
}

/// The plain methods of a delegated token, the same in both crates.
pub trait DelegatedApi {
    fn access_token(&self) -> AccessToken;
    fn bearer_header_value(&self) -> Result<http::HeaderValue, Error>;
    fn subject(&self) -> String;
    fn scope(&self) -> Vec<String>;
    fn allows(&self, required: &[&str]) -> bool;
    fn claims(&self) -> Claims;
    fn expires_in(&self) -> Duration;
    fn expires_at(&self) -> SystemTime;
    fn delegation_chain(&self) -> &[DelegationRecord];
}

macro_rules! plain_api {
    ($agent:ty, $delegated:ty) => {
        impl AgentApi for $agent {
            fn agent_id(&self) -> String {
                <$agent>::agent_id(self)
            }
            fn access_token(&self) -> AccessToken {
                <$agent>::access_token(self)
            }
            fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
                <$agent>::bearer_header_value(self)
            }
            fn scope(&self) -> Vec<String> {
                <$agent>::scope(self)
            }
            fn allows(&self, required: &[&str]) -> bool {
                <$agent>::allows(self, required)
            }
            fn claims(&self) -> Claims {
                <$agent>::claims(self)
            }
            fn expires_at(&self) -> SystemTime {
                <$agent>::expires_at(self)
            }
            fn expires_in(&self) -> Duration {
                <$agent>::expires_in(self)
            }
            fn jti(&self) -> String {
                <$agent>::jti(self)
            }
            fn task_id(&self) -> String {
                <$agent>::task_id(self)
            }
            fn orch_id(&self) -> String {
                <$agent>::orch_id(self)
            }
            fn is_released(&self) -> bool {
                <$agent>::is_released(self)
            }
            fn start_auto_renewal(&self) {
                <$agent>::start_auto_renewal(self)
            }
        }

        impl DelegatedApi for $delegated {
            fn access_token(&self) -> AccessToken {
                <$delegated>::access_token(self)
            }
            fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
                <$delegated>::bearer_header_value(self)
            }
            fn subject(&self) -> String {
                <$delegated>::subject(self)
            }
            fn scope(&self) -> Vec<String> {
                <$delegated>::scope(self)
            }
            fn allows(&self, required: &[&str]) -> bool {
                <$delegated>::allows(self, required)
            }
            fn claims(&self) -> Claims {
                <$delegated>::claims(self)
            }
            fn expires_in(&self) -> Duration {
                <$delegated>::expires_in(self)
            }
            fn expires_at(&self) -> SystemTime {
                <$delegated>::expires_at(self)
            }
            fn delegation_chain(&self) -> &[DelegationRecord] {
                <$delegated>::delegation_chain(self)
            }
        }
    };
}

plain_api!(
    agentwrit_blocking::Agent,
    agentwrit_blocking::DelegatedToken
);
plain_api!(agentwrit_async::Agent, agentwrit_async::DelegatedToken);

/// What a story needs from a transport crate. Each method is one call of
/// the crate's public API.
pub trait Sdk: 'static {
    const NAME: &'static str;
    type App: Clone + Send + Sync + Debug + 'static;
    type Agent: AgentApi + Clone + Send + Sync + Debug + 'static;
    type Delegated: DelegatedApi + Clone + Send + Sync + Debug + 'static;
    type Operator: Clone + Send + Sync + Debug + 'static;

    fn app(url: &str, client_id: &str, secret: &str) -> Result<Self::App, Error>;
    fn app_with_retry(
        url: &str,
        client_id: &str,
        secret: &str,
        retry: RetryPolicy,
    ) -> Result<Self::App, Error>;
    fn create_agent(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> Result<Self::Agent, Error>;
    fn create_agent_with(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
        options: AgentOptions,
    ) -> Result<Self::Agent, Error>;
    fn renew(agent: &Self::Agent) -> Result<(), Error>;
    fn release(agent: &Self::Agent) -> Result<ReleaseOutcome, Error>;
    fn release_task(agent: &Self::Agent) -> Result<ReleaseOutcome, Error>;
    fn release_delegated(token: &Self::Delegated) -> Result<ReleaseOutcome, Error>;
    fn stop_auto_renewal(agent: &Self::Agent) -> Option<Result<u64, Error>>;
    fn delegate(
        agent: &Self::Agent,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error>;
    fn delegate_from(
        token: &Self::Delegated,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error>;
    fn validate(app: &Self::App, token: &str) -> Result<Validation, Error>;
    fn validate_free(url: &str, token: &str) -> Result<Validation, Error>;
    fn health(app: &Self::App) -> Result<HealthResponse, Error>;
    /// `with_agent` whose work returns `Err(work_error)`; gives back the
    /// token the agent held and the error.
    fn with_agent_failing(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> (String, Error);
    /// `with_agent` whose work panics; gives back the token.
    fn with_agent_panicking(app: &Self::App, orch: &str, task: &str, scope: &[&str]) -> String;
    /// `n` concurrent workers (threads or tasks) sharing `app`, each
    /// creating, validating and releasing one agent; their agent ids.
    fn concurrent_lifecycles(app: &Self::App, n: usize) -> Vec<Result<String, Error>>;

    fn operator(url: &str, secret: &AdminSecret) -> Result<Self::Operator, Error>;
    fn create_app(op: &Self::Operator, request: CreateAppRequest) -> Result<AppResponse, Error>;
    fn list_apps(op: &Self::Operator) -> Result<ListAppsResponse, Error>;
    fn get_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error>;
    fn update_app(
        op: &Self::Operator,
        id: &str,
        update: UpdateAppRequest,
    ) -> Result<AppResponse, Error>;
    fn delete_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error>;
    fn admin_launch_token(
        op: &Self::Operator,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error>;
    fn revoke(
        op: &Self::Operator,
        level: RevocationLevel,
        target: &str,
    ) -> Result<RevokeResponse, Error>;
    fn audit_all(op: &Self::Operator, query: AuditQuery) -> Result<Vec<AuditEvent>, Error>;

    /// The jti of the app's cached session token.
    fn app_session_jti(app: &Self::App) -> Option<String>;

    fn operator_create_app(
        url: &str,
        secret: &AdminSecret,
        request: CreateAppRequest,
    ) -> Result<AppResponse, Error> {
        Self::create_app(&Self::operator(url, secret)?, request)
    }
}

/// `agentwrit-blocking`.
pub struct Blocking;

impl Sdk for Blocking {
    fn app_session_jti(app: &Self::App) -> Option<String> {
        let session = app.sansio().session().session()?;
        Some(
            agentwrit_core::decode_claims(&session.access_token)
                .ok()?
                .jti,
        )
    }
    const NAME: &'static str = "blocking";
    type App = agentwrit_blocking::App;
    type Agent = agentwrit_blocking::Agent;
    type Delegated = agentwrit_blocking::DelegatedToken;
    type Operator = agentwrit_blocking::Operator;

    fn app(url: &str, client_id: &str, secret: &str) -> Result<Self::App, Error> {
        with_tls!(agentwrit_blocking::Broker::builder(url), url)
            .build()?
            .app(client_id, secret)
    }
    fn app_with_retry(
        url: &str,
        client_id: &str,
        secret: &str,
        retry: RetryPolicy,
    ) -> Result<Self::App, Error> {
        with_tls!(agentwrit_blocking::Broker::builder(url), url)
            .retry(retry)
            .build()?
            .app(client_id, secret)
    }
    fn create_agent(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> Result<Self::Agent, Error> {
        app.create_agent(orch, task, scope)
    }
    fn create_agent_with(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
        options: AgentOptions,
    ) -> Result<Self::Agent, Error> {
        app.create_agent_with(orch, task, scope, options)
    }
    fn renew(agent: &Self::Agent) -> Result<(), Error> {
        agent.renew()
    }
    fn release(agent: &Self::Agent) -> Result<ReleaseOutcome, Error> {
        agent.release()
    }
    fn release_task(agent: &Self::Agent) -> Result<ReleaseOutcome, Error> {
        agent.release_task()
    }
    fn release_delegated(token: &Self::Delegated) -> Result<ReleaseOutcome, Error> {
        token.release()
    }
    fn stop_auto_renewal(agent: &Self::Agent) -> Option<Result<u64, Error>> {
        agent.stop_auto_renewal()
    }
    fn delegate(
        agent: &Self::Agent,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error> {
        agent.delegate(to, scope, ttl)
    }
    fn delegate_from(
        token: &Self::Delegated,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error> {
        token.delegate(to, scope, ttl)
    }
    fn validate(app: &Self::App, token: &str) -> Result<Validation, Error> {
        app.validate(token)
    }
    fn validate_free(url: &str, token: &str) -> Result<Validation, Error> {
        // The free function has no TLS options: over TLS, a broker of its own.
        match crate::client_tls(url) {
            None => agentwrit_blocking::validate(url, token),
            Some(_) => with_tls!(agentwrit_blocking::Broker::builder(url), url)
                .build()?
                .validate(token),
        }
    }
    fn health(app: &Self::App) -> Result<HealthResponse, Error> {
        app.health()
    }
    fn with_agent_failing(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> (String, Error) {
        let mut seen = String::new();
        let err = app
            .with_agent(orch, task, scope, |agent| {
                seen = agent.access_token().expose_secret().to_owned();
                Err::<(), Error>(Error::invalid_input("work", "failed on purpose"))
            })
            .unwrap_err();
        (seen, err)
    }
    fn with_agent_panicking(app: &Self::App, orch: &str, task: &str, scope: &[&str]) -> String {
        let seen = std::sync::Mutex::new(String::new());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.with_agent(orch, task, scope, |agent| -> Result<(), Error> {
                *seen.lock().unwrap() = agent.access_token().expose_secret().to_owned();
                panic!("work panicked on purpose");
            })
        }));
        assert!(result.is_err(), "the work panicked");
        seen.into_inner().unwrap()
    }
    fn concurrent_lifecycles(app: &Self::App, n: usize) -> Vec<Result<String, Error>> {
        let barrier = std::sync::Barrier::new(n);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (app, barrier) = (app.clone(), &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let agent =
                            app.create_agent("load", &format!("task-{i}"), &["read:data:*"])?;
                        assert!(app.validate(&agent.access_token())?.is_valid());
                        agent.release()?;
                        Ok(agent.agent_id())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    fn operator(url: &str, secret: &AdminSecret) -> Result<Self::Operator, Error> {
        with_tls!(agentwrit_blocking::Broker::builder(url), url)
            .build()?
            .operator(secret.clone())
    }
    fn create_app(op: &Self::Operator, request: CreateAppRequest) -> Result<AppResponse, Error> {
        op.create_app(request)
    }
    fn list_apps(op: &Self::Operator) -> Result<ListAppsResponse, Error> {
        op.list_apps()
    }
    fn get_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error> {
        op.get_app(id)
    }
    fn update_app(
        op: &Self::Operator,
        id: &str,
        update: UpdateAppRequest,
    ) -> Result<AppResponse, Error> {
        op.update_app(id, update)
    }
    fn delete_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error> {
        op.delete_app(id)
    }
    fn admin_launch_token(
        op: &Self::Operator,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error> {
        op.launch_token(request)
    }
    fn revoke(
        op: &Self::Operator,
        level: RevocationLevel,
        target: &str,
    ) -> Result<RevokeResponse, Error> {
        op.revoke(level, target)
    }
    fn audit_all(op: &Self::Operator, query: AuditQuery) -> Result<Vec<AuditEvent>, Error> {
        op.audit_events_all(query)
    }
}

/// `agentwrit-async`, each call run to completion on a shared
/// multi-threaded runtime (the concurrency story spawns real tasks).
pub struct Async;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn on<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

impl Sdk for Async {
    fn app_session_jti(app: &Self::App) -> Option<String> {
        let session = app.sansio().session().session()?;
        Some(
            agentwrit_core::decode_claims(&session.access_token)
                .ok()?
                .jti,
        )
    }
    const NAME: &'static str = "async";
    type App = agentwrit_async::App;
    type Agent = agentwrit_async::Agent;
    type Delegated = agentwrit_async::DelegatedToken;
    type Operator = agentwrit_async::Operator;

    fn app(url: &str, client_id: &str, secret: &str) -> Result<Self::App, Error> {
        with_tls!(agentwrit_async::Broker::builder(url), url)
            .build()?
            .app(client_id, secret)
    }
    fn app_with_retry(
        url: &str,
        client_id: &str,
        secret: &str,
        retry: RetryPolicy,
    ) -> Result<Self::App, Error> {
        with_tls!(agentwrit_async::Broker::builder(url), url)
            .retry(retry)
            .build()?
            .app(client_id, secret)
    }
    fn create_agent(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> Result<Self::Agent, Error> {
        on(app.create_agent(orch, task, scope))
    }
    fn create_agent_with(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
        options: AgentOptions,
    ) -> Result<Self::Agent, Error> {
        // Inside the runtime, so that auto-renewal can spawn its task.
        on(app.create_agent_with(orch, task, scope, options))
    }
    fn renew(agent: &Self::Agent) -> Result<(), Error> {
        on(agent.renew())
    }
    fn release(agent: &Self::Agent) -> Result<ReleaseOutcome, Error> {
        on(agent.release())
    }
    fn release_task(agent: &Self::Agent) -> Result<ReleaseOutcome, Error> {
        on(agent.release_task())
    }
    fn release_delegated(token: &Self::Delegated) -> Result<ReleaseOutcome, Error> {
        on(token.release())
    }
    fn stop_auto_renewal(agent: &Self::Agent) -> Option<Result<u64, Error>> {
        on(agent.stop_auto_renewal())
    }
    fn delegate(
        agent: &Self::Agent,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error> {
        on(agent.delegate(to, scope, ttl))
    }
    fn delegate_from(
        token: &Self::Delegated,
        to: &str,
        scope: &[&str],
        ttl: Option<Duration>,
    ) -> Result<Self::Delegated, Error> {
        on(token.delegate(to, scope, ttl))
    }
    fn validate(app: &Self::App, token: &str) -> Result<Validation, Error> {
        on(app.validate(token))
    }
    fn validate_free(url: &str, token: &str) -> Result<Validation, Error> {
        // The free function has no TLS options: over TLS, a broker of its own.
        match crate::client_tls(url) {
            None => on(agentwrit_async::validate(url, token)),
            Some(_) => on(with_tls!(agentwrit_async::Broker::builder(url), url)
                .build()?
                .validate(token)),
        }
    }
    fn health(app: &Self::App) -> Result<HealthResponse, Error> {
        on(app.health())
    }
    fn with_agent_failing(
        app: &Self::App,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> (String, Error) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let inner = seen.clone();
        let err = on(app.with_agent(orch, task, scope, async |agent| {
            *inner.lock().unwrap() = agent.access_token().expose_secret().to_owned();
            Err::<(), Error>(Error::invalid_input("work", "failed on purpose"))
        }))
        .unwrap_err();
        let token = seen.lock().unwrap().clone();
        (token, err)
    }
    fn with_agent_panicking(app: &Self::App, orch: &str, task: &str, scope: &[&str]) -> String {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let inner = seen.clone();
        let (app, orch, task) = (app.clone(), orch.to_owned(), task.to_owned());
        let scope: Vec<String> = scope.iter().map(|s| (*s).to_owned()).collect();
        // Run in a task so the panic is caught by the runtime; the guard's
        // drop spawns the release on the same runtime.
        let joined = on(async move {
            tokio::spawn(async move {
                app.with_agent(&orch, &task, &scope, async |agent| {
                    *inner.lock().unwrap() = agent.access_token().expose_secret().to_owned();
                    if !agent.agent_id().is_empty() {
                        panic!("work panicked on purpose");
                    }
                    Ok::<(), Error>(())
                })
                .await
            })
            .await
        });
        assert!(joined.is_err(), "the work panicked");
        seen.lock().unwrap().clone()
    }
    fn concurrent_lifecycles(app: &Self::App, n: usize) -> Vec<Result<String, Error>> {
        on(async {
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let (app, barrier) = (app.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let agent = app
                            .create_agent("load", &format!("task-{i}"), &["read:data:*"])
                            .await?;
                        assert!(app.validate(&agent.access_token()).await?.is_valid());
                        agent.release().await?;
                        Ok(agent.agent_id())
                    })
                })
                .collect();
            let mut ids = Vec::new();
            for t in tasks {
                ids.push(t.await.unwrap());
            }
            ids
        })
    }

    fn operator(url: &str, secret: &AdminSecret) -> Result<Self::Operator, Error> {
        with_tls!(agentwrit_async::Broker::builder(url), url)
            .build()?
            .operator(secret.clone())
    }
    fn create_app(op: &Self::Operator, request: CreateAppRequest) -> Result<AppResponse, Error> {
        on(op.create_app(request))
    }
    fn list_apps(op: &Self::Operator) -> Result<ListAppsResponse, Error> {
        on(op.list_apps())
    }
    fn get_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error> {
        on(op.get_app(id))
    }
    fn update_app(
        op: &Self::Operator,
        id: &str,
        update: UpdateAppRequest,
    ) -> Result<AppResponse, Error> {
        on(op.update_app(id, update))
    }
    fn delete_app(op: &Self::Operator, id: &str) -> Result<AppResponse, Error> {
        on(op.delete_app(id))
    }
    fn admin_launch_token(
        op: &Self::Operator,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error> {
        on(op.launch_token(request))
    }
    fn revoke(
        op: &Self::Operator,
        level: RevocationLevel,
        target: &str,
    ) -> Result<RevokeResponse, Error> {
        on(op.revoke(level, target))
    }
    fn audit_all(op: &Self::Operator, query: AuditQuery) -> Result<Vec<AuditEvent>, Error> {
        on(op.audit_events_all(query))
    }
}
