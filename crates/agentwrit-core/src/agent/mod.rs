//! Agents: the create-agent ceremony, renew, release and delegate, and the
//! per-agent state the transports keep.

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentwrit_wire::{
    AccessToken, ChallengeResponse, Claims, DelegateRequest, DelegateResponse, DelegationRecord,
    LaunchToken, LaunchTokenRequest, LaunchTokenResponse, RegisterRequest, RegisterResponse,
    RenewResponse, paths,
};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::input;
use crate::keys::AgentKey;
use crate::request::{Spec, check_token};
use crate::response::Reply;
use crate::sync::lock;
use crate::token::{decode_claims, from_unix_seconds};

/// The agent token lifetime asked for when none is given: 300 s.
pub const DEFAULT_MAX_TTL: i64 = 300;

/// A token the broker just issued, with what its claims say.
#[derive(Clone, Debug)]
struct Issued {
    access_token: AccessToken,
    expires_in: i64,
    expires_at: SystemTime,
    received_at: SystemTime,
    claims: Claims,
}

/// Checks a freshly issued token and reads its claims. `expires_at` comes
/// from the `exp` claim (the broker's clock); when the claim is missing,
/// from `now + expires_in`.
fn issued(
    reply: &Reply<'_>,
    access_token: AccessToken,
    expires_in: i64,
    now: SystemTime,
) -> Result<Issued, Error> {
    if check_token("access_token", &access_token).is_err() {
        return Err(reply.malformed("access_token is empty or not a valid header value"));
    }
    if expires_in <= 0 {
        return Err(reply.malformed("expires_in must be a positive number of seconds"));
    }
    let claims = decode_claims(&access_token).map_err(|e| match e {
        Error::Decode { message, .. } => reply.malformed(message),
        other => other,
    })?;
    let expires_at = if claims.exp > 0 {
        from_unix_seconds(claims.exp)
    } else {
        now.checked_add(Duration::from_secs(expires_in.unsigned_abs()))
            .unwrap_or(now)
    };
    Ok(Issued {
        access_token,
        expires_in,
        expires_at,
        received_at: now,
        claims,
    })
}

// ------------------------------------------------------------ create agent --

/// What [`CreateAgent`] needs: who the agent works for, what it may do,
/// and its key.
///
/// ```
/// use agentwrit_core::{AgentKey, CreateAgentRequest};
///
/// let request = CreateAgentRequest::new("conf-orch", "conf-task", ["read:data:*"], AgentKey::from_seed([1; 32]))
///     .with_label("nightly-report")
///     .with_max_ttl(600);
/// assert_eq!(request.agent_name(), "nightly-report");
/// assert_eq!(request.max_ttl(), 600);
/// ```
#[derive(Clone, Debug)]
pub struct CreateAgentRequest {
    orch_id: String,
    task_id: String,
    scope: Vec<String>,
    label: Option<String>,
    max_ttl: i64,
    key: AgentKey,
}

impl CreateAgentRequest {
    /// An agent for task `task_id` of orchestrator `orch_id`, asking for
    /// `scope`, proving possession of `key`. The launch token's
    /// `agent_name` defaults to `orch_id/task_id` and `max_ttl` to 300 s.
    pub fn new<I, S>(
        orch_id: impl Into<String>,
        task_id: impl Into<String>,
        scope: I,
        key: AgentKey,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CreateAgentRequest {
            orch_id: orch_id.into(),
            task_id: task_id.into(),
            scope: scope.into_iter().map(Into::into).collect(),
            label: None,
            max_ttl: DEFAULT_MAX_TTL,
            key,
        }
    }

    /// Names the launch token (`agent_name`) for the audit trail.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The agent token's lifetime in seconds (the broker caps it at its
    /// maximum, 86400 by default).
    #[must_use]
    pub fn with_max_ttl(mut self, seconds: i64) -> Self {
        self.max_ttl = seconds;
        self
    }

    /// The launch token's `agent_name`: the label, or `orch_id/task_id`.
    #[must_use]
    pub fn agent_name(&self) -> String {
        match &self.label {
            Some(label) => label.clone(),
            None => format!("{}/{}", self.orch_id, self.task_id),
        }
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> &str {
        &self.orch_id
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The requested scope.
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.scope
    }

    /// The requested lifetime.
    #[must_use]
    pub fn max_ttl(&self) -> i64 {
        self.max_ttl
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        input::spiffe_segment("orch_id", &self.orch_id)?;
        input::spiffe_segment("task_id", &self.task_id)?;
        input::scopes("scope", &self.scope)?;
        if let Some(label) = &self.label {
            input::non_empty("label", label)?;
        }
        input::positive_seconds("max_ttl", self.max_ttl)
    }
}

/// A registered agent's credentials, as the broker issued them.
///
/// Scope, expiry, jti, task and orch are read from the issued token's
/// claims, not from the request (the broker decides what was granted).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentCredentials {
    /// The agent's SPIFFE id,
    /// `spiffe://{trust_domain}/agent/{orch}/{task}/{16 hex}`.
    pub agent_id: String,
    /// The agent token.
    pub access_token: AccessToken,
    /// Lifetime granted, in seconds.
    pub expires_in: i64,
    /// When the token expires: its `exp` claim (the broker's clock).
    pub expires_at: SystemTime,
    /// When the token arrived (local clock); renewal is scheduled from it.
    pub received_at: SystemTime,
    /// The token's claims.
    pub claims: Claims,
    /// The agent's key.
    pub key: AgentKey,
    /// The orchestrator id (the `orch_id` claim, else the requested one).
    pub orch_id: String,
    /// The task id (the `task_id` claim, else the requested one).
    pub task_id: String,
}

