//! App management by the admin: `/v1/admin/apps`.

use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;
use crate::time::Timestamp;
use crate::util::null_as_default;

/// `POST /v1/admin/apps` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateAppRequest {
    /// Lower-case name matching `^[a-z][a-z0-9](?:-?[a-z0-9]+)*$`.
    #[serde(default)]
    pub name: String,
    /// The app's scope ceiling.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
    /// App token lifetime in seconds, 60..=86400 (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<i64>,
}

impl CreateAppRequest {
    /// A request for an app `name` with ceiling `scopes`.
    #[must_use]
    pub fn new(name: impl Into<String>, scopes: Vec<String>) -> Self {
        CreateAppRequest {
            name: name.into(),
            scopes,
            token_ttl: None,
        }
    }

    /// Sets the app token lifetime (whole seconds on the wire, rounded up).
    #[must_use]
    pub fn with_token_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.token_ttl = Some(crate::util::whole_seconds(ttl));
        self
    }
}

/// An app as the broker reports it: the body of `POST /v1/admin/apps`
/// (201, with `client_secret`), `GET`/`PUT /v1/admin/apps/{id}`,
/// `DELETE /v1/admin/apps/{id}` (with `deregistered_at`) and each element of
/// the list.
///
/// The real broker's quirks are representable: the create response carries
/// `"name":""` and `"status":""`, the delete response `"scopes":null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppResponse {
    /// `app-{name}-{6 hex}`.
    #[serde(default)]
    pub app_id: String,
    /// The app's name (empty in the create and delete responses).
    #[serde(default)]
    pub name: String,
    /// The client id used at `POST /v1/app/auth`.
    #[serde(default)]
    pub client_id: String,
    /// The client secret: present only in the create response, once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::secret::serialize_redacted_option"
    )]
    pub client_secret: Option<ClientSecret>,
    /// The app's scope ceiling; `None` when the broker sends `null` (the
    /// delete response does).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// App token lifetime in seconds.
    #[serde(default)]
    pub token_ttl: i64,
    /// `active`, `inactive`, or empty in the create response.
    #[serde(default)]
    pub status: String,
    /// When the app was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the app was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// When the app was deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<Timestamp>,
}

/// `GET /v1/admin/apps` → 200.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListAppsResponse {
    /// Every registered app, newest name order as the broker gives it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub apps: Vec<AppResponse>,
    /// The number of apps.
    #[serde(default)]
    pub total: u64,
}

/// `PUT /v1/admin/apps/{id}` request: at least one field must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateAppRequest {
    /// A new scope ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// A new app token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<i64>,
}

impl UpdateAppRequest {
    /// An update that changes nothing yet; set fields with the builders.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the scope ceiling.
    #[must_use]
    pub fn scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Replaces the app token lifetime (whole seconds on the wire, rounded
    /// up).
    #[must_use]
    pub fn token_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.token_ttl = Some(crate::util::whole_seconds(ttl));
        self
    }
}

impl Default for AppResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppResponse {
            app_id: Default::default(),
            name: Default::default(),
            client_id: Default::default(),
            client_secret: Default::default(),
            scopes: Default::default(),
            token_ttl: Default::default(),
            status: Default::default(),
            created_at: Default::default(),
            updated_at: Default::default(),
            deregistered_at: Default::default(),
        }
    }
}

impl IntoIterator for ListAppsResponse {
    type Item = AppResponse;
    type IntoIter = std::vec::IntoIter<AppResponse>;

    /// The apps, in the broker's order.
    fn into_iter(self) -> Self::IntoIter {
        self.apps.into_iter()
    }
}

impl<'a> IntoIterator for &'a ListAppsResponse {
    type Item = &'a AppResponse;
    type IntoIter = core::slice::Iter<'a, AppResponse>;

    /// The apps, in the broker's order.
    fn into_iter(self) -> Self::IntoIter {
        self.apps.iter()
    }
}

impl ListAppsResponse {
    /// The apps, in the broker's order.
    ///
    /// ```
    /// use agentwrit_wire::ListAppsResponse;
    /// let listed: ListAppsResponse = serde_json::from_str(r#"{"apps":[],"total":0}"#).unwrap();
    /// assert_eq!(listed.iter().count(), 0);
    /// for app in &listed {
    ///     println!("{}", app.name);
    /// }
    /// ```
    pub fn iter(&self) -> core::slice::Iter<'_, AppResponse> {
        self.apps.iter()
    }

    /// How many apps the answer holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// True when the broker has no apps.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }
}
