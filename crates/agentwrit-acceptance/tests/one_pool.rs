//! One connection for a program that is app, operator and validator at
//! once: made from one `Broker`, the three share its connection pool, so
//! a run of calls one after the other uses one connection to the broker,
//! on both transports, over plain HTTP and over TLS. The same run on
//! three one-line constructors opens one connection per pool: what the
//! development broker's connection counter tells apart.
//!
//! `agentwrit-async` has one more pool per `Broker`, on the SDK's releaser
//! thread: the work that must outlive its caller (an agent's registration
//! once it may have reached the broker, a dropped guard's releases) runs
//! there, so that a cancelled caller or a runtime shutting down cannot lose
//! it. `create_agent` registers through it: one more connection (and TLS
//! handshake) per `Broker` that creates agents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use agentwrit_core::wire::{AdminSecret, AuditQuery, ClientSecret};
use agentwrit_devbroker::tls::TestPki;
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

/// What the program needs to reach the broker.
struct Target<'a> {
    url: &'a str,
    client_id: &'a str,
    client_secret: &'a ClientSecret,
    admin_secret: &'a AdminSecret,
    /// The private CA, over TLS.
    ca_pem: Option<&'a [u8]>,
}

/// One transport: the same program written on its clients.
trait Program {
    const NAME: &'static str;
    /// Connections of the releaser's pool a broker that creates an agent
    /// opens besides its own.
    const RELEASER: u64;
    /// App, operator and validator from one `Broker`; the calls run one
    /// after the other.
    fn on_one_broker(target: &Target<'_>);
    /// App, operator and validator from their own constructors (each
    /// builds a broker, so a pool, of its own); the same calls.
    fn on_three_brokers(target: &Target<'_>);
}

struct Blocking;

impl Blocking {
    fn broker(target: &Target<'_>) -> agentwrit_blocking::Broker {
        let mut builder = agentwrit_blocking::Broker::builder(target.url);
        if let Some(ca) = target.ca_pem {
            builder = builder.add_root_certificate_pem(ca);
        }
        builder.build().unwrap()
    }

    fn calls(
        app: &agentwrit_blocking::App,
        operator: &agentwrit_blocking::Operator,
        validator: &agentwrit_blocking::Broker,
    ) {
        assert_eq!(app.health().unwrap().status, "ok");
        let agent = app
            .create_agent("orch-pool", "task-pool", &["read:data:*"])
            .unwrap();
        assert!(
            validator
                .validate(&agent.access_token())
                .unwrap()
                .is_valid()
        );
        assert_eq!(operator.list_apps().unwrap().len(), 1);
        agent.release().unwrap();
        assert!(
            !validator
                .validate(&agent.access_token())
                .unwrap()
                .is_valid()
        );
        assert!(
            !operator
                .audit_events_all(AuditQuery::new())
                .unwrap()
                .is_empty()
        );
    }
}

impl Program for Blocking {
    const NAME: &'static str = "blocking";
    const RELEASER: u64 = 0;

    fn on_one_broker(target: &Target<'_>) {
        let broker = Self::broker(target);
        let app = broker.app(target.client_id, target.client_secret).unwrap();
        let operator = broker.operator(target.admin_secret).unwrap();
        let validator = broker.clone();
        Self::calls(&app, &operator, &validator);
        assert_eq!(broker.health().unwrap().status, "ok");
    }

    fn on_three_brokers(target: &Target<'_>) {
        let app = Self::broker(target)
            .app(target.client_id, target.client_secret)
            .unwrap();
        let operator = Self::broker(target).operator(target.admin_secret).unwrap();
        let validator = Self::broker(target);
        Self::calls(&app, &operator, &validator);
    }
}

struct Async;

impl Async {
    fn broker(target: &Target<'_>) -> agentwrit_async::Broker {
        let mut builder = agentwrit_async::Broker::builder(target.url);
        if let Some(ca) = target.ca_pem {
            builder = builder.add_root_certificate_pem(ca);
        }
        builder.build().unwrap()
    }

    async fn calls(
        app: &agentwrit_async::App,
        operator: &agentwrit_async::Operator,
        validator: &agentwrit_async::Broker,
    ) {
        assert_eq!(app.health().await.unwrap().status, "ok");
        let agent = app
            .create_agent("orch-pool", "task-pool", &["read:data:*"])
            .await
            .unwrap();
        let token = agent.access_token();
        assert!(validator.validate(&token).await.unwrap().is_valid());
        assert_eq!(operator.list_apps().await.unwrap().len(), 1);
        agent.release().await.unwrap();
        assert!(!validator.validate(&token).await.unwrap().is_valid());
        let events = operator.audit_events_all(AuditQuery::new()).await.unwrap();
        assert!(!events.is_empty());
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}

impl Program for Async {
    const NAME: &'static str = "async";
    const RELEASER: u64 = 1;

    fn on_one_broker(target: &Target<'_>) {
        Self::run(async {
            let broker = Self::broker(target);
            let app = broker.app(target.client_id, target.client_secret).unwrap();
            let operator = broker.operator(target.admin_secret).unwrap();
            let validator = broker.clone();
            Self::calls(&app, &operator, &validator).await;
            assert_eq!(broker.health().await.unwrap().status, "ok");
        });
    }

    fn on_three_brokers(target: &Target<'_>) {
        Self::run(async {
            let app = Self::broker(target)
                .app(target.client_id, target.client_secret)
                .unwrap();
            let operator = Self::broker(target).operator(target.admin_secret).unwrap();
            let validator = Self::broker(target);
            Self::calls(&app, &operator, &validator).await;
        });
    }
}

/// Runs `program` against `broker` and returns the connections the broker
/// accepted meanwhile.
fn connections<P: Program>(
    broker: &DevBrokerHandle,
    ca_pem: Option<&[u8]>,
    program: fn(&Target<'_>),
) -> u64 {
    let reg = broker.register_universal_app().unwrap();
    let target = Target {
        url: broker.url(),
        client_id: &reg.client_id,
        client_secret: &reg.client_secret,
        admin_secret: broker.admin_secret(),
        ca_pem,
    };
    let before = broker.connections_accepted();
    program(&target);
    broker.connections_accepted() - before
}

fn one_broker_one_connection<P: Program>() {
    let broker = DevBroker::start().unwrap();
    let opened = connections::<P>(&broker, None, P::on_one_broker);
    assert_eq!(
        opened,
        1 + P::RELEASER,
        "{}: connections for app, operator and validator",
        P::NAME
    );
}

fn three_brokers_three_connections<P: Program>() {
    let broker = DevBroker::start().unwrap();
    let opened = connections::<P>(&broker, None, P::on_three_brokers);
    assert_eq!(
        opened,
        3 + P::RELEASER,
        "{}: one connection per pool",
        P::NAME
    );
}

fn one_broker_one_tls_connection<P: Program>() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    let ca = pki.ca_pem().as_bytes();
    let opened = connections::<P>(&broker, Some(ca), P::on_one_broker);
    assert_eq!(opened, 1 + P::RELEASER, "{}: TLS connections", P::NAME);
    // One handshake per connection.
    assert_eq!(broker.tls_handshakes(), 1 + P::RELEASER, "{}", P::NAME);
}

#[test]
fn blocking_app_operator_and_validator_of_one_broker_share_one_connection() {
    one_broker_one_connection::<Blocking>();
}

#[test]
fn async_app_operator_and_validator_of_one_broker_share_one_connection() {
    one_broker_one_connection::<Async>();
}

#[test]
fn blocking_app_operator_and_validator_on_their_own_open_one_connection_each() {
    three_brokers_three_connections::<Blocking>();
}

#[test]
fn async_app_operator_and_validator_on_their_own_open_one_connection_each() {
    three_brokers_three_connections::<Async>();
}

#[test]
fn blocking_one_broker_shares_one_tls_connection() {
    one_broker_one_tls_connection::<Blocking>();
}

#[test]
fn async_one_broker_shares_one_tls_connection() {
    one_broker_one_tls_connection::<Async>();
}