#[derive(Debug)]
// Lives for one step of one ceremony: no need to box.
#[allow(clippy::large_enum_variant)]
enum Stage {
    LaunchToken(LaunchTokenResponse),
    Challenge(ChallengeResponse),
    Registered(RegisterResponse, Issued),
}

#[derive(Debug)]
enum Phase {
    LaunchToken,
    Challenge { launch_token: LaunchToken },
    Register,
    Finished,
}

/// The create-agent ceremony:
///
/// 1. `POST /v1/app/launch-tokens` with the app's bearer token:
///    `{"agent_name", "allowed_scope", "max_ttl", "single_use": true}`;
/// 2. `GET /v1/challenge` for a nonce;
/// 3. sign the hex-decoded nonce with the agent key;
/// 4. `POST /v1/register` with the launch token, nonce, public key,
///    signature, orch, task and requested scope.
///
/// The output's scope, expiry, jti, task and orch come from the issued
/// token's claims. Each request has its own retry budget; only the
/// challenge (a read) is retried after an ambiguous transport failure.
///
/// ```
/// use agentwrit_core::{AgentKey, ClientConfig, CreateAgent, CreateAgentRequest, Error};
/// use agentwrit_wire::AccessToken;
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
/// let app_token = AccessToken::new("eyJ.app.token");
/// let bad = CreateAgentRequest::new("orch", "task", ["read:data:*", "read:data:"], AgentKey::from_seed([1; 32]));
/// let err = CreateAgent::new(&config, &app_token, bad).unwrap_err();
/// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "scope[1]"));
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[must_use = "a flow does nothing until a transport drives it"]
pub struct CreateAgent {
    config: ClientConfig,
    request: CreateAgentRequest,
    call: Call<Stage>,
    phase: Phase,
}

impl fmt::Debug for CreateAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateAgent")
            .field("orch_id", &self.request.orch_id)
            .field("task_id", &self.request.task_id)
            .field("step", &self.name())
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl CreateAgent {
    /// Creates an agent under the app whose bearer token is `app_token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the culprit, before anything is
    /// sent: an orch or task id that is empty or not a SPIFFE path segment,
    /// an empty scope list, an invalid scope (`scope[i]`), an empty label,
    /// a non-positive `max_ttl`, or an empty app token.
    pub fn new(
        config: &ClientConfig,
        app_token: &AccessToken,
        request: CreateAgentRequest,
    ) -> Result<Self, Error> {
        request.validate()?;
        check_token("app_token", app_token)?;
        let body = LaunchTokenRequest::new(request.agent_name(), request.scope.clone())
            .with_max_ttl(request.max_ttl)
            .with_single_use(true);
        let prepared = Spec::post(paths::APP_LAUNCH_TOKENS)
            .bearer(app_token)
            .json(&body)?
            .prepare(config);
        let call = Call::new(
            "create_agent.launch_token",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| {
                let reply = outcome?;
                let r: LaunchTokenResponse = reply.json()?;
                if r.launch_token.is_empty() {
                    return Err(reply.malformed("launch_token is empty"));
                }
                Ok(Stage::LaunchToken(r))
            },
        );
        Ok(CreateAgent {
            config: config.clone(),
            request,
            call,
            phase: Phase::LaunchToken,
        })
    }

    /// Feeds a step of the current request through: finished requests
    /// advance the ceremony.
    fn advance(&mut self, step: Step<Stage>, now: SystemTime) -> Step<AgentCredentials> {
        match step {
            Step::Send(request) => Step::Send(request),
            Step::Wait { until } => Step::Wait { until },
            Step::Done(Err(e)) => self.finish(Err(e)),
            Step::Done(Ok(stage)) => self.next(stage, now),
        }
    }

    fn finish(&mut self, result: Result<AgentCredentials, Error>) -> Step<AgentCredentials> {
        self.phase = Phase::Finished;
        Step::Done(result)
    }

    fn next(&mut self, stage: Stage, now: SystemTime) -> Step<AgentCredentials> {
        let phase = core::mem::replace(&mut self.phase, Phase::Finished);
        match (phase, stage) {
            (Phase::LaunchToken, Stage::LaunchToken(r)) => {
                self.phase = Phase::Challenge {
                    launch_token: r.launch_token,
                };
                self.call = Call::new(
                    "create_agent.challenge",
                    &self.config,
                    Spec::get(paths::CHALLENGE).prepare(&self.config),
                    Idempotency::Idempotent,
                    |outcome, _| Ok(Stage::Challenge(outcome?.json()?)),
                );
                let step = self.call.start(now);
                self.advance(step, now)
            }
            (Phase::Challenge { launch_token }, Stage::Challenge(challenge)) => {
                let key = &self.request.key;
                let signature = match key.sign_nonce(&challenge.nonce) {
                    Ok(s) => s,
                    Err(e) => return self.finish(Err(e)),
                };
                let body = RegisterRequest::new(
                    launch_token,
                    challenge.nonce,
                    key.public_key_base64(),
                    signature,
                    self.request.orch_id.clone(),
                    self.request.task_id.clone(),
                    self.request.scope.clone(),
                );
                let prepared = match Spec::post(paths::REGISTER).json(&body) {
                    Ok(spec) => spec.prepare(&self.config),
                    Err(e) => Err(e),
                };
                self.phase = Phase::Register;
                self.call = Call::new(
                    "create_agent.register",
                    &self.config,
                    prepared,
                    Idempotency::NotIdempotent,
                    |outcome, ctx| {
                        let reply = outcome?;
                        let r: RegisterResponse = reply.json()?;
                        if r.agent_id.is_empty() {
                            return Err(reply.malformed("agent_id is empty"));
                        }
                        let issued = issued(&reply, r.access_token.clone(), r.expires_in, ctx.now)?;
                        Ok(Stage::Registered(r, issued))
                    },
                );
                let step = self.call.start(now);
                self.advance(step, now)
            }
            (Phase::Register, Stage::Registered(r, issued)) => {
                let claims = issued.claims;
                let credentials = AgentCredentials {
                    agent_id: r.agent_id,
                    access_token: issued.access_token,
                    expires_in: issued.expires_in,
                    expires_at: issued.expires_at,
                    received_at: issued.received_at,
                    orch_id: claims
                        .orch_id
                        .clone()
                        .unwrap_or_else(|| self.request.orch_id.clone()),
                    task_id: claims
                        .task_id
                        .clone()
                        .unwrap_or_else(|| self.request.task_id.clone()),
                    claims,
                    key: self.request.key.clone(),
                };
                self.finish(Ok(credentials))
            }
            _ => self.finish(Err(Error::invalid_state("create_agent stage mismatch"))),
        }
    }
}

