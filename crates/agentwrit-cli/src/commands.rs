//! The commands other than `run`: token, scope, app, revoke, audit.

use std::io::Read as _;
use std::time::Duration;

use agentwrit_async::sansio::decode_claims;
use agentwrit_async::wire::{
    AccessToken, AuditEvent, AuditQuery, CreateAppRequest, RevocationLevel, Timestamp,
    UpdateAppRequest,
};
use agentwrit_async::{ReleaseOutcome, Validation, scope_is_subset};
use serde_json::{Value, json};

use crate::cli::{AppCommand, AuditArgs, Level, RevokeArgs, TokenArg};
use crate::connect;
use crate::error::{CliError, code};
use crate::output::{Out, table};
use crate::time::rfc3339_unix;

fn token_from(arg: &TokenArg) -> Result<AccessToken, CliError> {
    let text = match arg.token.as_deref() {
        Some("-") => {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .map_err(|e| CliError::io("reading the token from standard input", e))?;
            buf
        }
        Some(token) => token.to_owned(),
        None => std::env::var("AGENTWRIT_TOKEN").map_err(|_| {
            CliError::Usage("give a token, `-` for standard input, or set AGENTWRIT_TOKEN".into())
        })?,
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::Usage("the token is empty".into()));
    }
    Ok(AccessToken::new(text))
}

/// `agentwrit token validate`: exit 0 valid, 1 not.
pub async fn token_validate(arg: &TokenArg, out: &Out) -> Result<u8, CliError> {
    let token = token_from(arg)?;
    let broker = connect::broker_from_env()?;
    let validation = broker.validate(&token).await?;
    match &validation {
        Validation::Valid(claims) => {
            out.emit(&json!({"valid": true, "claims": claims}), || {
                let mut text = String::from("valid\n");
                text.push_str(&claims_table(claims));
                text
            });
            Ok(code::OK)
        }
        _ => {
            let error = validation.error().unwrap_or("invalid").to_owned();
            out.emit(&json!({"valid": false, "error": error}), || {
                format!("not valid: {error}\n")
            });
            Ok(code::DENIED)
        }
    }
}

fn claims_table(claims: &agentwrit_async::wire::Claims) -> String {
    let mut rows = vec![
        ("subject", claims.sub.clone()),
        ("scope", claims.scope.join(" ")),
        ("task", claims.task_id.clone().unwrap_or_default()),
        ("orch", claims.orch_id.clone().unwrap_or_default()),
        ("issuer", claims.iss.clone()),
        ("jti", claims.jti.clone()),
        ("issued at", rfc3339_unix(claims.iat)),
        ("expires at", rfc3339_unix(claims.exp)),
    ];
    if let Some(chain) = &claims.delegation_chain
        && !chain.is_empty()
    {
        let agents: Vec<&str> = chain.iter().map(|d| d.agent.as_str()).collect();
        rows.push(("delegated by", agents.join(" -> ")));
    }
    rows.iter()
        .map(|(k, v)| format!("  {k:<12} {v}\n"))
        .collect()
}

/// `agentwrit token release`.
pub async fn token_release(arg: &TokenArg, out: &Out) -> Result<u8, CliError> {
    let token = token_from(arg)?;
    let broker = connect::broker_from_env()?;
    let outcome = broker.release_token(&token).await?;
    let (word, text) = match outcome {
        ReleaseOutcome::Released => ("released", "released: the token is dead\n"),
        _ => (
            "already_dead",
            "already dead (released, renewed, revoked or expired)\n",
        ),
    };
    out.emit(&json!({"outcome": word}), || text.to_owned());
    Ok(code::OK)
}

/// `agentwrit token inspect`: decodes, verifies nothing.
pub fn token_inspect(arg: &TokenArg, out: &Out) -> Result<u8, CliError> {
    let token = token_from(arg)?;
    // Bad input, not a broker's refusal: nothing was sent.
    let claims = decode_claims(&token).map_err(|e| not_a_jwt(&e))?;
    out.emit(&json!({"verified": false, "claims": claims}), || {
        let mut text = String::from(
            "NOT VERIFIED: decoded locally; the signature, expiry and revocation were not checked \
             (`agentwrit token validate` asks the broker)\n",
        );
        text.push_str(&claims_table(&claims));
        text
    });
    Ok(code::OK)
}

/// The usage error for an argument `token inspect` cannot decode: what
/// is wrong with it, and what a broker's token looks like.
fn not_a_jwt(e: &agentwrit_async::Error) -> CliError {
    let reason = match e {
        agentwrit_async::Error::Decode { message, .. } => message
            .strip_prefix("the access token's claims cannot be decoded: ")
            .unwrap_or(message)
            .to_owned(),
        other => other.to_string(),
    };
    CliError::Usage(format!(
        "the argument is not a JWT: {reason}; a broker's token is three base64url parts \
         separated by dots (header.payload.signature) and starts with \"eyJ\""
    ))
}

