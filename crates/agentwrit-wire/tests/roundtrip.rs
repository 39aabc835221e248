//! Round-trips of every body captured from the real broker, of the
//! contract's examples, and of bodies with absent and unknown fields.

use agentwrit_test_support::captures;
use agentwrit_wire::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The members of response bodies that hold a secret.
const SECRET_MEMBERS: [&str; 3] = ["access_token", "client_secret", "launch_token"];

/// `body` with the value of every secret member replaced by `"<redacted>"`
/// as Go's encoder writes it (the values are hex or JWTs: no quotes or
/// escapes inside).
fn redacted(body: &str) -> String {
    let shown = String::from_utf8(to_go_json(REDACTED).unwrap()).unwrap();
    let shown = shown.trim_matches('"');
    let mut out = body.to_owned();
    for member in SECRET_MEMBERS {
        let key = format!("\"{member}\":\"");
        let mut from = 0;
        while let Some(at) = out[from..].find(&key) {
            let start = from + at + key.len();
            let end = start + out[start..].find('"').unwrap();
            out.replace_range(start..end, shown);
            from = start + shown.len();
        }
    }
    out
}

/// Decodes `body` as `T`, re-encodes it the Go way and demands the same
/// bytes, secrets aside: a response type writes every secret as
/// `"<redacted>"`.
fn exact<T: Serialize + DeserializeOwned>(number: u32, body: &str) -> T {
    let value: T = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("case {number}: decode failed: {e}\n{body}"));
    let again = to_go_json(&value).unwrap();
    assert_eq!(
        String::from_utf8(again).unwrap(),
        redacted(body),
        "case {number}: re-encoding differs"
    );
    value
}

#[test]
fn every_captured_body_round_trips_byte_exact() {
    let all = captures();
    assert_eq!(all.len(), 78, "expected 78 captured cases");
    let mut checked = 0;
    for c in &all {
        if c.is_problem() {
            let p: ProblemDetail = exact(c.number, &c.body);
            assert_eq!(p.status, c.status, "case {}", c.number);
            assert_eq!(p.title, status_text(c.status), "case {}", c.number);
            assert_eq!(p.instance, c.path.split('?').next().unwrap());
            let code = p.error_code.clone().unwrap();
            assert!(
                !matches!(code, ErrorCode::Other(_)),
                "case {}: unknown code {code}",
                c.number
            );
            assert_eq!(p.problem_type, format!("urn:agentwrit:error:{code}"));
            assert_eq!(p.code(), Some(code));
            checked += 1;
            continue;
        }
        if c.status == 204 {
            assert!(c.body.is_empty());
            checked += 1;
            continue;
        }
        let route = (c.method.as_str(), c.path.split('?').next().unwrap());
        match route {
            ("GET", "/v1/health") => {
                let h: HealthResponse = exact(c.number, &c.body);
                assert_eq!(h.version, "2.0.0");
            }
            ("GET", "/v1/challenge") => {
                let ch: ChallengeResponse = exact(c.number, &c.body);
                assert_eq!(ch.nonce.len(), 64);
                assert_eq!(ch.expires_in, 30);
            }
            ("POST", "/v1/admin/auth") => {
                let r: AdminAuthResponse = exact(c.number, &c.body);
                assert_eq!(r.expires_in, 300);
            }
            ("POST", "/v1/app/auth") => {
                let r: AppAuthResponse = exact(c.number, &c.body);
                assert_eq!(r.scopes.len(), 3);
            }
            ("POST", "/v1/admin/apps") => {
                let r: AppResponse = exact(c.number, &c.body);
                assert_eq!(r.client_secret.as_ref().unwrap().len(), 64);
                assert_eq!(r.name, "");
                assert_eq!(r.status, "");
            }
            ("GET", "/v1/admin/apps") => {
                let r: ListAppsResponse = exact(c.number, &c.body);
                assert_eq!(r.total, 2);
                assert!(r.apps.iter().all(|a| a.client_secret.is_none()));
            }
            ("GET" | "PUT" | "DELETE", p) if p.starts_with("/v1/admin/apps/") => {
                let r: AppResponse = exact(c.number, &c.body);
                assert!(r.client_secret.is_none());
                if c.method == "DELETE" {
                    assert_eq!(r.status, "inactive");
                    assert!(r.deregistered_at.is_some());
                    assert!(r.scopes.is_none());
                }
            }
            ("POST", "/v1/app/launch-tokens" | "/v1/admin/launch-tokens") => {
                let r: LaunchTokenResponse = exact(c.number, &c.body);
                assert_eq!(r.launch_token.len(), 64);
            }
            ("POST", "/v1/register") => {
                let r: RegisterResponse = exact(c.number, &c.body);
                assert!(r.agent_id.starts_with("spiffe://agentwrit.local/agent/"));
            }
            ("POST", "/v1/token/validate") => {
                let r: ValidateResponse = exact(c.number, &c.body);
                assert_eq!(r.valid, r.claims.is_some());
                assert_eq!(!r.valid, r.error.is_some());
            }
            ("POST", "/v1/token/renew") => {
                let _: RenewResponse = exact(c.number, &c.body);
            }
            ("POST", "/v1/delegate") => {
                let r: DelegateResponse = exact(c.number, &c.body);
                assert_eq!(r.delegation_chain.len(), 1);
                assert_eq!(
                    r.delegation_chain[0].delegated_at.as_str(),
                    "2026-11-21T23:40:37.532418148Z"
                );
            }
            ("POST", "/v1/revoke") => {
                let r: RevokeResponse = exact(c.number, &c.body);
                assert!(r.revoked);
            }
            ("GET", "/v1/audit/events") => {
                let r: AuditEventsResponse = exact(c.number, &c.body);
                assert!(!r.events.is_empty());
            }
            other => panic!("case {}: no type for {other:?}", c.number),
        }
        checked += 1;
    }
    assert_eq!(checked, 78);
}