impl Flow for CreateAgent {
    type Output = AgentCredentials;

    fn name(&self) -> &'static str {
        match self.phase {
            Phase::Finished => "create_agent",
            _ => self.call.name(),
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<AgentCredentials> {
        let step = self.call.start(now);
        self.advance(step, now)
    }

    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<AgentCredentials> {
        let step = self.call.handle_response(response, now);
        self.advance(step, now)
    }

    fn resume(&mut self, now: SystemTime) -> Step<AgentCredentials> {
        let step = self.call.resume(now);
        self.advance(step, now)
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<AgentCredentials>> {
        match self.call.handle_transport_error(failure, now) {
            Some(step) => Some(self.advance(step, now)),
            None => {
                self.phase = Phase::Finished;
                None
            }
        }
    }
}

// ------------------------------------------------------------------ renew --

/// A renewed token (from [`Renew`]): same agent, same scope and lifetime,
/// new jti; the previous token is revoked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Renewal {
    /// The new token.
    pub access_token: AccessToken,
    /// Lifetime in seconds (the old token's).
    pub expires_in: i64,
    /// Its `exp` claim.
    pub expires_at: SystemTime,
    /// When it arrived (local clock).
    pub received_at: SystemTime,
    /// Its claims.
    pub claims: Claims,
}

call_flow!(
    /// `POST /v1/token/renew` (Bearer, no body): a fresh token with the
    /// same subject, scope and lifetime; the presented token is revoked
    /// first. A dead token gets [`Error::Authentication`].
    ///
    /// Not retried after an ambiguous transport failure: the broker may
    /// have revoked the old token already.
    Renew -> Renewal
);

impl Renew {
    /// Renews `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the token is empty or not header-safe.
    pub fn new(config: &ClientConfig, token: &AccessToken) -> Result<Self, Error> {
        check_token("access_token", token)?;
        Ok(Self::unchecked(config, token))
    }

    fn unchecked(config: &ClientConfig, token: &AccessToken) -> Self {
        let prepared = Spec::post(paths::RENEW).bearer(token).prepare(config);
        Renew(Call::new(
            "renew",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: RenewResponse = reply.json()?;
                let i = issued(&reply, r.access_token, r.expires_in, ctx.now)?;
                Ok(Renewal {
                    access_token: i.access_token,
                    expires_in: i.expires_in,
                    expires_at: i.expires_at,
                    received_at: i.received_at,
                    claims: i.claims,
                })
            },
        ))
    }
}

// ---------------------------------------------------------------- release --