/// `agentwrit scope check`: exit 0 allowed, 1 denied, 2 malformed.
pub fn scope_check(held: &[String], required: &[String], out: &Out) -> Result<u8, CliError> {
    let held: Vec<String> = if held.is_empty() {
        std::env::var("AGENTWRIT_SCOPE")
            .map_err(|_| CliError::Usage("give --held or set AGENTWRIT_SCOPE".into()))?
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    } else {
        held.to_vec()
    };
    for (what, list) in [("held", &held), ("required", &required.to_vec())] {
        for s in list {
            if let Err(e) = agentwrit_async::sansio::scope::Scope::parse(s) {
                return Err(CliError::Usage(format!("{what} scope {s:?}: {e}")));
            }
        }
    }
    let missing: Vec<&String> = required
        .iter()
        .filter(|r| !scope_is_subset(std::slice::from_ref(*r), &held))
        .collect();
    let allowed = missing.is_empty();
    out.emit(&json!({"allowed": allowed, "missing": missing}), || {
        if allowed {
            "allowed\n".to_owned()
        } else {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            format!("denied: not covered: {}\n", list.join(" "))
        }
    });
    Ok(if allowed { code::OK } else { code::DENIED })
}

fn app_json(app: &agentwrit_async::wire::AppResponse) -> Value {
    serde_json::to_value(app).unwrap_or(Value::Null)
}

