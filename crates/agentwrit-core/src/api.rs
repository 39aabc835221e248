//! The transports' public methods, written once.
//!
//! `agentwrit-blocking` and `agentwrit-async` expose the same API; only
//! the driver loop differs (a thread that blocks, a future that awaits).
//! Rather than writing every wrapper twice, each transport invokes
//! [`__transport_api!`](crate::__transport_api) with its flavour: the
//! `async` keyword or nothing, `.await` or nothing, and its HTTP client
//! type. The macro expands to methods on the transport's own `App`,
//! `Agent`, `AgentGuard`, `DelegatedToken`, `Operator` and `Validator`,
//! each a one-line drive of a core flow.
//!
//! What a transport writes itself: the type definitions with their
//! examples, the driver loop, the HTTP client, and the few methods whose
//! shape depends on the runtime (`App::with_agent`, auto-renewal, the
//! guard's `Drop`, the free `validate` with its pool).

/// Expands to the shared methods of a transport crate (see the module
/// docs of `api`). Not a public API: its contract is with the two
/// transport crates of this workspace.
#[doc(hidden)]
#[macro_export]
macro_rules! __transport_api {
    ([$($async:tt)?] [$($await:tt)*] $client:ty) => {
        /// A configured HTTP client and the clock: what every call needs.
        #[derive(Clone, Debug)]
        pub(crate) struct Transport {
            pub(crate) config: $crate::ClientConfig,
            pub(crate) client: $client,
            pub(crate) clock: std::sync::Arc<dyn $crate::Clock>,
        }

        impl Transport {
            /// The transport for a client built from `parts`.
            pub(crate) fn new<K>(
                config: $crate::ClientConfig,
                parts: &$crate::Parts<K, $client>,
            ) -> Result<Self, Error> {
                let client = match &parts.http_client {
                    Some(client) => client.clone(),
                    None => http_client(parts.timeout, parts.connect_timeout)?,
                };
                Ok(Transport {
                    config,
                    client,
                    clock: std::sync::Arc::clone(&parts.clock),
                })
            }

            /// The transport of a validator: default timeouts, the system
            /// clock.
            pub(crate) fn for_validation(config: $crate::ClientConfig, client: $client) -> Self {
                Transport {
                    config,
                    client,
                    clock: std::sync::Arc::new($crate::SystemClock),
                }
            }
        }

        struct AgentInner {
            app: App,
            shared: $crate::SharedAgent,
            renewer: std::sync::Mutex<Option<Renewer>>,
        }

        impl $crate::FromParts<$client> for App {
            type Core = $crate::AppCore;
            fn from_parts(parts: $crate::Parts<$crate::AppCore, $client>) -> Result<App, Error> {
                let transport = Transport::new(parts.core.config().clone(), &parts)?;
                Ok(App {
                    core: parts.core,
                    transport,
                })
            }
        }

        impl App {
            /// The app `client_id` at `broker_url`, with default settings.
            ///
            /// # Errors
            ///
            /// As [`ClientBuilder::build`](crate::ClientBuilder::build).
            pub fn new(
                broker_url: &str,
                client_id: &str,
                client_secret: impl Into<$crate::wire::ClientSecret>,
            ) -> Result<App, Error> {
                Self::builder(broker_url, client_id, client_secret).build()
            }

            /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID`
            /// and `AGENTWRIT_CLIENT_SECRET`.
            ///
            /// # Errors
            ///
            /// `InvalidInput` naming the first variable unset or empty.
            pub fn from_env() -> Result<App, Error> {
                let (url, id, secret) = $crate::app_settings_from(|k| std::env::var(k).ok())?;
                Self::new(url.as_str(), &id, secret)
            }

            /// A builder for the app `client_id` at `broker_url`.
            pub fn builder(
                broker_url: &str,
                client_id: &str,
                client_secret: impl Into<$crate::wire::ClientSecret>,
            ) -> AppBuilder {
                AppBuilder::new(broker_url, (client_id.to_owned(), client_secret.into()))
            }

            /// The broker's base URL.
            #[must_use]
            pub fn broker_url(&self) -> &str {
                self.transport.config.broker().as_str()
            }

            /// The app's client id.
            #[must_use]
            pub fn client_id(&self) -> &str {
                self.core.client_id()
            }

            /// The sans-IO core of this app: its configuration and the
            /// session shared by its clones (for inspection, and for
            /// driving core flows yourself).
            #[must_use]
            pub fn core(&self) -> &$crate::AppCore {
                &self.core
            }

            /// Creates an agent for `task_id` of `orch_id`, holding `scope`
            /// (within the app's ceiling), with a fresh Ed25519 key and a
            /// 300 s token.
            ///
            /// # Errors
            ///
            /// `InvalidInput` before anything is sent for an empty id or a
            /// bad scope; the broker's rejection (e.g. 403 for a scope
            /// beyond the ceiling) or a transport failure.
            pub $($async)? fn create_agent<S: AsRef<str>>(
                &self,
                orch_id: &str,
                task_id: &str,
                scope: &[S],
            ) -> Result<Agent, Error> {
                self.create_agent_with(orch_id, task_id, scope, $crate::AgentOptions::new()) $($await)*
            }

            /// [`App::create_agent`] with options: your own key, a TTL, a
            /// label, auto-renewal.
            ///
            /// # Errors
            ///
            /// As [`App::create_agent`].
            pub $($async)? fn create_agent_with<S: AsRef<str>>(
                &self,
                orch_id: &str,
                task_id: &str,
                scope: &[S],
                options: $crate::AgentOptions,
            ) -> Result<Agent, Error> {
                let mut rng = rand_core::OsRng;
                let flow = self.core.create_agent(orch_id, task_id, scope, &options, &mut rng)?;
                let credentials = self.transport.drive(flow) $($await)* ?;
                let agent = Agent::new(self.clone(), $crate::SharedAgent::new(credentials));
                if options.get_auto_renew() {
                    agent.start_auto_renewal();
                }
                Ok(agent)
            }

            /// Mints a launch token (for an agent registered by other
            /// means, e.g. another SDK).
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn launch_token(
                &self,
                request: $crate::wire::LaunchTokenRequest,
            ) -> Result<$crate::wire::LaunchTokenResponse, Error> {
                self.transport.drive(self.core.launch_token(request)?) $($await)*
            }

            /// Validates `token` at the broker. An invalid token is
            /// `Ok(Validation::Invalid { .. })`, not an error.
            ///
            /// # Errors
            ///
            /// An empty token, a broker failure or a transport failure.
            pub $($async)? fn validate(&self, token: &str) -> Result<$crate::Validation, Error> {
                let flow = self.core.validate(&$crate::wire::AccessToken::new(token))?;
                self.transport.drive(flow) $($await)*
            }

            /// The broker's health.
            ///
            /// # Errors
            ///
            /// A broker failure or a transport failure.
            pub $($async)? fn health(&self) -> Result<$crate::wire::HealthResponse, Error> {
                self.transport.drive(self.core.health()) $($await)*
            }
        }

        impl std::ops::Deref for Agent {
            type Target = $crate::SharedAgent;
            /// The agent's state: id, token, scope, expiry, jti, claims.
            fn deref(&self) -> &$crate::SharedAgent {
                &self.inner.shared
            }
        }

        impl std::fmt::Debug for Agent {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.inner.shared, f)
            }
        }

        impl Agent {
            fn new(app: App, shared: $crate::SharedAgent) -> Agent {
                Agent {
                    inner: std::sync::Arc::new(AgentInner {
                        app,
                        shared,
                        renewer: std::sync::Mutex::new(None),
                    }),
                }
            }

            fn transport(&self) -> &Transport {
                &self.inner.app.transport
            }

            fn renewer(&self) -> std::sync::MutexGuard<'_, Option<Renewer>> {
                self.inner
                    .renewer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            }

            /// Renews the token in place: same agent id, new token and
            /// jti; the old token is dead at once.
            ///
            /// # Errors
            ///
            /// `Released` without a request once released; the broker's
            /// rejection or a transport failure.
            pub $($async)? fn renew(&self) -> Result<(), Error> {
                let flow = self.inner.shared.renew_flow(&self.transport().config)?;
                self.transport().drive(flow) $($await)*
            }

            /// Releases the token. Idempotent: once released, nothing is
            /// sent. A 401 from the broker means the token was already dead
            /// (released, renewed, revoked, expired) and counts as
            /// released: [`ReleaseOutcome::AlreadyDead`](crate::ReleaseOutcome::AlreadyDead).
            /// Stops auto-renewal.
            ///
            /// # Errors
            ///
            /// A broker failure other than 401, or a transport failure; the
            /// agent then stays unreleased and `release` may be called
            /// again.
            pub $($async)? fn release(&self) -> Result<$crate::ReleaseOutcome, Error> {
                let flow = self.inner.shared.release_flow(&self.transport().config);
                let outcome = self.transport().drive(flow) $($await)*;
                if let Some(renewer) = self.renewer().as_ref() {
                    renewer.wake();
                }
                outcome
            }

            /// Delegates `scope` (equal to or narrower than the agent's) to
            /// the registered agent `delegate_to` for `ttl` seconds (broker
            /// default 60).
            ///
            /// # Errors
            ///
            /// `Released` once released; 403 `scope_violation` beyond the
            /// agent's scope; 404 for an unknown delegate.
            pub $($async)? fn delegate<S: AsRef<str>>(
                &self,
                delegate_to: &str,
                scope: &[S],
                ttl: Option<i64>,
            ) -> Result<DelegatedToken, Error> {
                let config = &self.transport().config;
                let flow = self.inner.shared.delegate_flow(config, delegate_to, scope, ttl)?;
                DelegatedToken::drive(self.inner.app.clone(), flow) $($await)*
            }

            /// Renews the token in the background at 80 % of each lifetime
            /// until the agent is released or its last clone dropped.
            /// Calling it again while it runs does nothing.
            pub fn start_auto_renewal(&self) {
                let mut slot = self.renewer();
                if slot.as_ref().is_some_and(|r| !r.is_finished()) {
                    return;
                }
                let flow = self.inner.shared.auto_renew_flow(&self.transport().config);
                *slot = Renewer::spawn(self.transport().clone(), flow);
            }

            /// Stops auto-renewal and returns how many renewals it made, or
            /// the error that stopped it; `None` when it was not running. A
            /// renewal in flight completes (and is installed) first.
            pub $($async)? fn stop_auto_renewal(&self) -> Option<Result<u64, Error>> {
                self.inner.shared.stop_auto_renewal();
                let renewer = self.renewer().take()?;
                renewer.wake();
                Some(renewer.join() $($await)*)
            }

            /// A guard that releases the agent when dropped (also during a
            /// panic); [`AgentGuard::release`] releases now and reports the
            /// outcome.
            pub fn release_on_drop(self) -> AgentGuard {
                AgentGuard { agent: self }
            }
        }

        impl Drop for AgentInner {
            fn drop(&mut self) {
                self.shared.stop_auto_renewal();
                let slot = self
                    .renewer
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(renewer) = slot.as_ref() {
                    renewer.wake();
                }
            }
        }

        impl AgentGuard {
            /// Releases now and reports the outcome.
            ///
            /// # Errors
            ///
            /// As [`Agent::release`].
            pub $($async)? fn release(&self) -> Result<$crate::ReleaseOutcome, Error> {
                self.agent.release() $($await)*
            }
        }

        impl std::ops::Deref for AgentGuard {
            type Target = Agent;
            fn deref(&self) -> &Agent {
                &self.agent
            }
        }

        impl std::ops::Deref for DelegatedToken {
            type Target = $crate::DelegatedToken;
            fn deref(&self) -> &$crate::DelegatedToken {
                &self.token
            }
        }

        impl DelegatedToken {
            $($async)? fn drive(app: App, flow: $crate::Delegate) -> Result<DelegatedToken, Error> {
                let token = app.transport.drive(flow) $($await)* ?;
                Ok(DelegatedToken { app, token })
            }

            /// Delegates onwards from this token (A → B → C).
            ///
            /// # Errors
            ///
            /// As [`Agent::delegate`]; 403 beyond five hops.
            pub $($async)? fn delegate<S: AsRef<str>>(
                &self,
                delegate_to: &str,
                scope: &[S],
                ttl: Option<i64>,
            ) -> Result<DelegatedToken, Error> {
                let config = &self.app.transport.config;
                let flow = self.token.delegate_flow(config, delegate_to, scope, ttl)?;
                Self::drive(self.app.clone(), flow) $($await)*
            }

            /// Releases this token (a 401 counts as already dead).
            ///
            /// # Errors
            ///
            /// A broker failure other than 401, or a transport failure.
            pub $($async)? fn release(&self) -> Result<$crate::ReleaseOutcome, Error> {
                let flow = self.token.release_flow(&self.app.transport.config)?;
                self.app.transport.drive(flow) $($await)*
            }
        }

        impl $crate::FromParts<$client> for Operator {
            type Core = $crate::OperatorCore;
            fn from_parts(
                parts: $crate::Parts<$crate::OperatorCore, $client>,
            ) -> Result<Operator, Error> {
                let transport = Transport::new(parts.core.config().clone(), &parts)?;
                Ok(Operator {
                    core: parts.core,
                    transport,
                })
            }
        }

        impl Operator {
            /// The operator of the broker at `broker_url`.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a bad URL or an empty secret.
            pub fn new(
                broker_url: &str,
                admin_secret: impl Into<$crate::wire::AdminSecret>,
            ) -> Result<Operator, Error> {
                Self::builder(broker_url, admin_secret).build()
            }

            /// A builder.
            pub fn builder(
                broker_url: &str,
                admin_secret: impl Into<$crate::wire::AdminSecret>,
            ) -> OperatorBuilder {
                OperatorBuilder::new(broker_url, admin_secret.into())
            }

            /// Registers an app; the answer holds its client secret, shown
            /// once.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a bad name, scope or TTL; the broker's
            /// rejection.
            pub $($async)? fn create_app(
                &self,
                request: $crate::wire::CreateAppRequest,
            ) -> Result<$crate::wire::AppResponse, Error> {
                self.transport.drive(self.core.create_app(request)?) $($await)*
            }

            /// Every app.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn list_apps(&self) -> Result<$crate::wire::ListAppsResponse, Error> {
                self.transport.drive(self.core.list_apps()?) $($await)*
            }

            /// One app (404 when unknown).
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn get_app(&self, app_id: &str) -> Result<$crate::wire::AppResponse, Error> {
                self.transport.drive(self.core.get_app(app_id)?) $($await)*
            }

            /// Changes an app's ceiling and/or token TTL.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn update_app(
                &self,
                app_id: &str,
                update: $crate::wire::UpdateAppRequest,
            ) -> Result<$crate::wire::AppResponse, Error> {
                self.transport.drive(self.core.update_app(app_id, update)?) $($await)*
            }

            /// Deregisters an app.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn delete_app(&self, app_id: &str) -> Result<$crate::wire::AppResponse, Error> {
                self.transport.drive(self.core.delete_app(app_id)?) $($await)*
            }

            /// Mints a launch token with admin authority.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn launch_token(
                &self,
                request: $crate::wire::LaunchTokenRequest,
            ) -> Result<$crate::wire::LaunchTokenResponse, Error> {
                self.transport.drive(self.core.launch_token(request)?) $($await)*
            }

            /// Revokes a token (jti), an agent (SPIFFE id), a task or a
            /// chain.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn revoke(
                &self,
                level: $crate::wire::RevocationLevel,
                target: &str,
            ) -> Result<$crate::wire::RevokeResponse, Error> {
                self.transport.drive(self.core.revoke(level, target)?) $($await)*
            }

            /// One page of audit events.
            ///
            /// # Errors
            ///
            /// The broker's rejection or a transport failure.
            pub $($async)? fn audit_events(
                &self,
                query: $crate::wire::AuditQuery,
            ) -> Result<$crate::wire::AuditEventsResponse, Error> {
                self.transport.drive(self.core.audit_events(query)?) $($await)*
            }

            /// Every audit event matching `query`, page after page.
            ///
            /// # Errors
            ///
            /// As [`Operator::audit_events`].
            pub $($async)? fn audit_events_all(
                &self,
                query: $crate::wire::AuditQuery,
            ) -> Result<Vec<$crate::wire::AuditEvent>, Error> {
                let mut events = Vec::new();
                let mut next = Some(query);
                while let Some(query) = next {
                    let page = self.audit_events(query.clone()) $($await)* ?;
                    next = $crate::next_audit_page(&query, &page);
                    events.extend(page.events);
                }
                Ok(events)
            }
        }

        impl Validator {
            /// A validator for the broker at `broker_url`, with its own
            /// connection pool.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a bad URL.
            pub fn new(broker_url: &str) -> Result<Validator, Error> {
                let client = http_client($crate::DEFAULT_TIMEOUT, $crate::DEFAULT_CONNECT_TIMEOUT)?;
                Self::with_client(broker_url, client)
            }

            /// A validator using your HTTP client.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a bad URL.
            pub fn with_client(broker_url: &str, client: $client) -> Result<Validator, Error> {
                let config = $crate::ClientConfig::new($crate::BrokerUrl::parse(broker_url)?);
                Ok(Validator {
                    transport: Transport::for_validation(config, client),
                })
            }

            /// Validates `token`: what a downstream service calls on every
            /// request before gating it with `scope_is_subset`. An invalid
            /// token is `Ok(Validation::Invalid { .. })`.
            ///
            /// # Errors
            ///
            /// An empty token, a broker failure or a transport failure.
            pub $($async)? fn validate(&self, token: &str) -> Result<$crate::Validation, Error> {
                let flow = $crate::Validate::new(
                    &self.transport.config,
                    &$crate::wire::AccessToken::new(token),
                )?;
                self.transport.drive(flow) $($await)*
            }
        }
    };
}