/// What became of a released token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseOutcome {
    /// 204: the broker revoked the token now.
    Released,
    /// 401: the broker no longer accepts the token — it was already
    /// released, renewed, revoked or has expired. Either way it is dead,
    /// which is what releasing wanted; not an error.
    AlreadyDead,
}

call_flow!(
    /// `POST /v1/token/release` (Bearer, no body): revoke the presented
    /// token. A 204 is [`ReleaseOutcome::Released`]; a 401 is
    /// [`ReleaseOutcome::AlreadyDead`] (the real broker answers a second
    /// release with 401 "token verification failed").
    ///
    /// Not retried after an ambiguous transport failure (no silent
    /// duplicate request); the caller may simply release again, which is
    /// safe because of the 401 rule.
    Release -> ReleaseOutcome
);

impl Release {
    /// Releases `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the token is empty or not header-safe.
    pub fn new(config: &ClientConfig, token: &AccessToken) -> Result<Self, Error> {
        check_token("access_token", token)?;
        Ok(Self::unchecked(config, token))
    }

    fn unchecked(config: &ClientConfig, token: &AccessToken) -> Self {
        let prepared = Spec::post(paths::RELEASE).bearer(token).prepare(config);
        Release(Call::new(
            "release",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| match outcome {
                Ok(_) => Ok(ReleaseOutcome::Released),
                Err(Error::Authentication { .. }) => Ok(ReleaseOutcome::AlreadyDead),
                Err(e) => Err(e),
            },
        ))
    }
}

// --------------------------------------------------------------- delegate --

/// A delegated token (from [`Delegate`]): `sub` is the delegate, scope is
/// what was delegated, and the chain records every hop. It can itself
/// delegate further ([`DelegatedToken::delegate_flow`]), up to five hops.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DelegatedToken {
    /// The delegated token.
    pub access_token: AccessToken,
    /// Lifetime (the requested `ttl`, broker default 60 s).
    pub expires_in: Duration,
    /// Its `exp` claim.
    pub expires_at: SystemTime,
    /// When it arrived (local clock).
    pub received_at: SystemTime,
    /// Its claims.
    pub claims: Claims,
    /// The delegation chain, oldest hop first, as the broker returned it.
    pub delegation_chain: Vec<DelegationRecord>,
}

impl DelegatedToken {
    /// The delegate's SPIFFE id (the token's `sub`).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The delegated scope (from the claims).
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.claims.scope
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        crate::request::bearer_value(&self.access_token)
    }

    /// Delegates onwards from this token (A → B → C).
    ///
    /// # Errors
    ///
    /// As [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        Delegate::new(config, &self.access_token, delegate_to, scope, ttl)
    }

    /// Releases this token.
    ///
    /// # Errors
    ///
    /// As [`Release::new`].
    pub fn release_flow(&self, config: &ClientConfig) -> Result<Release, Error> {
        Release::new(config, &self.access_token)
    }
}

call_flow!(
    /// `POST /v1/delegate` (Bearer): delegate an equal or narrower scope
    /// to another registered agent. Works from any token: an agent's, or a
    /// delegated one (so A → B → C needs no raw HTTP). The broker answers
    /// a scope beyond the presenter's with 403 `scope_violation`
    /// ([`Error::Authorization`]), an unknown delegate with 404.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Delegate, Error};
    /// use agentwrit_wire::AccessToken;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let token = AccessToken::new("eyJ.agent.token");
    /// let to = "spiffe://agentwrit.local/agent/o/t/fc93a2e0c767592c";
    /// assert!(Delegate::new(&config, &token, to, &["read:data:reports"], Some(std::time::Duration::from_secs(30))).is_ok());
    /// let err = Delegate::new(&config, &token, to, &[] as &[&str], None).unwrap_err();
    /// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "scope"));
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Delegate -> DelegatedToken
);

impl Delegate {
    /// Delegates `scope` from the holder of `token` to `delegate_to` (a
    /// SPIFFE id) for `ttl` seconds (broker default 60).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty `delegate_to`, an empty scope
    /// list (the real broker answers that with a 500), an invalid scope
    /// (`scope[i]`), a non-positive `ttl`, or an empty token.
    pub fn new<S: AsRef<str>>(
        config: &ClientConfig,
        token: &AccessToken,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Self, Error> {
        input::non_empty("delegate_to", delegate_to)?;
        input::scopes("scope", scope)?;
        let ttl = ttl.map(crate::client::ttl_seconds);
        if let Some(ttl) = ttl {
            input::positive_seconds("ttl", ttl)?;
        }
        check_token("access_token", token)?;
        let scope: Vec<String> = scope.iter().map(|s| s.as_ref().to_owned()).collect();
        let body = DelegateRequest::new(delegate_to, scope, ttl);
        let prepared = Spec::post(paths::DELEGATE)
            .bearer(token)
            .json(&body)?
            .prepare(config);
        Ok(Delegate(Call::new(
            "delegate",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: DelegateResponse = reply.json()?;
                let i = issued(&reply, r.access_token, r.expires_in, ctx.now)?;
                Ok(DelegatedToken {
                    access_token: i.access_token,
                    expires_in: Duration::from_secs(i.expires_in.max(0).unsigned_abs()),
                    expires_at: i.expires_at,
                    received_at: i.received_at,
                    claims: i.claims,
                    delegation_chain: r.delegation_chain,
                })
            },
        )))
    }
}

