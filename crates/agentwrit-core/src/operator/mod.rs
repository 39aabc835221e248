//! Operator calls (admin token): apps, launch tokens, revocation, audit.
//! Also the app-side launch token call.

use agentwrit_wire::{
    AccessToken, AppResponse, AuditEventsResponse, AuditQuery, CreateAppRequest,
    LaunchTokenRequest, LaunchTokenResponse, ListAppsResponse, RevocationLevel, RevokeRequest,
    RevokeResponse, UpdateAppRequest, paths,
};
use http::Method;

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token, path_segment};

fn app_path(app_id: &str) -> Result<String, Error> {
    input::non_empty("app_id", app_id)?;
    Ok(format!("{}/{}", paths::ADMIN_APPS, path_segment(app_id)))
}

fn check_scopes_and_ttl(scopes: Option<&[String]>, ttl: Option<i64>) -> Result<(), Error> {
    if let Some(scopes) = scopes {
        input::scopes("scopes", scopes)?;
    }
    if let Some(ttl) = ttl {
        input::app_token_ttl("token_ttl", ttl)?;
    }
    Ok(())
}

call_flow!(
    /// `POST /v1/admin/apps`: register an app. The 201 response is the only
    /// place its `client_secret` ever appears.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, CreateApp};
    /// use agentwrit_wire::{AccessToken, CreateAppRequest};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let admin = AccessToken::new("eyJ.admin.token");
    /// let ok = CreateAppRequest::new("conf-main", vec!["read:data:*".into()]).with_token_ttl(1800);
    /// assert!(CreateApp::new(&config, &admin, &ok).is_ok());
    /// let bad = CreateAppRequest::new("Conf_Main", vec!["read:data:*".into()]);
    /// assert!(CreateApp::new(&config, &admin, &bad).is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    CreateApp -> AppResponse
);

impl CreateApp {
    /// Registers the app described by `request`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: a name not matching
    /// `^[a-z][a-z0-9](?:-?[a-z0-9]+)*$`, no scopes or an invalid one
    /// (`scopes[i]`), a `token_ttl` outside 60..=86400, an empty admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        request: &CreateAppRequest,
    ) -> Result<Self, Error> {
        input::app_name("name", &request.name)?;
        input::scopes("scopes", &request.scopes)?;
        check_scopes_and_ttl(None, request.token_ttl)?;
        check_token("admin_token", admin_token)?;
        let prepared = Spec::post(paths::ADMIN_APPS)
            .bearer(admin_token)
            .json(request)?
            .prepare(config);
        Ok(CreateApp(Call::new(
            "create_app",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| {
                let reply = outcome?;
                let app: AppResponse = reply.json()?;
                if app.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
                    return Err(reply.malformed("client_secret is missing"));
                }
                Ok(app)
            },
        )))
    }
}

call_flow!(
    /// `GET /v1/admin/apps`: every registered app (without secrets).
    ListApps -> ListAppsResponse
);

