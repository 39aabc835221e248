//! Renewal beside the supervisor: one task per renewed credential, on the
//! SDK's schedule (80 % of each lifetime), retried with backoff until the
//! current token expires.
//!
//! The broker revokes a token as it renews it, so a renewal whose answer
//! is lost leaves the agent with a dead token. Each attempt therefore
//! first asks the broker's health (an idempotent `GET`): a paused, dead or
//! restarting broker costs a retry, not the token. When a renewal request
//! itself fails after it may have reached the broker, the next attempt
//! first asks whether the current token is still alive; if it is not, the
//! credential is lost and the failure is final.
//!
//! Once the run ends ([`Renewals::stop`]), a renewal in flight is let
//! finish (the broker may have replaced the token already, and the release
//! must use the new one), but nothing more comes of it: no token file is
//! written (the release has removed them) and no [`Event::Renewed`] is
//! sent.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use agentwrit_async::{Agent, Broker, Error as SdkError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::mask::Secrets;
use crate::output;
use crate::time::rfc3339;

use super::tokenfile::TokenFiles;

/// The first backoff delay between attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest one.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a renewal task tells the supervisor.
#[derive(Debug)]
pub enum Event {
    /// A credential has a new token (in its file and on the endpoint).
    Renewed,
    /// Credential `0` could not be renewed before its token expired, or
    /// its token is dead: the message says which.
    GaveUp(usize, String),
}

/// One credential's renewal.
pub struct Task {
    /// Its index in the plan.
    pub index: usize,
    /// The agent.
    pub agent: Agent,
    /// Its broker (health and validation).
    pub broker: Broker,
    /// Its token file.
    pub file: Option<PathBuf>,
    /// How messages name it.
    pub describe: String,
}

/// The running renewal tasks.
pub struct Renewals {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Renewals {
    /// Starts one task per entry of `tasks`; their token files are
    /// written through `files`.
    pub fn start(
        tasks: Vec<Task>,
        secrets: &Secrets,
        files: &TokenFiles,
        events: &mpsc::UnboundedSender<Event>,
        json: bool,
    ) -> Renewals {
        let (stop, stopped) = watch::channel(false);
        let tasks = tasks
            .into_iter()
            .map(|task| {
                let context = Context {
                    secrets: secrets.clone(),
                    files: files.clone(),
                    events: events.clone(),
                    json,
                };
                let stopped = stopped.clone();
                tokio::spawn(async move { renew_loop(task, context, stopped).await })
            })
            .collect();
        Renewals { stop, tasks }
    }