fn ttl_seconds(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

fn when(t: Option<&Timestamp>) -> String {
    t.map(|t| t.as_str().to_owned()).unwrap_or_default()
}

/// `agentwrit app ...`.
pub async fn app(command: &AppCommand, out: &Out) -> Result<u8, CliError> {
    let operator = connect::operator_from_env()?;
    match command {
        AppCommand::Register {
            name,
            scopes,
            token_ttl,
        } => {
            let mut request = CreateAppRequest::new(name.clone(), scopes.clone());
            if let Some(ttl) = token_ttl {
                request = request.with_token_ttl(*ttl);
            }
            let app = operator.create_app(request).await?;
            let secret = app
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default();
            let mut doc = app_json(&app);
            doc["client_secret"] = Value::String(secret.clone());
            out.emit(&doc, || {
                format!(
                    "app_id         {}\nclient_id      {}\nclient_secret  {secret}\nscopes         {}\ntoken_ttl      {}s\n\n\
                     The client secret is shown once: store it now.\n",
                    app.app_id,
                    app.client_id,
                    app.scopes.clone().unwrap_or_default().join(","),
                    app.token_ttl,
                )
            });
        }
        AppCommand::List => {
            let list = operator.list_apps().await?;
            let apps: Vec<Value> = list.apps.iter().map(app_json).collect();
            out.emit(&json!({"apps": apps, "total": list.total}), || {
                let rows: Vec<Vec<String>> = list
                    .apps
                    .iter()
                    .map(|a| {
                        vec![
                            a.app_id.clone(),
                            a.name.clone(),
                            a.client_id.clone(),
                            a.status.clone(),
                            a.scopes.clone().unwrap_or_default().join(","),
                            format!("{}s", a.token_ttl),
                        ]
                    })
                    .collect();
                let mut text = table(
                    &[
                        "APP ID",
                        "NAME",
                        "CLIENT ID",
                        "STATUS",
                        "SCOPES",
                        "TOKEN TTL",
                    ],
                    &rows,
                );
                text.push_str(&format!("{} app(s)\n", list.total));
                text
            });
        }
        AppCommand::Get { app_id } => {
            let app = operator.get_app(app_id).await?;
            out.emit(&app_json(&app), || {
                format!(
                    "app_id      {}\nname        {}\nclient_id   {}\nstatus      {}\nscopes      {}\ntoken_ttl   {}s\ncreated_at  {}\nupdated_at  {}\n",
                    app.app_id,
                    app.name,
                    app.client_id,
                    app.status,
                    app.scopes.clone().unwrap_or_default().join(","),
                    app.token_ttl,
                    when(app.created_at.as_ref()),
                    when(app.updated_at.as_ref()),
                )
            });
        }
        AppCommand::Update {
            id,
            scopes,
            token_ttl,
        } => {
            if scopes.is_none() && token_ttl.is_none() {
                return Err(CliError::Usage(
                    "give --scopes, --token-ttl, or both".into(),
                ));
            }
            let mut update = UpdateAppRequest::new();
            if let Some(scopes) = scopes {
                update = update.scopes(scopes.clone());
            }
            if let Some(ttl) = token_ttl {
                update.token_ttl = Some(ttl_seconds(*ttl));
            }
            let app = operator.update_app(id, update).await?;
            out.emit(&app_json(&app), || {
                format!(
                    "updated {}: scopes {}, token_ttl {}s\n",
                    app.app_id,
                    app.scopes.clone().unwrap_or_default().join(","),
                    app.token_ttl
                )
            });
        }
        AppCommand::Remove { id } => {
            let app = operator.delete_app(id).await?;
            // The broker answers a removal with the app's id, status and
            // deregistration time only (its other fields empty): print those.
            let doc = json!({
                "app_id": app.app_id,
                "status": app.status,
                "deregistered_at": app.deregistered_at,
            });
            out.emit(&doc, || {
                format!(
                    "removed {} (status {}, deregistered at {})\n",
                    app.app_id,
                    app.status,
                    when(app.deregistered_at.as_ref())
                )
            });
        }
    }
    Ok(code::OK)
}

/// `agentwrit revoke`.
pub async fn revoke(args: &RevokeArgs, out: &Out) -> Result<u8, CliError> {
    let operator = connect::operator_from_env()?;
    let level = match args.level {
        Level::Token => RevocationLevel::Token,
        Level::Agent => RevocationLevel::Agent,
        Level::Task => RevocationLevel::Task,
        Level::Chain => RevocationLevel::Chain,
    };
    let r = operator.revoke(level, &args.target).await?;
    out.emit(
        &json!({"revoked": r.revoked, "level": r.level, "target": r.target, "count": r.count}),
        || format!("revoked {} {}: {} token(s)\n", r.level, r.target, r.count),
    );
    Ok(code::OK)
}

fn parse_time(flag: &str, text: &Option<String>) -> Result<Option<Timestamp>, CliError> {
    text.as_deref()
        .map(|t| {
            Timestamp::parse(t).map_err(|e| {
                CliError::Usage(format!(
                    "--{flag} {t:?}: {e} (RFC 3339, e.g. 2026-12-03T09:00:00Z)"
                ))
            })
        })
        .transpose()
}

fn event_json(e: &AuditEvent) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn event_rows(events: &[AuditEvent]) -> Vec<Vec<String>> {
    events
        .iter()
        .map(|e| {
            let mut detail = e.detail.clone();
            if detail.chars().count() > 60 {
                detail = detail.chars().take(57).collect::<String>() + "...";
            }
            vec![
                e.id.clone(),
                e.timestamp.as_str().to_owned(),
                e.event_type.clone(),
                e.agent_id.clone().unwrap_or_default(),
                e.outcome.clone().unwrap_or_default(),
                detail,
            ]
        })
        .collect()
}

const EVENT_HEADERS: [&str; 6] = [
    "ID",
    "TIMESTAMP",
    "EVENT TYPE",
    "AGENT ID",
    "OUTCOME",
    "DETAIL",
];

/// `agentwrit audit events`.
pub async fn audit_events(args: &AuditArgs, out: &Out) -> Result<u8, CliError> {
    let operator = connect::operator_from_env()?;
    let mut query = AuditQuery::new();
    query.agent_id = args.agent_id.clone();
    query.task_id = args.task_id.clone();
    query.event_type = args.event_type.clone();
    query.outcome = args.outcome.clone();
    query.since = parse_time("since", &args.since)?;
    query.until = parse_time("until", &args.until)?;
    query.limit = args.limit;
    query.offset = args.offset;
    if args.follow {
        return follow(&operator, query, args.interval, out).await;
    }
    if args.all {
        let events = operator.audit_events_all(query).await?;
        let list: Vec<Value> = events.iter().map(event_json).collect();
        out.emit(&json!({"events": list, "total": events.len()}), || {
            let mut text = table(&EVENT_HEADERS, &event_rows(&events));
            text.push_str(&format!("{} event(s)\n", events.len()));
            text
        });
        return Ok(code::OK);
    }
    let page = operator.audit_events(query).await?;
    let list: Vec<Value> = page.events.iter().map(event_json).collect();
    out.emit(
        &json!({"events": list, "total": page.total, "offset": page.offset, "limit": page.limit}),
        || {
            let mut text = table(&EVENT_HEADERS, &event_rows(&page.events));
            text.push_str(&format!(
                "showing {} of {} event(s) (offset {}, limit {})\n",
                page.events.len(),
                page.total,
                page.offset,
                page.limit
            ));
            text
        },
    );
    Ok(code::OK)
}

/// Prints every matching event, then new ones as they are recorded, until
/// interrupted. One JSON object per line with `--json`.
async fn follow(
    operator: &agentwrit_async::Operator,
    query: AuditQuery,
    interval: Duration,
    out: &Out,
) -> Result<u8, CliError> {
    let mut seen = u64::from(query.offset.unwrap_or(0));
    // Ctrl-C ends the follow with success, whether it comes during a
    // request or between two.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::io("installing the Ctrl-C handler", e))?;
    if !out.json {
        out.print(&table(&EVENT_HEADERS, &[]));
    }
    loop {
        let mut page_query = query.clone();
        page_query.offset = Some(u32::try_from(seen).unwrap_or(u32::MAX));
        let page = tokio::select! {
            page = operator.audit_events(page_query) => page?,
            _ = interrupt.recv() => return Ok(code::OK),
        };
        let got = page.events.len() as u64;
        for event in &page.events {
            if out.json {
                out.print(&format!("{}\n", event_json(event)));
            } else {
                out.print(&table_row(&event_rows(std::slice::from_ref(event))));
            }
        }
        seen += got;
        if got == 0 || seen >= page.total {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = interrupt.recv() => return Ok(code::OK),
            }
        }
    }
}

fn table_row(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| r.join("  ") + "\n").collect()
}
