//! Connecting to a broker over HTTPS with a private CA, and to one that
//! requires mutual TLS (a client certificate).
//!
//! Runs with no set-up: it makes a throwaway CA with a server and a client
//! certificate, starts a development broker in mTLS mode on a loopback
//! port (as the real broker runs with `AA_TLS_MODE=mtls`), then:
//!
//! 1. connects without a client certificate and shows the typed error;
//! 2. connects trusting the CA and presenting the client certificate,
//!    creates an agent, validates its token on the same `Broker`, and
//!    releases it;
//! 3. shows that the whole exchange used one TLS connection: the app and
//!    the validation share the broker's pool.
//!
//! ```text
//! cargo run --example https_broker
//! ```
//!
//! Against your own broker the same settings come from the environment:
//! `AGENTWRIT_CA_FILE`, `AGENTWRIT_CLIENT_CERT` and `AGENTWRIT_CLIENT_KEY`
//! (read by `Broker::from_env()`, and so by `App::from_env()`).

use std::process::ExitCode;

use agentwrit_blocking::Broker;
use agentwrit_devbroker::DevBroker;
use agentwrit_devbroker::tls::TestPki;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // A private CA, a server certificate for 127.0.0.1/localhost and a
    // client certificate; in production these are your PEM files.
    let pki = TestPki::generate()?;
    let ca_pem = pki.ca_pem().as_bytes();
    let (cert_pem, key_pem) = (
        pki.client().cert_pem().as_bytes(),
        pki.client().key_pem().as_bytes(),
    );

    let broker = DevBroker::builder()
        .tls(pki.mtls_server_config()?)
        .start()?;
    let reg = broker.register_universal_app()?;
    let secret = reg.client_secret.expose_secret();
    println!(
        "Broker: {} ({} mode, private CA)",
        broker.url(),
        broker.tls_mode().as_str()
    );

    // 1. Trusting the CA but with no client certificate: the broker
    //    refuses the handshake, and the error says why.
    let refused = Broker::builder(broker.url())
        .add_root_certificate_pem(ca_pem)
        .https_only(true)
        .build()?;
    match refused.app(&reg.client_id, secret)?.health() {
        Ok(_) => return Err("the broker accepted a client without a certificate".into()),
        Err(err) => {
            println!("Without a client certificate ({:?}):", err.tls_failure());
            println!("  {err}");
        }
    }

    // 2. With the CA and the client identity: one `Broker` (one pool, one
    //    TLS configuration) for the app and the validation.
    let mtls = Broker::builder(broker.url())
        .add_root_certificate_pem(ca_pem)
        .identity_pem(cert_pem, key_pem)
        .https_only(true)
        .build()?;
    let app = mtls.app(&reg.client_id, secret)?;
    println!("Health over mTLS: {}", app.health()?.status);
    let agent = app.create_agent("orch-tls", "task-tls", &["read:data:customer-7291"])?;
    println!("Agent: {}", agent.agent_id());

    let verdict = mtls.validate(&agent.access_token())?;
    println!(
        "Validation over mTLS: valid={} allows read:data:customer-7291={}",
        verdict.is_valid(),
        verdict.allows(&["read:data:customer-7291"])
    );
    agent.release()?;
    println!("Released: {}", agent.is_released());

    // 3. Connections are pooled, and the app and the validation share the
    //    pool: one handshake for all their requests (the refused attempt
    //    never completed one).
    println!("TLS handshakes completed: {}", broker.tls_handshakes());
    Ok(())
}
