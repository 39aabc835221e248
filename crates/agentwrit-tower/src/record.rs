//! Scope-usage recording glue: the one place the layer hands an accepted
//! token to the recorder (`agentwrit-usage` decides everything else).

use std::sync::Arc;

use agentwrit_usage::{Recorder, TokenFacts};
use agentwrit_wire::Claims;

use crate::AgentClaims;

/// Counts one request with an accepted token and returns its claims,
/// carrying the recorder for the request's scope checks.
pub(crate) fn accepted(recorder: &Recorder, token: &str, claims: Arc<Claims>) -> AgentClaims {
    recorder.request(token, &claims.jti, || TokenFacts::from_claims(&claims));
    AgentClaims::new(claims).with_usage(recorder.clone())
}
