//! Start-up: the embedded broker, a given broker with a given app, a given
//! broker where the demo registers itself; secrets stay out of `Debug`,
//! the banner and the trace.

use std::collections::HashMap;

use agentwrit_demo_kit::{AgentPool, BrokerSetup, BrokerSource, EventBus, KitError, ToolCall};
use serde_json::json;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_broker_url_the_demo_embeds_one() {
    let setup = BrokerSetup::from_vars_or_embedded("kit-embedded", &["read:kb:*"], vars(&[]))
        .await
        .unwrap();
    assert_eq!(setup.source, BrokerSource::Embedded);
    assert!(setup.embedded_broker().is_some());
    assert!(
        setup
            .describe()
            .starts_with("embedded development broker at http://127.0.0.1:")
    );
    let agent = setup
        .app
        .create_agent("kit", "t1", &["read:kb:*"])
        .await
        .unwrap();
    agent.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_admin_secret_the_demo_registers_its_own_app() {
    let broker = agentwrit_devbroker::DevBroker::start().unwrap();
    let admin = broker.admin_secret().expose_secret().to_owned();
    let setup = BrokerSetup::from_vars_or_embedded(
        "kit-remote",
        &["read:kb:*", "read:billing:*"],
        vars(&[
            ("AGENTWRIT_BROKER_URL", broker.url()),
            ("AGENTWRIT_ADMIN_SECRET", &admin),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(setup.source, BrokerSource::SelfRegistered);
    assert!(
        setup
            .app_id
            .as_deref()
            .unwrap()
            .starts_with("app-kit-remote-")
    );
    assert!(setup.operator.is_some());
    // The registered ceiling is what was asked for.
    setup
        .app
        .create_agent("kit", "t1", &["read:billing:jane-doe"])
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    let refused = setup
        .app
        .create_agent("kit", "t2", &["delete:account:jane-doe"])
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403));
    for shown in [format!("{setup:?}"), setup.describe()] {
        assert!(!shown.contains(&admin));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_credentials_the_given_app_is_used_and_its_secret_never_shown() {
    let broker = agentwrit_devbroker::DevBroker::start().unwrap();
    let reg = broker
        .register_app("given-app", &["read:billing:*"], None)
        .unwrap();
    let secret = reg.client_secret.expose_secret().to_owned();
    let setup = BrokerSetup::from_vars_or_embedded(
        "ignored",
        &["read:kb:*"],
        vars(&[
            ("AGENTWRIT_BROKER_URL", broker.url()),
            ("AGENTWRIT_CLIENT_ID", &reg.client_id),
            ("AGENTWRIT_CLIENT_SECRET", &secret),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(setup.source, BrokerSource::GivenApp);
    assert!(setup.operator.is_none());

    let bus = EventBus::new();
    let mut pool = AgentPool::new(setup.app.clone(), bus.clone(), "kit", "given");
    pool.agent("billing", &["read:billing:jane-doe".to_owned()])
        .await
        .unwrap();
    let call = ToolCall::new("c1", "get_balance", json!({"customer_id": "lewis-smith"}));
    let outcome = pool
        .enforce(
            "billing",
            &call,
            &["read:billing:lewis-smith".to_owned()],
            || async { Ok(json!("never")) },
        )
        .await;
    assert!(outcome.is_denied());
    pool.release_all().await;
    pool.validate_all().await;
    assert!(pool.trace_is_secret_free());

    let trace = serde_json::to_string(&bus.snapshot()).unwrap();
    for shown in [trace, format!("{setup:?}"), setup.describe()] {
        assert!(!shown.contains(&secret), "client secret shown: {shown}");
        assert!(!shown.contains("eyJ"), "a token shown: {shown}");
    }
}

#[tokio::test]
async fn a_broker_url_without_credentials_says_what_is_missing() {
    let error = BrokerSetup::from_vars_or_embedded(
        "kit",
        &["read:kb:*"],
        vars(&[("AGENTWRIT_BROKER_URL", "http://127.0.0.1:9")]),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, KitError::Setup(_)));
    let message = error.to_string();
    assert!(message.contains("AGENTWRIT_CLIENT_ID"));
    assert!(message.contains("AGENTWRIT_ADMIN_SECRET"));
}
