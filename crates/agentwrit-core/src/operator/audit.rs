//! Reading the audit trail with the admin token: [`AuditEvents`], one
//! page, and [`next_audit_page`] to page on.

use agentwrit_wire::{AccessToken, AuditEventsResponse, AuditQuery, paths};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::request::{Spec, check_token};

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
