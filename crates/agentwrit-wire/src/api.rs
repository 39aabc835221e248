//! Request and response bodies of every broker endpoint.
//!
//! Field order follows the broker's, so a server that serialises these
//! types with [`crate::to_go_json`] writes the broker's bytes. Request types
//! default every missing field (as Go's decoder leaves missing fields at
//! their zero value) so that a server can answer "missing field" itself
//! rather than "malformed JSON".

mod agents;
mod apps;
mod launch;
mod principals;
mod public;
mod revoke;

pub use agents::{
    DelegateRequest, DelegateResponse, RegisterRequest, RegisterResponse, RenewResponse,
};
pub use apps::{AppResponse, CreateAppRequest, ListAppsResponse, UpdateAppRequest};
pub use launch::{LaunchTokenPolicy, LaunchTokenRequest, LaunchTokenResponse};
pub use principals::{AdminAuthRequest, AdminAuthResponse, AppAuthRequest, AppAuthResponse};
pub use public::{ChallengeResponse, HealthResponse, ValidateRequest, ValidateResponse};
pub use revoke::{RevocationLevel, RevokeRequest, RevokeResponse, UnknownRevocationLevel};
