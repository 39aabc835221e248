//! Managing apps with the admin token: [`CreateApp`], [`ListApps`],
//! [`GetApp`], [`UpdateApp`] and [`DeleteApp`].

use agentwrit_wire::{
    AccessToken, AppResponse, CreateAppRequest, ListAppsResponse, UpdateAppRequest, paths,
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
    /// let ok = CreateAppRequest::new("conf-main", vec!["read:data:*".into()]).with_token_ttl(std::time::Duration::from_secs(1800));
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
