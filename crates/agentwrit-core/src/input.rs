//! Checks on the caller's input, run before any request is built, so a
//! mistake is reported by name instead of costing a broker round trip (or,
//! mid-ceremony, a consumed nonce).

use agentwrit_scope::Scope;

use crate::error::Error;

/// The longest orchestrator id `CreateAgent`
/// accepts, in bytes. The ids become path segments of the agent's SPIFFE
/// id, which every token of the agent (and every delegation record) carries.
pub const MAX_ORCH_ID_LEN: usize = 64;
/// The longest task id, in bytes (also a segment of the SPIFFE id).
pub const MAX_TASK_ID_LEN: usize = 128;
/// The longest agent label (the launch token's `agent_name`), in bytes.
pub const MAX_LABEL_LEN: usize = 128;
/// The longest scope entry (`action:resource:identifier`), in bytes, asked
/// for an agent or delegated.
pub const MAX_SCOPE_LEN: usize = 64;
/// The most scope entries an agent may ask for, or a delegation hand on.
pub const MAX_SCOPES: usize = 16;
/// The longest delegate id (the SPIFFE id a token is delegated to), in
/// bytes: an SDK agent's id with the longest orch and task ids is 241
/// bytes under the default trust domain.
pub const MAX_DELEGATE_ID_LEN: usize = 256;

/// At most `max` bytes.
pub(crate) fn at_most(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(Error::invalid_input(
            field,
            format!("is {} bytes long; at most {max} are allowed", value.len()),
        ));
    }
    Ok(())
}

/// A scope list for an agent or a delegation: as [`scopes`], with at most
/// [`MAX_SCOPES`] entries of at most [`MAX_SCOPE_LEN`] bytes each.
pub(crate) fn bounded_scopes<S: AsRef<str>>(field: &str, list: &[S]) -> Result<(), Error> {
    if list.len() > MAX_SCOPES {
        return Err(Error::invalid_input(
            field,
            format!(
                "has {} entries; at most {MAX_SCOPES} are allowed",
                list.len()
            ),
        ));
    }
    for (i, s) in list.iter().enumerate() {
        at_most(&format!("{field}[{i}]"), s.as_ref(), MAX_SCOPE_LEN)?;
    }
    scopes(field, list)
}

/// Non-empty.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    Ok(())
}

/// A non-empty list of valid `action:resource:identifier` scopes, parsed
/// with `agentwrit-scope`; the error names the index (`scope[1]`).
pub(crate) fn scopes<S: AsRef<str>>(field: &str, scopes: &[S]) -> Result<(), Error> {
    if scopes.is_empty() {
        return Err(Error::invalid_input(
            field,
            "at least one scope is required",
        ));
    }
    for (i, s) in scopes.iter().enumerate() {
        if let Err(e) = Scope::parse(s.as_ref()) {
            return Err(Error::invalid_input(format!("{field}[{i}]"), e.to_string()));
        }
    }
    Ok(())
}

/// A positive number of seconds.
pub(crate) fn positive_seconds(field: &str, seconds: i64) -> Result<(), Error> {
    if seconds <= 0 {
        return Err(Error::invalid_input(
            field,
            format!("must be a positive number of seconds, got {seconds}"),
        ));
    }
    Ok(())
}

/// Whole seconds for the broker, rounded up: a `Duration` the SDK was
/// handed for a TTL (checked afterwards with [`positive_seconds`]). The
/// wire crate's rule, so that every TTL rounds the same way.
pub(crate) use agentwrit_wire::whole_seconds as ttl_seconds;

/// An orch or task id: it becomes a SPIFFE path segment, so (as the
/// broker's SPIFFE library demands) non-empty, only `A-Z a-z 0-9 . - _`,
/// and not `.` or `..`. The broker would otherwise fail the registration
/// with a 500 after consuming the launch token.
pub(crate) fn spiffe_segment(field: &str, value: &str) -> Result<(), Error> {
    non_empty(field, value)?;
    if value == "." || value == ".." {
        return Err(Error::invalid_input(field, "must not be `.` or `..`"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "contains {c:?}; a SPIFFE path segment allows only letters, digits, `.`, `-` and `_`"
            ),
        ));
    }
    Ok(())
}

/// An app token TTL: 60..=86400 seconds (the broker's `invalid_ttl` range).
pub(crate) fn app_token_ttl(field: &str, seconds: i64) -> Result<(), Error> {
    if !(60..=86_400).contains(&seconds) {
        return Err(Error::invalid_input(
            field,
            format!("must be between 60 and 86400 seconds, got {seconds}"),
        ));
    }
    Ok(())
}

/// An app name: `^[a-z][a-z0-9](?:-?[a-z0-9]+)*$` (at least two
/// characters, lower case, single hyphens between alphanumerics).
pub(crate) fn app_name(field: &str, name: &str) -> Result<(), Error> {
    let b = name.as_bytes();
    let lower_alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = b.len() >= 2
        && b.first().is_some_and(u8::is_ascii_lowercase)
        && b.iter().all(|c| lower_alnum(c) || *c == b'-')
        && b.last().is_some_and(lower_alnum)
        && b.get(1).is_some_and(lower_alnum)
        && !name.contains("--");
    if !ok {
        return Err(Error::invalid_input(
            field,
            "must match ^[a-z][a-z0-9](?:-?[a-z0-9]+)*$ (lower case letters and digits, single hyphens, at least 2 characters)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_the_culprit() {
        assert!(scopes("scope", &["read:data:*"]).is_ok());
        let e = scopes("scope", &["read:data:*", "read:data:"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid input: scope[1]: {}",
                agentwrit_scope::ScopeError::EmptyIdentifier
            )
        );
        let e = scopes::<&str>("scope", &[]).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { field, .. } if field == "scope"));
    }

    #[test]
    fn segments() {
        for ok in ["conf-orch", "t.1_2", "A"] {
            assert!(spiffe_segment("orch_id", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a:b"] {
            assert!(spiffe_segment("orch_id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_names_follow_the_broker_regex() {
        for ok in ["conf-main", "ab", "a1", "ab-c-d", "x9-y8"] {
            assert!(app_name("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "A1", "1a", "a-", "-a", "a-b", "ab--c", "a_b", "ab-", "ab-c-",
        ] {
            assert!(app_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttls() {
        assert!(positive_seconds("max_ttl", 1).is_ok());
        assert!(positive_seconds("max_ttl", 0).is_err());
        assert!(app_token_ttl("token_ttl", 60).is_ok());
        assert!(app_token_ttl("token_ttl", 86_401).is_err());
    }
}
