//! The operator: [`OperatorCore`], every operator call as a ready-made
//! flow with the admin session built in, and the broker calls it makes,
//! one file each:
//!
//! * `apps.rs`: [`CreateApp`], [`ListApps`], [`GetApp`], [`UpdateApp`],
//!   [`DeleteApp`];
//! * `revoke.rs`: [`Revoke`];
//! * `audit.rs`: [`AuditEvents`] and [`next_audit_page`].
//!
//! Launch tokens, minted by an app or the operator, are in
//! `launch_token.rs` ([`CreateLaunchToken`]).

mod apps;
mod audit;
mod revoke;

use std::sync::Arc;

use agentwrit_wire::{
    AccessToken, AdminSecret, AuditQuery, CreateAppRequest, LaunchTokenRequest, RevocationLevel,
    UpdateAppRequest,
};

pub use apps::{CreateApp, DeleteApp, GetApp, ListApps, UpdateApp};
pub use audit::{AuditEvents, next_audit_page};
pub use revoke::Revoke;

use crate::config::ClientConfig;
use crate::error::Error;
use crate::launch_token::CreateLaunchToken;
use crate::session::{SharedSession, WithSession};

/// The operator's calls as flows, authenticated with the admin secret.
/// Cheap to clone: clones share the session.
#[derive(Clone, Debug)]
pub struct OperatorCore {
    config: ClientConfig,
    session: Arc<SharedSession>,
}

/// Declares an operator call: check the input once with a placeholder
/// token, then build the flow with the session's token.
macro_rules! operator_call {
    ($self:ident, $flow:ident :: $ctor:ident ($($arg:expr),*)) => {{
        let config = $self.config.clone();
        // Checks the input now, before any authentication.
        let _checked = $flow::$ctor(&config, &AccessToken::new("check") $(, &$arg)*)?;
        Ok($self.session.call(&$self.config, move |admin_token| {
            $flow::$ctor(&config, admin_token $(, &$arg)*)
        }))
    }};
}

impl OperatorCore {
    /// The operator at the broker of `config`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the secret is empty.
    pub fn new(config: ClientConfig, admin_secret: AdminSecret) -> Result<Self, Error> {
        Ok(OperatorCore {
            config,
            session: Arc::new(SharedSession::admin(admin_secret)?),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Registers an app.
    ///
    /// # Errors
    ///
    /// As [`CreateApp::new`].
    pub fn create_app(&self, request: CreateAppRequest) -> Result<WithSession<CreateApp>, Error> {
        operator_call!(self, CreateApp::new(request))
    }

    /// Lists the apps.
    ///
    /// # Errors
    ///
    /// None today; kept for symmetry.
    pub fn list_apps(&self) -> Result<WithSession<ListApps>, Error> {
        operator_call!(self, ListApps::new())
    }

    /// One app by id.
    ///
    /// # Errors
    ///
    /// As [`GetApp::new`].
    pub fn get_app(&self, app_id: &str) -> Result<WithSession<GetApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, GetApp::new(app_id))
    }

    /// Changes an app's scope ceiling and/or token TTL.
    ///
    /// # Errors
    ///
    /// As [`UpdateApp::new`].
    pub fn update_app(
        &self,
        app_id: &str,
        update: UpdateAppRequest,
    ) -> Result<WithSession<UpdateApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, UpdateApp::new(app_id, update))
    }

    /// Deregisters an app.
    ///
    /// # Errors
    ///
    /// As [`DeleteApp::new`].
    pub fn delete_app(&self, app_id: &str) -> Result<WithSession<DeleteApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, DeleteApp::new(app_id))
    }

    /// Mints a launch token with the operator's authority.
    ///
    /// # Errors
    ///
    /// As [`CreateLaunchToken::for_admin`].
    pub fn launch_token(
        &self,
        request: LaunchTokenRequest,
    ) -> Result<WithSession<CreateLaunchToken>, Error> {
        operator_call!(self, CreateLaunchToken::for_admin(request))
    }

    /// Revokes at `level` (token jti, agent id, task id or chain root).
    ///
    /// # Errors
    ///
    /// As [`Revoke::new`].
    pub fn revoke(
        &self,
        level: RevocationLevel,
        target: &str,
    ) -> Result<WithSession<Revoke>, Error> {
        let config = self.config.clone();
        let target = target.to_owned();
        let _checked = Revoke::new(&config, &AccessToken::new("check"), level, &target)?;
        Ok(self.session.call(&self.config, move |admin_token| {
            Revoke::new(&config, admin_token, level, &target)
        }))
    }

    /// One page of audit events.
    ///
    /// # Errors
    ///
    /// As [`AuditEvents::new`].
    pub fn audit_events(&self, query: AuditQuery) -> Result<WithSession<AuditEvents>, Error> {
        operator_call!(self, AuditEvents::new(query))
    }
}