// ------------------------------------------------------------ agent state --

/// A created agent as pure data: its credentials and whether it has been
/// released. The transports keep one per `Agent` (behind their own lock)
/// and ask it for flows, so the rules live here: a released agent renews
/// and delegates no more, and releasing twice sends nothing the second
/// time.
///
/// ```
/// # use agentwrit_core::*;
/// # fn demo(credentials: AgentCredentials, config: &ClientConfig) -> Result<(), Error> {
/// let mut agent = AgentState::new(credentials);
/// let release = agent.release_flow(config); // Some(flow): drive it, then
/// agent.mark_released();
/// assert!(agent.release_flow(config).is_none()); // idempotent
/// assert!(matches!(agent.renew_flow(config), Err(Error::Released)));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AgentState {
    credentials: AgentCredentials,
    released: bool,
}

impl From<AgentCredentials> for AgentState {
    fn from(credentials: AgentCredentials) -> Self {
        AgentState::new(credentials)
    }
}

impl AgentState {
    /// A live agent.
    #[must_use]
    pub fn new(credentials: AgentCredentials) -> Self {
        AgentState {
            credentials,
            released: false,
        }
    }

    /// The credentials.
    #[must_use]
    pub fn credentials(&self) -> &AgentCredentials {
        &self.credentials
    }

    /// Whether the agent has been released.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// The agent's SPIFFE id.
    #[must_use]
    pub fn agent_id(&self) -> &str {
        &self.credentials.agent_id
    }

    /// The current token.
    #[must_use]
    pub fn access_token(&self) -> &AccessToken {
        &self.credentials.access_token
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        crate::request::bearer_value(&self.credentials.access_token)
    }

    /// The granted scope (from the token's claims).
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.credentials.claims.scope
    }

    /// When the current token expires (its `exp` claim).
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.credentials.expires_at
    }

    /// The current token's jti.
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.credentials.claims.jti
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.credentials.task_id
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> &str {
        &self.credentials.orch_id
    }

    /// The current token's claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.credentials.claims
    }

    /// The agent's key.
    #[must_use]
    pub fn key(&self) -> &AgentKey {
        &self.credentials.key
    }

    /// A flow renewing the current token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once the agent has been released.
    pub fn renew_flow(&self, config: &ClientConfig) -> Result<Renew, Error> {
        if self.released {
            return Err(Error::Released);
        }
        Ok(Renew::unchecked(config, &self.credentials.access_token))
    }

    /// Installs a renewed token in place (same agent id).
    ///
    /// # Errors
    ///
    /// [`Error::Released`] if the agent was released while the renewal was
    /// in flight; the caller should then release `renewal`'s token too.
    pub fn apply_renewal(&mut self, renewal: Renewal) -> Result<(), Error> {
        if self.released {
            return Err(Error::Released);
        }
        let c = &mut self.credentials;
        c.access_token = renewal.access_token;
        c.expires_in = renewal.expires_in;
        c.expires_at = renewal.expires_at;
        c.received_at = renewal.received_at;
        c.claims = renewal.claims;
        Ok(())
    }

    /// A flow releasing the current token, or `None` when the agent has
    /// already been released (nothing to send: release is idempotent).
    /// Call [`AgentState::mark_released`] once it finishes with either
    /// [`ReleaseOutcome`].
    #[must_use]
    pub fn release_flow(&self, config: &ClientConfig) -> Option<Release> {
        (!self.released).then(|| Release::unchecked(config, &self.credentials.access_token))
    }

    /// Records that the token is dead (released or already dead).
    pub fn mark_released(&mut self) {
        self.released = true;
    }

    /// A flow delegating `scope` to `delegate_to` from the agent's token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; otherwise as [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        if self.released {
            return Err(Error::Released);
        }
        Delegate::new(
            config,
            &self.credentials.access_token,
            delegate_to,
            scope,
            ttl,
        )
    }

    /// When the opt-in auto-renewal should renew: at 80 % of the token's
    /// lifetime, measured on the local clock from when the token arrived
    /// (so client/broker clock skew does not matter), and never earlier
    /// than `now`. `None` once released.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use agentwrit_core::*;
    /// # fn demo(state: AgentState) {
    /// // A 300 s token received at t renews at t + 240 s.
    /// let t = state.credentials().received_at;
    /// assert_eq!(state.next_renewal_at(t), Some(t + Duration::from_secs(240)));
    /// # }
    /// ```
    #[must_use]
    pub fn next_renewal_at(&self, now: SystemTime) -> Option<SystemTime> {
        if self.released {
            return None;
        }
        let lifetime = Duration::from_secs(self.credentials.expires_in.unsigned_abs());
        let at = self
            .credentials
            .received_at
            .checked_add(lifetime / 5 * 4)
            .unwrap_or(self.credentials.received_at);
        Some(at.max(now))
    }
}

