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

/// The same path through the SDK: `Broker::register_agent` runs the
/// ceremony with a launch token the operator minted, on both transports.
/// The agent's token is valid with the scope asked for, dead after its
/// release, and the launch token is single use.
#[test]
fn broker_register_agent_uses_an_operator_minted_launch_token_on_both_transports() {
    let broker = DevBroker::start().unwrap();
    let operator = Operator::new(broker.url(), broker.admin_secret().clone()).unwrap();
    let mint = || {
        operator
            .launch_token(LaunchTokenRequest::new(
                "ops-agent",
                vec!["read:data:*".into()],
            ))
            .unwrap()
            .launch_token
    };

    let blocking = agentwrit_blocking::Broker::new(broker.url()).unwrap();
    let minted = mint();
    let agent = blocking
        .register_agent(minted.clone(), "ops", "nightly-b", &["read:data:reports"])
        .unwrap();
    assert!(
        agent.agent_id().contains("/ops/nightly-b/"),
        "{}",
        agent.agent_id()
    );
    let token = agent.access_token();
    assert!(
        blocking
            .validate(&token)
            .unwrap()
            .allows(&["read:data:reports"])
    );
    // Beyond the launch token's ceiling: refused before an agent exists.
    let wide = blocking.register_agent(mint(), "ops", "nightly-b", &["write:data:reports"]);
    assert!(wide.is_err());
    // Single use.
    let again = blocking.register_agent(minted, "ops", "nightly-b", &["read:data:reports"]);
    assert_eq!(again.unwrap_err().status(), Some(401));
    agent.release().unwrap();
    assert!(!blocking.validate(&token).unwrap().is_valid());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let nonblocking = agentwrit_async::Broker::new(broker.url()).unwrap();
        let agent = nonblocking
            .register_agent(mint(), "ops", "nightly-a", &["read:data:reports"])
            .await
            .unwrap();
        let token = agent.access_token();
        assert!(nonblocking.validate(&token).await.unwrap().is_valid());
        agent.release().await.unwrap();
        assert!(!nonblocking.validate(&token).await.unwrap().is_valid());
    });
}