/// Decodes the claims segment of every JWT captured, re-encodes it the Go
/// way and demands the same bytes (the broker signs those bytes).
#[test]
fn captured_jwt_claims_and_headers_round_trip() {
    use base64_url::decode;
    let mut seen = 0;
    for c in captures() {
        for token in c.body.split('"').filter(|s| s.starts_with("eyJ")) {
            let parts: Vec<&str> = token.split('.').collect();
            assert_eq!(parts.len(), 3);
            let header = decode(parts[0]);
            let h: JwtHeader = exact(c.number, std::str::from_utf8(&header).unwrap());
            assert_eq!(h.alg, "EdDSA");
            assert_eq!(h.kid.as_deref().map(str::len), Some(43));
            let payload = decode(parts[1]);
            let claims: Claims = exact(c.number, std::str::from_utf8(&payload).unwrap());
            assert_eq!(claims.jti.len(), 32);
            if let Some(chain) = &claims.delegation_chain {
                assert_eq!(claims.delegation_depth(), chain.len());
                assert_eq!(
                    chain[0].signing_input(),
                    "spiffe://agentwrit.local/agent/conf-orch/conf-task/2895b0eaef6fea3e|read:data:*|2026-11-21T23:40:37.532418148Z"
                );
            }
            seen += 1;
        }
    }
    assert!(seen >= 6, "saw {seen} tokens");
}

/// A tiny base64url decoder so this test needs no extra dependency.
mod base64_url {
    pub(crate) fn decode(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for b in s.bytes() {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => panic!("not base64url"),
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}

#[test]
fn contract_examples_decode() {
    let problem = r#"{"type":"urn:agentwrit:error:forbidden","title":"Forbidden","status":403,"detail":"requested scopes exceed app ceiling; allowed: [read:data:*]","instance":"/v1/app/launch-tokens","error_code":"forbidden","request_id":"9b28ae46f75a27bc","hint":"ask the operator"}"#;
    let p: ProblemDetail = exact(0, problem);
    assert_eq!(p.hint.as_deref(), Some("ask the operator"));
    assert_eq!(
        p.to_string(),
        "403 Forbidden [forbidden]: requested scopes exceed app ceiling; allowed: [read:data:*] (hint: ask the operator) (request_id 9b28ae46f75a27bc)"
    );

    let lt = LaunchTokenRequest::new("orch/task", vec!["read:data:x".into()])
        .with_max_ttl(std::time::Duration::from_secs(300))
        .with_single_use(true);
    assert_eq!(
        serde_json::to_string(&lt).unwrap(),
        r#"{"agent_name":"orch/task","allowed_scope":["read:data:x"],"max_ttl":300,"single_use":true}"#
    );
    let d = DelegateRequest::new("spiffe://x", vec!["read:data:x".into()], None);
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"{"delegate_to":"spiffe://x","scope":["read:data:x"]}"#
    );
    let r = RevokeRequest::new(RevocationLevel::Chain, "spiffe://x");
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"level":"chain","target":"spiffe://x"}"#
    );
    assert_eq!(r.parsed_level(), Some(RevocationLevel::Chain));
    let galaxy: RevokeRequest = serde_json::from_str(r#"{"level":"galaxy","target":"x"}"#).unwrap();
    assert_eq!(galaxy.parsed_level(), None);
    let app = CreateAppRequest::new("conf-main", vec!["read:data:*".into()])
        .with_token_ttl(std::time::Duration::from_secs(900));
    assert_eq!(
        serde_json::to_string(&app).unwrap(),
        r#"{"name":"conf-main","scopes":["read:data:*"],"token_ttl":900}"#
    );
    let up = UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(1200));
    assert_eq!(serde_json::to_string(&up).unwrap(), r#"{"token_ttl":1200}"#);
}