impl ListApps {
    /// Lists the apps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty admin token.
    pub fn new(config: &ClientConfig, admin_token: &AccessToken) -> Result<Self, Error> {
        check_token("admin_token", admin_token)?;
        let prepared = Spec::get(paths::ADMIN_APPS)
            .bearer(admin_token)
            .prepare(config);
        Ok(ListApps(Call::new(
            "list_apps",
            config,
            prepared,
            Idempotency::Idempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

call_flow!(
    /// `GET /v1/admin/apps/{id}`: one app; unknown ids get a 404
    /// [`Error::Problem`].
    GetApp -> AppResponse
);

impl GetApp {
    /// Reads app `app_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty id or admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        app_id: &str,
    ) -> Result<Self, Error> {
        let path = app_path(app_id)?;
        check_token("admin_token", admin_token)?;
        let prepared = Spec::get(path).bearer(admin_token).prepare(config);
        Ok(GetApp(Call::new(
            "get_app",
            config,
            prepared,
            Idempotency::Idempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

call_flow!(
    /// `PUT /v1/admin/apps/{id}`: change an app's scope ceiling and/or
    /// token lifetime.
    UpdateApp -> AppResponse
);

impl UpdateApp {
    /// Applies `update` to app `app_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty id, an update that sets nothing,
    /// an empty or invalid scope list, a `token_ttl` outside 60..=86400, or
    /// an empty admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        app_id: &str,
        update: &UpdateAppRequest,
    ) -> Result<Self, Error> {
        let path = app_path(app_id)?;
        if update.scopes.is_none() && update.token_ttl.is_none() {
            return Err(Error::invalid_input(
                "update",
                "sets nothing; give scopes and/or token_ttl",
            ));
        }
        check_scopes_and_ttl(update.scopes.as_deref(), update.token_ttl)?;
        check_token("admin_token", admin_token)?;
        let prepared = Spec::post(path)
            .method(Method::PUT)
            .bearer(admin_token)
            .json(update)?
            .prepare(config);
        Ok(UpdateApp(Call::new(
            "update_app",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

call_flow!(
    /// `DELETE /v1/admin/apps/{id}`: deregister an app (the broker answers
    /// 200 even when it already was).
    DeleteApp -> AppResponse
);

impl DeleteApp {
    /// Deregisters app `app_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty id or admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        app_id: &str,
    ) -> Result<Self, Error> {
        let path = app_path(app_id)?;
        check_token("admin_token", admin_token)?;
        let prepared = Spec::get(path)
            .method(Method::DELETE)
            .bearer(admin_token)
            .prepare(config);
        Ok(DeleteApp(Call::new(
            "delete_app",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

call_flow!(
    /// `POST /v1/app/launch-tokens` (app token, within the app's scope
    /// ceiling) or `POST /v1/admin/launch-tokens` (admin token, no
    /// ceiling): a launch token an agent registers with. [`CreateAgent`](crate::CreateAgent)
    /// does this itself; use this flow to hand a launch token to an agent
    /// that registers on its own.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, CreateLaunchToken};
    /// use agentwrit_wire::{AccessToken, LaunchTokenRequest};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let request = LaunchTokenRequest::new("worker", vec!["read:data:*".into()]).with_max_ttl(300);
    /// assert!(CreateLaunchToken::for_app(&config, &AccessToken::new("eyJ.app.token"), &request).is_ok());
    /// assert!(CreateLaunchToken::for_admin(&config, &AccessToken::new("eyJ.admin.token"), &request).is_ok());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    CreateLaunchToken -> LaunchTokenResponse
);

impl CreateLaunchToken {
    /// A launch token minted by an app, inside its ceiling.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: empty `agent_name`, no scope or an invalid
    /// one (`allowed_scope[i]`), a non-positive `max_ttl` or `ttl`, or an
    /// empty token.
    pub fn for_app(
        config: &ClientConfig,
        app_token: &AccessToken,
        request: &LaunchTokenRequest,
    ) -> Result<Self, Error> {
        Self::build(
            config,
            app_token,
            request,
            paths::APP_LAUNCH_TOKENS,
            "app_launch_token",
        )
    }

    /// A launch token minted by the operator, with no app ceiling.
    ///
    /// # Errors
    ///
    /// As [`CreateLaunchToken::for_app`].
    pub fn for_admin(
        config: &ClientConfig,
        admin_token: &AccessToken,
        request: &LaunchTokenRequest,
    ) -> Result<Self, Error> {
        Self::build(
            config,
            admin_token,
            request,
            paths::ADMIN_LAUNCH_TOKENS,
            "admin_launch_token",
        )
    }

    fn build(
        config: &ClientConfig,
        token: &AccessToken,
        request: &LaunchTokenRequest,
        path: &'static str,
        name: &'static str,
    ) -> Result<Self, Error> {
        input::non_empty("agent_name", &request.agent_name)?;
        input::scopes("allowed_scope", &request.allowed_scope)?;
        if let Some(max_ttl) = request.max_ttl {
            input::positive_seconds("max_ttl", max_ttl)?;
        }
        if let Some(ttl) = request.ttl {
            input::positive_seconds("ttl", ttl)?;
        }
        check_token("access_token", token)?;
        let prepared = Spec::post(path)
            .bearer(token)
            .json(request)?
            .prepare(config);
        Ok(CreateLaunchToken(Call::new(
            name,
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| {
                let reply = outcome?;
                let r: LaunchTokenResponse = reply.json()?;
                if r.launch_token.is_empty() {
                    return Err(reply.malformed("launch_token is empty"));
                }
                Ok(r)
            },
        )))
    }
}

call_flow!(
    /// `POST /v1/revoke`: revoke by token (jti), agent (SPIFFE id), task id
    /// or chain (root agent id).
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Revoke};
    /// use agentwrit_wire::{AccessToken, RevocationLevel};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let admin = AccessToken::new("eyJ.admin.token");
    /// assert!(Revoke::new(&config, &admin, RevocationLevel::Task, "conf-task").is_ok());
    /// assert!(Revoke::new(&config, &admin, RevocationLevel::Token, "").is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Revoke -> RevokeResponse
);

impl Revoke {
    /// Revokes `target` at `level`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty target or admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        level: RevocationLevel,
        target: &str,
    ) -> Result<Self, Error> {
        input::non_empty("target", target)?;
        check_token("admin_token", admin_token)?;
        let body = RevokeRequest::new(level, target);
        let prepared = Spec::post(paths::REVOKE)
            .bearer(admin_token)
            .json(&body)?
            .prepare(config);
        Ok(Revoke(Call::new(
            "revoke",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

call_flow!(
    /// `GET /v1/audit/events`: one page of the audit trail. Page on with
    /// [`next_audit_page`].
    ///
    /// ```
    /// use agentwrit_core::{AuditEvents, ClientConfig, Flow, Step};
    /// use agentwrit_wire::{AccessToken, AuditQuery};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let query = AuditQuery::new().event_type("token_released").limit(50);
    /// let mut flow = AuditEvents::new(&config, &AccessToken::new("eyJ.admin.token"), &query)?;
    /// let Step::Send(request) = flow.start(std::time::UNIX_EPOCH) else { unreachable!() };
    /// assert_eq!(request.uri(), "http://127.0.0.1:8080/v1/audit/events?event_type=token_released&limit=50");
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    AuditEvents -> AuditEventsResponse
);

impl AuditEvents {
    /// Queries the audit trail.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `limit` outside 1..=1000 or an empty
    /// admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        query: &AuditQuery,
    ) -> Result<Self, Error> {
        if let Some(limit) = query.limit
            && !(1..=1000).contains(&limit)
        {
            return Err(Error::invalid_input(
                "limit",
                format!("must be between 1 and 1000, got {limit}"),
            ));
        }
        check_token("admin_token", admin_token)?;
        let prepared = Spec::get(paths::AUDIT_EVENTS)
            .query(query.to_query_string())
            .bearer(admin_token)
            .prepare(config);
        Ok(AuditEvents(Call::new(
            "audit_events",
            config,
            prepared,
            Idempotency::Idempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}

/// The query for the page after `page` (same filters and limit, offset
/// moved past the events received), or `None` when `page` was the last
/// one (or empty).
///
/// ```
/// use agentwrit_core::next_audit_page;
/// use agentwrit_wire::{AuditEventsResponse, AuditQuery};
///
/// let query = AuditQuery::new().limit(2);
/// let page: AuditEventsResponse = serde_json::from_str(
///     r#"{"events":[{"id":"evt-000001","timestamp":"2026-11-21T23:40:34Z","event_type":"a"},
///                   {"id":"evt-000002","timestamp":"2026-11-21T23:40:35Z","event_type":"b"}],
///         "total":3,"offset":0,"limit":2}"#)?;
/// let next = next_audit_page(&query, &page).unwrap();
/// assert_eq!(next.to_query_string(), "limit=2&offset=2");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[must_use]
pub fn next_audit_page(query: &AuditQuery, page: &AuditEventsResponse) -> Option<AuditQuery> {
    if page.events.is_empty() {
        return None;
    }
    let received = u64::try_from(page.events.len()).ok()?;
    let seen = page.offset.checked_add(received)?;
    if seen >= page.total {
        return None;
    }
    let mut next = query.clone();
    next.offset = Some(u32::try_from(seen).ok()?);
    Some(next)
}