// ------------------------------------------------------------------ agent --

/// An agent's state shared by its handle, its clones and its auto-renewal
/// worker: an [`AgentState`] behind a mutex, with flows that apply their
/// results in place.
///
/// ```
/// # use agentwrit_core::*;
/// # fn demo(credentials: AgentCredentials, config: &ClientConfig) -> Result<(), Error> {
/// let agent = SharedAgent::new(credentials);
/// let mut release = agent.release_flow(config); // drive it: the state is marked released
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedAgent {
    state: Arc<Mutex<AgentState>>,
    stop_renewal: Arc<AtomicBool>,
    delegations: Arc<Mutex<Vec<DelegatedToken>>>,
}

impl fmt::Debug for SharedAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lock(&self.state).fmt(f)
    }
}

impl SharedAgent {
    /// A live agent with these credentials.
    #[must_use]
    pub fn new(credentials: AgentCredentials) -> Self {
        SharedAgent {
            state: Arc::new(Mutex::new(AgentState::new(credentials))),
            stop_renewal: Arc::new(AtomicBool::new(false)),
            delegations: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Reads the state: `agent.read(|s| s.jti().to_owned())`.
    pub fn read<T>(&self, f: impl FnOnce(&AgentState) -> T) -> T {
        f(&lock(&self.state))
    }

    /// The agent's SPIFFE id.
    #[must_use]
    pub fn agent_id(&self) -> String {
        self.read(|s| s.agent_id().to_owned())
    }

    /// The current token (a renewal replaces it).
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.read(|s| s.access_token().clone())
    }

    /// The current token's claims.
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.read(|s| s.claims().clone())
    }

    /// Whether the agent has been released.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.read(AgentState::is_released)
    }

    /// `Bearer <token>`, for an `Authorization` header, marked sensitive
    /// (its `Debug` does not show it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        self.read(|s| crate::request::bearer_value(s.access_token()))
    }

    /// The granted scope, from the token's claims.
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        self.read(|s| s.scope().to_vec())
    }

    /// Whether the token's scope covers every scope in `required` (the
    /// broker's rule, [`scope_is_subset`](agentwrit_scope::scope_is_subset)),
    /// without copying the scope list.
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        self.read(|s| agentwrit_scope::scope_is_subset(required, s.scope()))
    }

    /// Records a token this agent (or a token delegated from it) handed
    /// to another agent, so that releasing the task releases it too.
    pub fn track_delegation(&self, token: &DelegatedToken) {
        lock(&self.delegations).push(token.clone());
    }

    /// Takes the tokens recorded by [`SharedAgent::track_delegation`], to
    /// release them when the task ends.
    #[must_use]
    pub fn take_delegations(&self) -> Vec<DelegatedToken> {
        std::mem::take(&mut *lock(&self.delegations))
    }

    /// When the current token expires (its `exp` claim).
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.read(AgentState::expires_at)
    }

    /// The current token's lifetime, as issued.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(
            self.read(|s| s.credentials().expires_in)
                .max(0)
                .unsigned_abs(),
        )
    }

    /// The current token's id.
    #[must_use]
    pub fn jti(&self) -> String {
        self.read(|s| s.jti().to_owned())
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> String {
        self.read(|s| s.task_id().to_owned())
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> String {
        self.read(|s| s.orch_id().to_owned())
    }

    /// A flow renewing the token and installing the new one in place. If
    /// the agent is released while the renewal is in flight, the flow
    /// releases the new token too, so that nothing stays alive.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once the agent has been released.
    pub fn renew_flow(&self, config: &ClientConfig) -> Result<RenewInPlace, Error> {
        let flow = self.read(|s| s.renew_flow(config))?;
        Ok(RenewInPlace {
            agent: self.clone(),
            config: config.clone(),
            stage: RenewStage::Renewing(flow),
        })
    }

    /// A flow releasing the token and marking the agent released. On a
    /// released agent it sends nothing and finishes with
    /// [`ReleaseOutcome::AlreadyDead`]. Either outcome stops auto-renewal.
    pub fn release_flow(&self, config: &ClientConfig) -> ReleaseInPlace {
        self.stop_renewal.store(true, Ordering::SeqCst);
        ReleaseInPlace {
            agent: self.clone(),
            flow: self.read(|s| s.release_flow(config)),
            started: false,
        }
    }

    /// Marks the agent released without telling the broker (for a token
    /// known to be dead).
    pub fn mark_released(&self) {
        self.stop_renewal.store(true, Ordering::SeqCst);
        lock(&self.state).mark_released();
    }

    /// A flow delegating `scope` to `delegate_to` from the current token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; otherwise as [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        self.read(|s| s.delegate_flow(config, delegate_to, scope, ttl))
    }

    /// A flow that renews the token at 80 % of each lifetime
    /// ([`AgentState::next_renewal_at`]) until the agent is released or
    /// [`SharedAgent::stop_auto_renewal`] is called. A failed renewal ends
    /// it with that error.
    pub fn auto_renew_flow(&self, config: &ClientConfig) -> AutoRenew {
        self.stop_renewal.store(false, Ordering::SeqCst);
        AutoRenew {
            agent: self.clone(),
            config: config.clone(),
            renewing: None,
            renewals: 0,
            started: false,
            finished: false,
        }
    }

    /// Asks a running [`AutoRenew`] flow to finish at its next step (a
    /// renewal in flight completes first). The transport should then wake
    /// the worker that is waiting.
    pub fn stop_auto_renewal(&self) {
        self.stop_renewal.store(true, Ordering::SeqCst);
    }

    fn renewal_stopped(&self) -> bool {
        self.stop_renewal.load(Ordering::SeqCst)
    }
}

