//! The floor: a create-agent (app-authenticated launch token, challenge,
//! register) by the hand-written client, with the same key generation and
//! signature the SDK does, and the JSON read into `serde_json::Value`.

use super::{AgentKey, OsRng, RawHttp, Window, env, nth_create, timed};
use serde_json::Value;

fn post(authority: &str, path: &str, bearer: Option<&str>, body: &str) -> Vec<u8> {
    let auth = bearer.map_or(String::new(), |b| format!("authorization: Bearer {b}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn field(body: &[u8], name: &str, want: u16, status: u16) -> Result<String, String> {
    if status != want {
        return Err(format!(
            "{name}: status {status}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} in the response"))
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

pub(super) fn measure(w: usize, n: usize) -> Result<Window, String> {
    let url = env("AGENTWRIT_BROKER_URL")?;
    let authority = url
        .strip_prefix("http://")
        .ok_or("the floor needs an http:// broker URL")?
        .trim_end_matches('/')
        .to_owned();
    let mut conn = RawHttp::connect(&authority)?;
    let login = format!(
        "{{\"client_id\":{},\"client_secret\":{}}}",
        json_str(&env("AGENTWRIT_CLIENT_ID")?),
        json_str(&env("AGENTWRIT_CLIENT_SECRET")?)
    );
    let (status, body) = conn.exchange(&post(&authority, "/v1/app/auth", None, &login))?;
    let app_token = field(&body, "access_token", 200, status)?;
    let challenge = format!("GET /v1/challenge HTTP/1.1\r\nhost: {authority}\r\n\r\n").into_bytes();
    timed(w, n, |i| {
        let (scope, task) = nth_create(i);
        let launch = format!(
            "{{\"agent_name\":\"cost-orch\",\"allowed_scope\":[{}],\"max_ttl\":300}}",
            json_str(&scope[0])
        );
        let (status, body) = conn.exchange(&post(
            &authority,
            "/v1/app/launch-tokens",
            Some(&app_token),
            &launch,
        ))?;
        let launch_token = field(&body, "launch_token", 201, status)?;
        let (status, body) = conn.exchange(&challenge)?;
        let nonce = field(&body, "nonce", 200, status)?;
        let key = AgentKey::generate(&mut OsRng);
        let signature = key.sign_nonce(&nonce).map_err(|e| e.to_string())?;
        let register = format!(
            "{{\"launch_token\":{},\"nonce\":{},\"public_key\":{},\"signature\":{},\"orch_id\":\"cost-orch\",\"task_id\":{},\"requested_scope\":[{}]}}",
            json_str(&launch_token),
            json_str(&nonce),
            json_str(&key.public_key_base64()),
            json_str(&signature),
            json_str(&task),
            json_str(&scope[0])
        );
        let (status, body) = conn.exchange(&post(&authority, "/v1/register", None, &register))?;
        field(&body, "access_token", 200, status).map(drop)
    })
}