#[test]
fn requests_tolerate_absent_fields() {
    // A server decodes these and reports the missing field itself.
    let r: RegisterRequest = serde_json::from_str("{}").unwrap();
    assert!(r.launch_token.is_empty() && r.requested_scope.is_empty());
    let r: RegisterRequest = serde_json::from_str(r#"{"requested_scope":null}"#).unwrap();
    assert!(r.requested_scope.is_empty());
    let a: AppAuthRequest = serde_json::from_str(r#"{"client_id":"x"}"#).unwrap();
    assert!(a.client_secret.is_empty());
    let v: ValidateRequest = serde_json::from_str("{}").unwrap();
    assert!(v.token.is_empty());
    let lt: LaunchTokenRequest = serde_json::from_str(r#"{"agent_name":"a"}"#).unwrap();
    assert_eq!((lt.max_ttl, lt.single_use, lt.ttl), (None, None, None));
}

#[test]
fn problem_detail_tolerates_missing_and_unknown_fields() {
    let p: ProblemDetail = serde_json::from_str("{}").unwrap();
    assert_eq!(p, ProblemDetail::default());
    assert_eq!(p.code(), None);
    let p: ProblemDetail = serde_json::from_str(
        r#"{"type":"urn:agentwrit:error:not_found","status":404,"extra":[1,2],"nested":{"a":1}}"#,
    )
    .unwrap();
    assert_eq!(p.code(), Some(ErrorCode::NotFound));
    assert_eq!(p.extensions.len(), 2);
    // Unknown members survive a round trip.
    let again = serde_json::to_string(&p).unwrap();
    assert!(again.contains(r#""extra":[1,2]"#));
    let p: ProblemDetail =
        serde_json::from_str(r#"{"error_code":"quantum_flux","status":418}"#).unwrap();
    assert_eq!(p.code(), Some(ErrorCode::Other("quantum_flux".into())));
    assert_eq!(p.to_string(), "418 [quantum_flux]");
}

#[test]
fn claims_optional_fields_absent_and_unknown() {
    let minimal = r#"{"iss":"","sub":"admin","exp":1,"nbf":1,"iat":1,"jti":"x","scope":null}"#;
    let c: Claims = serde_json::from_str(minimal).unwrap();
    assert!(c.scope.is_empty());
    assert!(c.aud.is_none() && c.sid.is_none() && c.task_id.is_none());
    let unknown = r#"{"sub":"a","jti":"b","exp":2,"scope":["a:b:c"],"future_claim":true,"aud":["x"],"sid":"s"}"#;
    let c: Claims = serde_json::from_str(unknown).unwrap();
    assert_eq!(c.aud.as_deref(), Some(&["x".to_owned()][..]));
    assert_eq!(c.sid.as_deref(), Some("s"));
    assert_eq!(c.iss, "");
}

#[test]
fn delegation_timestamps_round_trip_byte_exact() {
    for ts in [
        "2026-11-21T23:40:37.532418148Z",
        "2026-11-21T23:40:37.5Z",
        "2026-11-21T23:40:37Z",
        "2026-11-21T23:40:37.000000001Z",
        "2026-11-22T00:40:37.120+01:00",
    ] {
        let json = format!(
            r#"{{"agent":"spiffe://a","scope":["read:data:*"],"delegated_at":"{ts}","signature":"ab"}}"#
        );
        let r: DelegationRecord = exact(0, &json);
        assert_eq!(r.delegated_at.as_str(), ts);
    }
    let bad = r#"{"agent":"a","scope":[],"delegated_at":"yesterday"}"#;
    assert!(serde_json::from_str::<DelegationRecord>(bad).is_err());
}

#[test]
fn go_json_escapes_like_go() {
    let r = DelegationRecord::new(
        "spiffe://a/<b>&c\u{2028}\u{2029}",
        vec!["read:data:x&y".into()],
        Timestamp::from_unix_nanos(1),
    );
    let bytes = to_go_json(&r).unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"agent":"spiffe://a/\u003cb\u003e\u0026c\u2028\u2029","scope":["read:data:x\u0026y"],"delegated_at":"1970-01-01T00:00:00.000000001Z"}"#
    );
    // And it still decodes to the same value.
    let back: DelegationRecord = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, r);
}

#[test]
fn secrets_never_appear_in_debug() {
    const SECRET: &str = "s3cr3t-4ca1b20858707d760ea8e9bf0ac0b330";
    let debugs = [
        format!("{:?}", ClientSecret::new(SECRET)),
        format!("{:?}", AdminSecret::new(SECRET)),
        format!("{:?}", AccessToken::new(SECRET)),
        format!("{:?}", LaunchToken::new(SECRET)),
        format!("{:?}", AdminAuthRequest::new(AdminSecret::new(SECRET))),
        format!(
            "{:#?}",
            AppAuthRequest::new("cid", ClientSecret::new(SECRET))
        ),
        format!("{:?}", ValidateRequest::new(AccessToken::new(SECRET))),
        format!(
            "{:?}",
            RegisterRequest::new(LaunchToken::new(SECRET), "n", "k", "s", "o", "t", vec![])
        ),
        format!(
            "{:?}",
            serde_json::from_str::<AppResponse>(&format!(r#"{{"client_secret":"{SECRET}"}}"#))
                .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<AdminAuthResponse>(&format!(
                r#"{{"access_token":"{SECRET}","expires_in":1}}"#
            ))
            .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<AppAuthResponse>(&format!(
                r#"{{"access_token":"{SECRET}","expires_in":1}}"#
            ))
            .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<LaunchTokenResponse>(&format!(
                r#"{{"launch_token":"{SECRET}","expires_at":"2026-11-21T23:41:07Z","policy":{{}}}}"#
            ))
            .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<RegisterResponse>(&format!(
                r#"{{"agent_id":"a","access_token":"{SECRET}","expires_in":1}}"#
            ))
            .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<RenewResponse>(&format!(
                r#"{{"access_token":"{SECRET}","expires_in":1}}"#
            ))
            .unwrap()
        ),
        format!(
            "{:?}",
            serde_json::from_str::<DelegateResponse>(&format!(
                r#"{{"access_token":"{SECRET}","expires_in":1,"delegation_chain":[]}}"#
            ))
            .unwrap()
        ),
    ];
    for d in &debugs {
        assert!(!d.contains(SECRET), "secret leaked: {d}");
        assert!(!d.contains("s3cr3t"), "secret leaked: {d}");
    }
    assert!(debugs.iter().all(|d| d.contains("<redacted>")));
    // The accessor is the only way in.
    let t = AccessToken::new(SECRET);
    assert_eq!(t.expose_secret(), SECRET);
    assert!(AccessToken::new("a") != AccessToken::new("b"));
    assert!(ClientSecret::new("same") == ClientSecret::new("same"));
}

#[test]
fn a_health_body_without_status_is_not_a_health_answer() {
    for body in [
        "{}",
        r#"{"token":"x"}"#,
        r#"{"version":"2.0.0","uptime":1}"#,
        "[]",
        "null",
    ] {
        assert!(
            serde_json::from_str::<HealthResponse>(body).is_err(),
            "{body} decoded as health"
        );
    }
    // The other members stay optional, so a trimmed-down broker still decodes.
    let h: HealthResponse = serde_json::from_str(r#"{"status":"ok"}"#).unwrap();
    assert_eq!(h.status, "ok");
    assert_eq!(h.version, "");
}

#[test]
fn responses_serialise_their_secrets_redacted_requests_carry_them() {
    const SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    // An app registration answer, as the broker sends it once.
    let created: AppResponse = serde_json::from_str(&format!(
        r#"{{"app_id":"app-billing-1","name":"billing","client_id":"bl-1","client_secret":"{SECRET}","scopes":["read:data:*"],"token_ttl":1800,"status":"active","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}"#
    ))
    .unwrap();
    assert_eq!(
        created
            .client_secret
            .as_ref()
            .map(ClientSecret::expose_secret),
        Some(SECRET)
    );
    let logged = serde_json::to_string(&created).unwrap();
    assert!(!logged.contains(SECRET), "{logged}");
    assert!(
        logged.contains(r#""client_secret":"<redacted>""#),
        "{logged}"
    );
    // Tokens in answers too.
    let renewed: RenewResponse = serde_json::from_str(&format!(
        r#"{{"access_token":"{SECRET}","expires_in":300}}"#
    ))
    .unwrap();
    assert!(!serde_json::to_string(&renewed).unwrap().contains(SECRET));
    // Whatever thread serialises them, and through Go's encoder too.
    let elsewhere = std::thread::spawn(move || serde_json::to_string(&created).unwrap())
        .join()
        .unwrap();
    assert!(!elsewhere.contains(SECRET), "{elsewhere}");
    let go = String::from_utf8(to_go_json(&renewed).unwrap()).unwrap();
    assert_eq!(
        go,
        r#"{"access_token":"\u003credacted\u003e","expires_in":300}"#
    );
    // Request bodies exist to carry their secret to the broker.
    let auth = AppAuthRequest::new("bl-1", ClientSecret::new(SECRET));
    assert!(serde_json::to_string(&auth).unwrap().contains(SECRET));
}