enum RenewStage {
    Renewing(Renew),
    ReleasingOrphan(Release),
    Finished,
}

/// Renews an agent's token in place (from [`SharedAgent::renew_flow`]).
#[must_use = "a flow does nothing until a transport drives it"]
pub struct RenewInPlace {
    agent: SharedAgent,
    config: ClientConfig,
    stage: RenewStage,
}

impl fmt::Debug for RenewInPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenewInPlace").finish_non_exhaustive()
    }
}

impl RenewInPlace {
    fn on_renew(&mut self, step: Step<Renewal>, now: SystemTime) -> Step<()> {
        match step {
            Step::Done(Ok(renewal)) => {
                let orphan = renewal.access_token.clone();
                let applied = lock(&self.agent.state).apply_renewal(renewal);
                match applied {
                    Ok(()) => self.done(Ok(())),
                    Err(_) => {
                        // Released while renewing: the new token must not
                        // outlive the agent.
                        match Release::new(&self.config, &orphan) {
                            Ok(mut flow) => {
                                let step = flow.start(now);
                                self.stage = RenewStage::ReleasingOrphan(flow);
                                self.on_orphan(step)
                            }
                            Err(_) => self.done(Err(Error::Released)),
                        }
                    }
                }
            }
            other => {
                if other.is_done() {
                    self.stage = RenewStage::Finished;
                }
                other.map(|_| ())
            }
        }
    }

    fn on_orphan(&mut self, step: Step<ReleaseOutcome>) -> Step<()> {
        match step {
            Step::Done(_) => self.done(Err(Error::Released)),
            other => other.map(|_| ()),
        }
    }

    fn done(&mut self, result: Result<(), Error>) -> Step<()> {
        self.stage = RenewStage::Finished;
        Step::Done(result)
    }
}

impl Flow for RenewInPlace {
    type Output = ();

    fn name(&self) -> &'static str {
        match &self.stage {
            RenewStage::Renewing(f) => f.name(),
            RenewStage::ReleasingOrphan(f) => f.name(),
            RenewStage::Finished => "renew",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.start(now);
                self.on_renew(step, now)
            }
            _ => self.done(Err(Error::invalid_state("start called twice"))),
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.handle_response(response, now);
                self.on_renew(step, now)
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.handle_response(response, now);
                self.on_orphan(step)
            }
            RenewStage::Finished => self.done(Err(Error::invalid_state("flow has finished"))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.resume(now);
                self.on_renew(step, now)
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.resume(now);
                self.on_orphan(step)
            }
            RenewStage::Finished => self.done(Err(Error::invalid_state("flow has finished"))),
        }
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<()>> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.handle_transport_error(failure, now)?;
                Some(self.on_renew(step, now))
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.handle_transport_error(failure, now)?;
                Some(self.on_orphan(step))
            }
            RenewStage::Finished => Some(self.done(Err(Error::invalid_state("flow has finished")))),
        }
    }
}

/// Releases an agent's token and marks the agent released (from
/// [`SharedAgent::release_flow`]). Idempotent: a released agent sends nothing.
///
/// When the transport gives up (a timeout: the release may or may not
/// have reached the broker), the agent stays unreleased so that a second
/// `release` sends it again, which is safe: a dead token answers 401,
/// which counts as released.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct ReleaseInPlace {
    agent: SharedAgent,
    flow: Option<Release>,
    started: bool,
}

impl fmt::Debug for ReleaseInPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleaseInPlace")
            .field("sends", &self.flow.is_some())
            .finish_non_exhaustive()
    }
}

impl ReleaseInPlace {
    fn on(&mut self, step: Step<ReleaseOutcome>) -> Step<ReleaseOutcome> {
        if let Step::Done(Ok(_)) = &step {
            lock(&self.agent.state).mark_released();
            self.flow = None;
        }
        step
    }
}

impl Flow for ReleaseInPlace {
    type Output = ReleaseOutcome;

