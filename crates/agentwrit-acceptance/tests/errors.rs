//! Errors that say the cause: a refused connection's `Display` ends with
//! the root cause on both transports, and walking `source()` shows each
//! message once.

use std::error::Error as StdError;

use agentwrit_core::{Error, RetryPolicy};

/// A loopback URL whose port nothing listens on.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The messages of `err`'s source chain, top first.
fn chain(err: &Error) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(c) = cause {
        messages.push(c.to_string());
        cause = c.source();
    }
    messages
}

fn check_refused(transport: &str, err: &Error) {
    assert!(err.is_connect(), "{transport}: {err:?}");
    println!("{transport}: {err}");
    let shown = err.to_string();
    assert!(
        shown.to_lowercase().contains("connection refused"),
        "{transport}: {shown}"
    );
    // It ends with the deepest message of the chain: the OS's own words.
    let messages = chain(err);
    let root = messages.last().unwrap();
    assert!(
        shown.ends_with(root.as_str()),
        "{transport}: {shown:?} vs {messages:#?}"
    );
    // Below the top, no message repeats the one beneath it.
    for pair in messages[1..].windows(2) {
        assert!(
            !pair[0].contains(&pair[1]) || pair[1].is_empty(),
            "{transport}: {messages:#?}"
        );
    }
}

#[test]
fn a_refused_connection_says_so_at_the_end_of_display_blocking() {
    let app = agentwrit_blocking::Broker::builder(&refused_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .app("cm-1", "secret")
        .unwrap();
    check_refused("blocking", &app.health().unwrap_err());
}

#[test]
fn a_refused_connection_says_so_at_the_end_of_display_async() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = agentwrit_async::Broker::builder(&refused_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .app("cm-1", "secret")
        .unwrap();
    check_refused("async", &runtime.block_on(app.health()).unwrap_err());
}
