//! Broker mode against a development broker in mTLS mode: the layer
//! trusts the broker's private CA and presents a client certificate, as a
//! service in front of a production broker would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use agentwrit_devbroker::DevBroker;
use agentwrit_devbroker::tls::TestPki;
use agentwrit_tower::{AgentAuth, ConfigError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_mode_validates_at_an_mtls_broker() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.mtls_server_config().unwrap())
        .no_rate_limits()
        .start()
        .unwrap();
    assert!(broker.url().starts_with("https://"));
    let reg = broker.register_universal_app().unwrap();
    let (ca, cert, key) = (
        pki.ca_pem().as_bytes(),
        pki.client().cert_pem().as_bytes(),
        pki.client().key_pem().as_bytes(),
    );
    let app = agentwrit_async::Broker::builder(broker.url())
        .add_root_certificate_pem(ca)
        .identity_pem(cert, key)
        .build()
        .unwrap()
        .app(&reg.client_id, &reg.client_secret)
        .unwrap();
    let agent = app
        .create_agent("svc", "tls-1", &["read:data:customer-7291"])
        .await
        .unwrap();
    let bearer = agent.bearer_header_value().unwrap();
    let bearer = bearer.to_str().unwrap();

    // With the CA and the identity: the broker answers, the route runs.
    let auth = AgentAuth::broker(broker.url())
        .add_broker_root_certificate_pem(ca)
        .broker_identity_pem(cert, key)
        .build()
        .unwrap();
    let base = support::serve(support::service(&auth)).await;
    let ok = support::call(&base, "GET", "/customers/7291", Some(bearer)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let denied = support::call(&base, "GET", "/customers/9999", Some(bearer)).await;
    assert_eq!(denied.status, 403);

    // Without the client certificate the broker refuses the handshake:
    // the layer fails closed with a 503, never lets the request through.
    let no_identity = AgentAuth::broker(broker.url())
        .add_broker_root_certificate_pem(ca)
        .build()
        .unwrap();
    let base = support::serve(support::service(&no_identity)).await;
    let refused = support::call(&base, "GET", "/customers/7291", Some(bearer)).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(!refused.body.contains(bearer));

    // A CA that is not PEM is refused when the layer is built.
    let bad = AgentAuth::broker(broker.url())
        .add_broker_root_certificate_pem(b"not a certificate")
        .build()
        .unwrap_err();
    assert!(matches!(bad, ConfigError::Http(_)), "{bad:?}");
    agent.release().await.unwrap();
}
