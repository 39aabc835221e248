//! The guide's launch-token path: the operator mints a launch token with
//! admin authority, and an agent registers with it by the broker's
//! ceremony (challenge, signed nonce, register), by hand over plain HTTP
//! as another SDK would. The agent's token is then valid at the broker,
//! with the scope it asked for; the launch token is single use.

use agentwrit_blocking::Operator;
use agentwrit_blocking::wire::{
    ChallengeResponse, LaunchTokenRequest, RegisterRequest, RegisterResponse,
};
use agentwrit_core::AgentKey;
use agentwrit_devbroker::DevBroker;

fn post_register(url: &str, body: &RegisterRequest) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .post(&format!("{url}/v1/register"))
        .header("content-type", "application/json")
        .send(serde_json::to_vec(body).unwrap())
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn challenge(url: &str) -> ChallengeResponse {
    let body = ureq::get(&format!("{url}/v1/challenge"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

#[test]
fn an_agent_registers_with_a_launch_token_the_operator_minted() {
    let broker = DevBroker::start().unwrap();
    let operator = Operator::new(broker.url(), broker.admin_secret().clone()).unwrap();
    let request = LaunchTokenRequest::new("ops-agent", vec!["read:data:*".into()])
        .with_max_ttl(std::time::Duration::from_secs(120));
    let minted = operator.launch_token(request).unwrap();
    assert_eq!(minted.launch_token.expose_secret().len(), 64);

    let key = AgentKey::from_seed([7; 32]);
    let nonce = challenge(broker.url()).nonce;
    let register = RegisterRequest::new(
        minted.launch_token.clone(),
        nonce.clone(),
        key.public_key_base64(),
        key.sign_nonce(&nonce).unwrap(),
        "ops",
        "nightly",
        vec!["read:data:reports".into()],
    );
    let (status, body) = post_register(broker.url(), &register);
    assert_eq!(status, 200, "{body}");
    let registered: RegisterResponse = serde_json::from_str(&body).unwrap();
    assert!(
        registered
            .agent_id
            .starts_with("spiffe://agentwrit.local/agent/ops/nightly/"),
        "{}",
        registered.agent_id
    );
    let validation = agentwrit_blocking::validate(broker.url(), &registered.access_token).unwrap();
    assert!(validation.is_valid());
    assert!(validation.allows(&["read:data:reports"]));
    assert!(!validation.allows(&["read:data:payroll"]));

    // Single use: a second registration with the same launch token fails.
    let nonce = challenge(broker.url()).nonce;
    let again = RegisterRequest::new(
        minted.launch_token,
        nonce.clone(),
        key.public_key_base64(),
        key.sign_nonce(&nonce).unwrap(),
        "ops",
        "nightly",
        vec!["read:data:reports".into()],
    );
    let (status, body) = post_register(broker.url(), &again);
    assert_eq!(status, 401, "{body}");
}