    /// Asks every task to stop, without waiting: a renewal in flight
    /// finishes, and then writes no file and sends no event.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops every task (as [`Renewals::stop`]) and waits for them.
    pub async fn join(self) {
        self.stop();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// When the token `agent` holds stops working, as the child is told: the
/// next renewal when it is renewed (renewing revokes it), else its `exp`.
/// Once a renewal is overdue (retrying) the token lives until `exp` or
/// the next successful attempt.
pub fn effective_expiry(agent: &Agent, renewed: bool) -> SystemTime {
    let exp = agent.expires_at();
    if renewed
        && let Some(at) = renewal_due(agent)
        && at > SystemTime::now()
        && at < exp
    {
        return at;
    }
    exp
}

/// When to renew: the SDK's schedule (80 % of the lifetime after the
/// token arrived), but never later than a fifth of the lifetime before
/// `exp`. `exp` is whole seconds, so for a short lifetime the SDK's
/// moment can fall after it (a 3 s token received at x.9 s).
pub fn renewal_due(agent: &Agent) -> Option<SystemTime> {
    let scheduled = agent.next_renewal_at()?;
    let exp = agent.expires_at();
    let latest = exp.checked_sub(agent.expires_in() / 5).unwrap_or(exp);
    Some(scheduled.min(latest.max(SystemTime::now())))
}

/// What a renewal task shares with the run.
struct Context {
    secrets: Secrets,
    files: TokenFiles,
    events: mpsc::UnboundedSender<Event>,
    json: bool,
}

async fn renew_loop(task: Task, context: Context, mut stopped: watch::Receiver<bool>) {
    let Context {
        secrets,
        files,
        events,
        json,
    } = context;
    loop {
        let Some(due) = renewal_due(&task.agent) else {
            return;
        };
        if !sleep_until(due, &mut stopped).await {
            return;
        }
        match renew_with_retries(&task, &mut stopped, json).await {
            Outcome::Renewed => {
                let token = task.agent.access_token();
                secrets.add(token.expose_secret());
                if *stopped.borrow() {
                    // The run is ending: the child is gone, its files
                    // removed; the release takes this token.
                    return;
                }
                // Refused (nothing written) if the release has begun since.
                if let Some(path) = &task.file
                    && let Err(e) = files.write(path, token.expose_secret())
                {
                    output::notice(
                        json,
                        &serde_json::json!({"warning": "token file not written", "path": path, "error": e.to_string()}),
                        &format!("writing the token file {}: {e}", path.display()),
                    );
                }
                let _ = events.send(Event::Renewed);
            }
            Outcome::Stopped => return,
            Outcome::GaveUp(message) => {
                output::notice(
                    json,
                    &serde_json::json!({"warning": "renewal failed", "agent_id": task.agent.agent_id(), "error": message}),
                    &format!(
                        "renewing {} of agent {} failed: {message}",
                        task.describe,
                        task.agent.agent_id()
                    ),
                );
                let _ = events.send(Event::GaveUp(task.index, message));
                return;
            }
        }
    }
}

enum Outcome {
    Renewed,
    Stopped,
    GaveUp(String),
}

enum Failure {
    /// Worth another attempt.
    Retry(String),
    /// The token is dead: no attempt can help.
    Final(String),
}

async fn renew_with_retries(
    task: &Task,
    stopped: &mut watch::Receiver<bool>,
    json: bool,
) -> Outcome {
    let agent = &task.agent;
    let deadline = agent.expires_at();
    let mut uncertain = false;
    let mut failures: u32 = 0;
    loop {
        if *stopped.borrow() {
            return Outcome::Stopped;
        }
        let Ok(left) = deadline.duration_since(SystemTime::now()) else {
            return Outcome::GaveUp(format!(
                "the broker did not renew it before it expired at {} ({failures} failed attempt(s))",
                rfc3339(deadline)
            ));
        };
        // A probe long enough for a loaded machine, never past the
        // deadline.
        let probe = (left / 2)
            .clamp(Duration::from_secs(1), Duration::from_secs(5))
            .min(left);
        match attempt(task, probe, &mut uncertain).await {
            Ok(()) => {
                if failures > 0 {
                    output::notice(
                        json,
                        &serde_json::json!({"notice": "renewed", "agent_id": agent.agent_id(), "failed_attempts": failures}),
                        &format!(
                            "renewed {} of agent {} after {failures} failed attempt(s)",
                            task.describe,
                            agent.agent_id()
                        ),
                    );
                }
                return Outcome::Renewed;
            }
            Err(Failure::Final(message)) => return Outcome::GaveUp(message),
            Err(Failure::Retry(message)) => {
                failures += 1;
                if failures == 1 {
                    output::notice(
                        json,
                        &serde_json::json!({"warning": "renewal failed, retrying", "agent_id": agent.agent_id(), "error": message, "expires_at": rfc3339(deadline)}),
                        &format!(
                            "renewing {} of agent {} failed ({message}); retrying until it expires at {}",
                            task.describe,
                            agent.agent_id(),
                            rfc3339(deadline)
                        ),
                    );
                }
                let left = deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let wait = backoff(failures).min(left);
                if !sleep_for(wait, stopped).await {
                    return Outcome::Stopped;
                }
            }
        }
    }
}

async fn attempt(task: &Task, probe: Duration, uncertain: &mut bool) -> Result<(), Failure> {
    let unanswered = || {
        Failure::Retry(format!(
            "no answer from the broker within {} ms",
            probe.as_millis()
        ))
    };
    match tokio::time::timeout(probe, task.broker.health()).await {
        Err(_) => return Err(unanswered()),
        Ok(Err(e)) => return Err(Failure::Retry(e.to_string())),
        Ok(Ok(_)) => {}
    }
    if *uncertain {
        match tokio::time::timeout(probe, task.broker.validate(&task.agent.access_token())).await {
            Err(_) => return Err(unanswered()),
            Ok(Err(e)) => return Err(Failure::Retry(e.to_string())),
            Ok(Ok(validation)) if validation.is_valid() => *uncertain = false,
            Ok(Ok(_)) => {
                return Err(Failure::Final(
                    "the token is dead at the broker (a renewal whose answer was lost replaced it, \
                     or it was revoked)"
                        .into(),
                ));
            }
        }
    }
    match task.agent.renew().await {
        Ok(()) => Ok(()),
        Err(e @ (SdkError::Authentication { .. } | SdkError::Released)) => {
            Err(Failure::Final(e.to_string()))
        }
        Err(e) => {
            // Anything but a refused connection may have reached the
            // broker, which may have renewed (and so revoked) the token.
            if e.transport_failure().is_some() && !e.is_connect() {
                *uncertain = true;
            }
            Err(Failure::Retry(e.to_string()))
        }
    }
}

/// `FIRST_BACKOFF × 2^(n−1)`, at most `MAX_BACKOFF`, spread over
/// `[d/2, d]` so that the runs of a restarted broker do not retry in step.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << exponent)
        .min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    let _ = rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut random);
    let fraction = f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
    full.mul_f64(0.5 + fraction / 2.0)
}

/// Sleeps until `at`; false if asked to stop first.
async fn sleep_until(at: SystemTime, stopped: &mut watch::Receiver<bool>) -> bool {
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    sleep_for(wait, stopped).await
}

async fn sleep_for(wait: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    if *stopped.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => !*stopped.borrow(),
        _ = stopped.changed() => false,
    }
}

/// For a credential that is not renewed (its token reaches the child
/// only through the environment): says once, when a renewal would have
/// been due, that the token lives to its `exp` and no longer.
pub fn announce_unrenewed(agent: Agent, describe: String, json: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(due) = renewal_due(&agent) else {
            return;
        };
        let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait).await;
        if agent.is_released() {
            return;
        }
        let expires = rfc3339(agent.expires_at());
        output::notice(
            json,
            &serde_json::json!({"notice": "token not renewed", "agent_id": agent.agent_id(), "expires_at": expires}),
            &format!(
                "{} of agent {} is not renewed: the child has it only in its environment, so it \
                 stays valid until it expires at {expires} (--token-file, --token-dir or --serve \
                 keep a renewed token within reach)",
                describe,
                agent.agent_id()
            ),
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_spread() {
        for n in 1..40 {
            let d = backoff(n);
            let full = FIRST_BACKOFF
                .saturating_mul(1u32 << (n - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
    }
}
