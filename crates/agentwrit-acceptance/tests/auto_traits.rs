//! Every client type is `Send + Sync + Clone` where it should be, and
//! every future of the async client is `Send`, so both work in threads,
//! tokio tasks and `tokio::spawn`.

fn send_sync<T: Send + Sync + 'static>() {}
fn clone<T: Clone>() {}
fn send<F: Send>(_: &F) {}

#[test]
fn blocking_types_are_send_and_sync() {
    use agentwrit_blocking as b;
    send_sync::<b::App>();
    send_sync::<b::Agent>();
    send_sync::<b::AgentGuard>();
    send_sync::<b::DelegatedToken>();
    send_sync::<b::Operator>();
    send_sync::<b::Broker>();
    clone::<b::Broker>();
    send_sync::<b::Error>();
    clone::<b::App>();
    clone::<b::Agent>();
    clone::<b::Operator>();
}

#[test]
fn async_types_are_send_and_sync_and_their_futures_send() {
    use agentwrit_async as a;
    send_sync::<a::App>();
    send_sync::<a::Agent>();
    send_sync::<a::AgentGuard>();
    send_sync::<a::DelegatedToken>();
    send_sync::<a::Operator>();
    send_sync::<a::Broker>();
    clone::<a::Broker>();
    send_sync::<a::Error>();
    clone::<a::App>();
    clone::<a::Agent>();

    // Built, never polled: only their types matter.
    let app = a::App::new("http://127.0.0.1:9", "id", "secret").unwrap();
    send(&app.create_agent("o", "t", &["read:data:x"]));
    send(&app.validate("t"));
    send(&app.health());
    send(&app.with_agent("o", "t", &["read:data:x"], async |agent| {
        agent.renew().await?;
        Ok::<_, a::Error>(())
    }));
    send(&a::validate("http://127.0.0.1:9", "t"));
    send(&app.broker().validate("t"));
    let op = a::Operator::new("http://127.0.0.1:9", "s").unwrap();
    send(&op.list_apps());
    send(&op.audit_events_all(agentwrit_core::wire::AuditQuery::new()));
}