    fn name(&self) -> &'static str {
        "release"
    }

    fn start(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        if std::mem::replace(&mut self.started, true) {
            // Out of order: the inner flow (already started) answers with
            // `InvalidState` and finishes, so that nothing continues after
            // this `Done`.
            return match &mut self.flow {
                Some(f) => f.start(now),
                None => Step::Done(Err(Error::invalid_state("start called twice"))),
            };
        }
        match &mut self.flow {
            Some(f) => {
                let step = f.start(now);
                self.on(step)
            }
            None => Step::Done(Ok(ReleaseOutcome::AlreadyDead)),
        }
    }

    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.handle_response(response, now);
                self.on(step)
            }
            None => Step::Done(Err(Error::invalid_state("no request in flight"))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.resume(now);
                self.on(step)
            }
            None => Step::Done(Err(Error::invalid_state("no wait in progress"))),
        }
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<ReleaseOutcome>> {
        let step = self.flow.as_mut()?.handle_transport_error(failure, now)?;
        Some(self.on(step))
    }
}

/// Keeps an agent's token fresh (from [`SharedAgent::auto_renew_flow`]): waits
/// until [`AgentState::next_renewal_at`], renews in place, and again,
/// until the agent is released or renewal is stopped. Its output is the
/// number of renewals made.
///
/// A transport runs it on a worker (a thread or a task) and wakes that
/// worker early after [`SharedAgent::stop_auto_renewal`] or a release;
/// the flow answers an early [`Flow::resume`] with the same wait, or with
/// `Done` when it was stopped.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct AutoRenew {
    agent: SharedAgent,
    config: ClientConfig,
    renewing: Option<RenewInPlace>,
    renewals: u64,
    /// `start` has been called.
    started: bool,
    /// The flow has returned `Done` or given up: every later call is out
    /// of order.
    finished: bool,
}

impl fmt::Debug for AutoRenew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoRenew")
            .field("renewing", &self.renewing.is_some())
            .field("renewals", &self.renewals)
            .finish_non_exhaustive()
    }
}

impl AutoRenew {
    fn schedule(&mut self, now: SystemTime) -> Step<u64> {
        if self.agent.renewal_stopped() {
            return Step::Done(Ok(self.renewals));
        }
        match self.agent.read(|s| s.next_renewal_at(now)) {
            Some(until) if until > now => Step::Wait { until },
            Some(_) => match self.agent.renew_flow(&self.config) {
                Ok(mut flow) => {
                    let step = flow.start(now);
                    self.renewing = Some(flow);
                    self.on_renew(step, now)
                }
                Err(Error::Released) => Step::Done(Ok(self.renewals)),
                Err(e) => Step::Done(Err(e)),
            },
            None => Step::Done(Ok(self.renewals)),
        }
    }

    fn on_renew(&mut self, step: Step<()>, now: SystemTime) -> Step<u64> {
        match step {
            Step::Send(request) => Step::Send(request),
            Step::Wait { until } => Step::Wait { until },
            Step::Done(Ok(())) => {
                self.renewing = None;
                self.renewals = self.renewals.saturating_add(1);
                self.schedule(now)
            }
            Step::Done(Err(Error::Released)) => {
                self.renewing = None;
                Step::Done(Ok(self.renewals))
            }
            Step::Done(Err(e)) => {
                self.renewing = None;
                Step::Done(Err(e))
            }
        }
    }
}

impl Flow for AutoRenew {
    type Output = u64;

    fn name(&self) -> &'static str {
        match &self.renewing {
            Some(f) => f.name(),
            None => "auto_renew.wait",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<u64> {
        if std::mem::replace(&mut self.started, true) || self.finished {
            return self.track(Step::Done(Err(Error::invalid_state("start called twice"))));
        }
        let step = self.schedule(now);
        self.track(step)
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) -> Step<u64> {
        let step = match &mut self.renewing {
            Some(f) if !self.finished => {
                let step = f.handle_response(response, now);
                self.on_renew(step, now)
            }
            _ => Step::Done(Err(Error::invalid_state("no request in flight"))),
        };
        self.track(step)
    }

    fn resume(&mut self, now: SystemTime) -> Step<u64> {
        let step = match &mut self.renewing {
            _ if self.finished || !self.started => {
                Step::Done(Err(Error::invalid_state("resume called without a wait")))
            }
            Some(f) => {
                let step = f.resume(now);
                self.on_renew(step, now)
            }
            None => self.schedule(now),
        };
        self.track(step)
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<u64>> {
        if self.finished {
            return Some(Step::Done(Err(Error::invalid_state(
                "handle_transport_error called after the flow finished",
            ))));
        }
        let next = match self.renewing.as_mut() {
            Some(f) => f.handle_transport_error(failure, now),
            None => None,
        };
        match next {
            Some(step) => {
                let step = self.on_renew(step, now);
                Some(self.track(step))
            }
            None => {
                self.finished = true;
                None
            }
        }
    }
}

impl AutoRenew {
    /// Remembers that the flow has finished when `step` is `Done`, so that
    /// every later call is out of order (as the [`Flow`] contract says).
    fn track(&mut self, step: Step<u64>) -> Step<u64> {
        if step.is_done() {
            self.finished = true;
        }
        step
    }
}
