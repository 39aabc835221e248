//! Creating an agent: [`CreateAgent`], the four-step ceremony (launch
//! token, challenge, signature, register), and what it needs,
//! [`CreateAgentRequest`].

use core::fmt;
use std::time::SystemTime;

use agentwrit_wire::{
    AccessToken, ChallengeResponse, LaunchToken, LaunchTokenRequest, LaunchTokenResponse,
    RegisterRequest, RegisterResponse, paths,
};

use super::{AgentCredentials, Issued, issued};
use crate::call::{Call, Idempotency};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::input;
use crate::keys::AgentKey;
use crate::request::{Spec, check_token};

/// The agent token lifetime asked for when none is given: 300 s.
pub const DEFAULT_MAX_TTL: i64 = 300;

/// What [`CreateAgent`] needs: who the agent works for, what it may do,
/// and its key.
///
/// ```
/// use agentwrit_core::{AgentKey, CreateAgentRequest};
///
/// let request = CreateAgentRequest::new("conf-orch", "conf-task", ["read:data:*"], AgentKey::from_seed([1; 32]))
///     .with_label("nightly-report")
///     .with_max_ttl(std::time::Duration::from_secs(600));
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

    /// The agent token's lifetime (whole seconds, rounded up; the broker
    /// caps it at its maximum, 86400 s by default).
    #[must_use]
    pub fn with_max_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.max_ttl = crate::input::ttl_seconds(ttl);
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
        input::at_most("orch_id", &self.orch_id, input::MAX_ORCH_ID_LEN)?;
        input::spiffe_segment("task_id", &self.task_id)?;
        input::at_most("task_id", &self.task_id, input::MAX_TASK_ID_LEN)?;
        input::bounded_scopes("scope", &self.scope)?;
        if let Some(label) = &self.label {
            input::non_empty("label", label)?;
            input::at_most("label", label, input::MAX_LABEL_LEN)?;
        }
        input::positive_seconds("max_ttl", self.max_ttl)
    }
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
/// The register request is the ceremony's [`PointOfNoReturn`](crate::PointOfNoReturn)
/// (marked in its extensions): once it may have reached the broker, an
/// agent token may exist that only this flow's output holds, so a
/// transport whose caller can be cancelled finishes the flow detached
/// and releases an output nobody is waiting for.
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
            .with_max_ttl(std::time::Duration::from_secs(
                request.max_ttl.unsigned_abs(),
            ))
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

    /// Registers an agent with a launch token minted elsewhere (by an
    /// operator, another app, or handed to a process in its environment):
    /// the ceremony from step 2 on, with no app credentials. The request's
    /// label and `max_ttl` are not sent: the launch token's policy fixes
    /// them.
    ///
    /// ```
    /// use agentwrit_core::{AgentKey, ClientConfig, CreateAgent, CreateAgentRequest, Error};
    /// use agentwrit_wire::LaunchToken;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let request = CreateAgentRequest::new("orch", "task", ["read:data:*"], AgentKey::from_seed([1; 32]));
    /// assert!(CreateAgent::with_launch_token(&config, LaunchToken::new("a1b2"), request.clone()).is_ok());
    /// let err = CreateAgent::with_launch_token(&config, LaunchToken::new(""), request).unwrap_err();
    /// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "launch_token"));
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent: an empty launch
    /// token, or a request [`CreateAgent::new`] refuses.
    pub fn with_launch_token(
        config: &ClientConfig,
        launch_token: LaunchToken,
        request: CreateAgentRequest,
    ) -> Result<Self, Error> {
        request.validate()?;
        if launch_token.is_empty() {
            return Err(Error::invalid_input("launch_token", "must not be empty"));
        }
        let call = Call::new(
            "create_agent.challenge",
            config,
            Spec::get(paths::CHALLENGE).prepare(config),
            Idempotency::Idempotent,
            |outcome, _| Ok(Stage::Challenge(outcome?.json()?)),
        );
        Ok(CreateAgent {
            config: config.clone(),
            request,
            call,
            phase: Phase::Challenge { launch_token },
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
                )
                // An agent token may be issued in answer: whoever drives
                // the ceremony must own the result from here on.
                .point_of_no_return();
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

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<AgentCredentials> {
        let step = self.call.handle_transport_failure(failure, give_up, now);
        self.advance(step, now)
    }
}
