//! The development broker over HTTPS and mutual TLS: the library builder,
//! the binary's flags and `AA_TLS_*` variables, handshake refusals, the
//! handshake counter and the test PKI's failure certificates.
#![cfg(feature = "test-pki")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use agentwrit_devbroker::tls::{TestIdentity, TestPki};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, TlsMode, TlsServerConfig};
use common::Client;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

const HSTS: &str = "max-age=63072000; includeSubDomains";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------ clients --

/// A ureq agent that trusts `ca_pem` only and presents `identity`, if any.
fn ureq_agent(ca_pem: &str, identity: Option<&TestIdentity>) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]));
    if let Some(id) = identity {
        let cert = ureq::tls::Certificate::from_pem(id.cert_pem().as_bytes()).unwrap();
        let key = ureq::tls::PrivateKey::from_pem(id.key_pem().as_bytes()).unwrap();
        tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[cert], key)));
    }
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .tls_config(tls.build())
        .build()
        .into()
}

fn https_client(broker: &DevBrokerHandle, pki: &TestPki, id: Option<&TestIdentity>) -> Client {
    Client::with_agent(broker.url(), ureq_agent(pki.ca_pem(), id))
}

/// A rustls client configuration on the ring provider.
fn rustls_config(ca_pem: &str, identity: Option<&TestIdentity>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.cert_pem().as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(id.key_pem().as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

/// One `GET /v1/health` over a fresh TLS connection with a bare rustls
/// client: the raw answer bytes, or the TLS error that ended the exchange.
fn raw_tls_health(
    broker: &DevBrokerHandle,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<Vec<u8>, rustls::Error> {
    let tcp = TcpStream::connect(broker.local_addr()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut answer = Vec::new();
    let result = tls
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .and_then(|()| tls.read_to_end(&mut answer).map(|_| ()));
    match result {
        Ok(()) => Ok(answer),
        Err(e) => {
            assert!(
                answer.is_empty(),
                "bytes arrived before the error: {:?}",
                String::from_utf8_lossy(&answer)
            );
            let kind = e.kind();
            match e
                .into_inner()
                .map(|inner| inner.downcast::<rustls::Error>())
            {
                Some(Ok(tls_err)) => Err(*tls_err),
                other => panic!("not a TLS error ({kind:?}): {other:?}"),
            }
        }
    }
}

fn assert_http_200(answer: &[u8]) {
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\"status\":\"ok\""), "{text}");
}

// ------------------------------------------------------------ library --

#[test]
fn https_serves_health_and_a_whole_app_lifecycle() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    assert!(
        broker.url().starts_with("https://127.0.0.1:"),
        "{}",
        broker.url()
    );
    assert_eq!(broker.tls_mode(), TlsMode::Tls);
    let app = broker.register_universal_app().unwrap();
    let c = https_client(&broker, &pki, None);

    let health = c.get("/v1/health");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json()["status"], "ok");
    health.assert_security_headers();
    assert_eq!(
        health.header("strict-transport-security").as_deref(),
        Some(HSTS)
    );

    // App login, an app launch token, registration, validation, release.
    let app_token = c.app_token(&app.client_id, app.client_secret.expose_secret());
    let lt = c.post_auth(
        "/v1/app/launch-tokens",
        &app_token,
        Some(&json!({ "agent_name": "tls-agent", "allowed_scope": ["read:data:*"] })),
    );
    assert_eq!(lt.status, 201, "{lt:?}");
    let (agent_id, token) = c.register(&lt.str("launch_token"), "orch", "task", &["read:data:x"]);
    assert!(agent_id.starts_with("spiffe://agentwrit.local/agent/orch/task/"));
    let valid = c.post("/v1/token/validate", &json!({ "token": token }));
    assert_eq!(valid.json()["valid"], true, "{valid:?}");
    let released = c.post_auth("/v1/token/release", &token, None);
    assert_eq!(released.status, 204, "{released:?}");
    assert_eq!(
        released.header("strict-transport-security").as_deref(),
        Some(HSTS)
    );
    let dead = c.post("/v1/token/validate", &json!({ "token": token }));
    assert_eq!(dead.json()["valid"], false, "{dead:?}");
    // One pooled connection carried all of it.
    assert_eq!(broker.tls_handshakes(), 1);
}

#[test]
fn no_process_wide_crypto_provider_is_installed_or_needed() {
    // Both providers are compiled in (see Cargo.toml), so rustls cannot
    // pick a default and the default builders panic.
    assert!(std::panic::catch_unwind(rustls::ServerConfig::builder).is_err());
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.mtls_server_config().unwrap())
        .start()
        .unwrap();
    let answer = raw_tls_health(
        &broker,
        rustls_config(pki.ca_pem(), Some(pki.client())),
        "localhost",
    )
    .unwrap();
    assert_http_200(&answer);
    // The broker named its provider; it neither relied on nor installed a
    // process default that could clash with another provider in the
    // user's program.
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

#[test]
fn plain_http_has_no_hsts_and_counts_no_handshakes() {
    let broker = DevBroker::start().unwrap();
    assert_eq!(broker.tls_mode(), TlsMode::None);
    let r = Client::new(broker.url()).get("/v1/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("strict-transport-security"), None);
    assert_eq!(broker.tls_handshakes(), 0);
}

#[test]
fn handshakes_are_counted_per_connection_not_per_request() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    let first = https_client(&broker, &pki, None);
    for _ in 0..10 {
        assert_eq!(first.get("/v1/health").status, 200);
    }
    assert_eq!(broker.tls_handshakes(), 1);
    // A second client has its own pool, so its own connection.
    let second = https_client(&broker, &pki, None);
    for _ in 0..5 {
        assert_eq!(second.get("/v1/challenge").status, 200);
    }
    assert_eq!(broker.tls_handshakes(), 2);
    // A bare connection per request: one handshake each.
    let config = rustls_config(pki.ca_pem(), None);
    for _ in 0..3 {
        assert_http_200(&raw_tls_health(&broker, Arc::clone(&config), "127.0.0.1").unwrap());
    }
    assert_eq!(broker.tls_handshakes(), 5);
}

#[test]
fn mtls_refuses_clients_without_a_trusted_certificate_at_the_handshake() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.mtls_server_config().unwrap())
        .start()
        .unwrap();
    assert_eq!(broker.tls_mode(), TlsMode::Mtls);
    assert!(broker.url().starts_with("https://"));

    // No certificate: the server's alert ends the connection before HTTP.
    let none = raw_tls_health(&broker, rustls_config(pki.ca_pem(), None), "localhost");
    assert!(
        matches!(
            none,
            Err(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
            ))
        ),
        "{none:?}"
    );
    // A certificate from another CA: refused too.
    let untrusted = raw_tls_health(
        &broker,
        rustls_config(pki.ca_pem(), Some(pki.untrusted_client())),
        "localhost",
    );
    assert!(
        matches!(
            untrusted,
            Err(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate
            ))
        ),
        "{untrusted:?}"
    );
    // The same through ureq: an error, never an HTTP status.
    let err = ureq_agent(pki.ca_pem(), None)
        .get(&format!("{}/v1/health", broker.url()))
        .call()
        .expect_err("a client without a certificate got an answer");
    assert!(!matches!(err, ureq::Error::StatusCode(_)), "{err:?}");

    // The right certificate: served.
    let ok = raw_tls_health(
        &broker,
        rustls_config(pki.ca_pem(), Some(pki.client())),
        "localhost",
    )
    .unwrap();
    assert_http_200(&ok);
    // Only that handshake completed.
    assert_eq!(broker.tls_handshakes(), 1);

    // And a whole app login over mTLS.
    let app = broker.register_universal_app().unwrap();
    let c = https_client(&broker, &pki, Some(pki.client()));
    let token = c.app_token(&app.client_id, app.client_secret.expose_secret());
    assert!(!token.is_empty());
    assert_eq!(broker.tls_handshakes(), 2);
}

#[test]
fn plain_http_to_the_tls_port_gets_go_s_400_and_no_handshake() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    let mut tcp = TcpStream::connect(broker.local_addr()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
    // With a body the broker never reads: the answer still arrives whole.
    let mut tcp = TcpStream::connect(broker.local_addr()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let body = vec![b'x'; 200_000];
    let head = format!(
        "POST /v1/app/auth HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let _ = tcp.write_all(&body); // the broker may stop reading early
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 400 Bad Request\r\n"),
        "{answer}"
    );
    // Through an HTTP client: a clean 400, no hang.
    let http_url = broker.url().replacen("https://", "http://", 1);
    let r = Client::new(&http_url).get("/v1/health");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(broker.tls_handshakes(), 0);
    // The port still serves TLS afterwards.
    assert_eq!(
        https_client(&broker, &pki, None).get("/v1/health").status,
        200
    );
    assert_eq!(broker.tls_handshakes(), 1);
}

#[test]
fn test_pki_failure_certificates_fail_as_advertised() {
    let pki = TestPki::generate().unwrap();
    let good = DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    // The broker's certificate is valid for all three names.
    let trusting = rustls_config(pki.ca_pem(), None);
    for name in ["127.0.0.1", "localhost", "::1"] {
        assert_http_200(&raw_tls_health(&good, Arc::clone(&trusting), name).unwrap());
    }
    // A client trusting another CA: unknown issuer.
    let other = raw_tls_health(
        &good,
        rustls_config(pki.untrusted_ca_pem(), None),
        "localhost",
    );
    assert!(
        matches!(
            other,
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{other:?}"
    );

    let expired = DevBroker::builder()
        .tls(
            TlsServerConfig::from_pem(
                pki.expired_server().cert_pem(),
                pki.expired_server().key_pem(),
            )
            .unwrap(),
        )
        .start()
        .unwrap();
    let r = raw_tls_health(&expired, Arc::clone(&trusting), "localhost");
    assert!(
        matches!(
            r,
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            ))
        ),
        "{r:?}"
    );

    let wrong_host = DevBroker::builder()
        .tls(
            TlsServerConfig::from_pem(
                pki.wrong_host_server().cert_pem(),
                pki.wrong_host_server().key_pem(),
            )
            .unwrap(),
        )
        .start()
        .unwrap();
    let r = raw_tls_health(&wrong_host, Arc::clone(&trusting), "127.0.0.1");
    assert!(
        matches!(
            r,
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{r:?}"
    );
    assert_eq!(expired.tls_handshakes(), 0);
    assert_eq!(wrong_host.tls_handshakes(), 0);
}

#[test]
fn bad_tls_material_is_refused_without_leaking_keys() {
    let pki = TestPki::generate().unwrap();
    let err = TlsServerConfig::from_pem("not a pem", pki.server().key_pem()).unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    let err = TlsServerConfig::from_pem(pki.server().cert_pem(), "").unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    // A key that belongs to another certificate.
    let err =
        TlsServerConfig::from_pem(pki.server().cert_pem(), pki.client().key_pem()).unwrap_err();
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    let err = pki
        .server_config()
        .unwrap()
        .require_client_cert("")
        .unwrap_err();
    assert!(err.to_string().contains("client CA"), "{err}");
    let err = TlsServerConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");

    let key_body: String = pki
        .server()
        .key_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for shown in [
        format!("{:?}", pki.mtls_server_config().unwrap()),
        format!("{pki:?}"),
        format!("{:?}", pki.server()),
        format!(
            "{:?}",
            DevBroker::builder().tls(pki.server_config().unwrap())
        ),
    ] {
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!shown.contains(&key_body[..32]), "{shown}");
    }
}

#[test]
fn test_pki_writes_its_files_and_removes_them() {
    let pki = TestPki::generate().unwrap();
    let dir = pki.write_to_temp_dir().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.ca_cert()).unwrap(),
        pki.ca_pem()
    );
    assert_eq!(
        std::fs::read_to_string(dir.client_key()).unwrap(),
        pki.client().key_pem()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.server_key())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
    }
    let config = TlsServerConfig::from_pem_files(dir.server_cert(), dir.server_key())
        .unwrap()
        .require_client_cert_from_file(dir.ca_cert())
        .unwrap();
    assert_eq!(config.mode(), TlsMode::Mtls);
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists());
}

// ------------------------------------------------------------- binary --

/// The binary, its start-up lines (through `press Ctrl-C to stop`), and
/// its URL. The child is killed on drop.
struct Running {
    child: Child,
    lines: Vec<String>,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentwrit-devbroker"));
    for var in [
        "AA_TLS_MODE",
        "AA_TLS_CERT",
        "AA_TLS_KEY",
        "AA_TLS_CLIENT_CA",
        "AA_ADMIN_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["--port", "0", "--admin-secret", "tls-test-admin-secret"]);
    cmd
}

fn start_binary(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let end = line == "press Ctrl-C to stop";
            if tx.send(line).is_err() || end {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let end = line == "press Ctrl-C to stop";
                lines.push(line);
                if end {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "no start-up ({e}); so far {lines:?}; stderr {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let url = lines
        .iter()
        .find_map(|l| l.split_once(" listening on ").map(|(_, u)| u.to_owned()))
        .unwrap();
    Running { child, lines, url }
}

/// The sample-app block stays paste-able: between its header and the end,
/// every line is a `#` comment or an `export`.
fn assert_paste_able(lines: &[String]) {
    let start = lines
        .iter()
        .position(|l| l.starts_with("# universal sample app "))
        .unwrap();
    let block = &lines[start..lines.len() - 1];
    for line in block {
        assert!(
            line.starts_with("# ") || line.starts_with("export AGENTWRIT_"),
            "not paste-able: {line:?}"
        );
    }
    assert_eq!(
        block.iter().filter(|l| l.starts_with("export ")).count(),
        3,
        "{block:?}"
    );
}

#[test]
fn binary_with_tls_flags_prints_an_https_url_and_serves_it() {
    let pki = TestPki::generate().unwrap();
    let files = pki.write_to_temp_dir().unwrap();
    let mut cmd = binary();
    cmd.arg("--tls-mode")
        .arg("tls")
        .arg("--tls-cert")
        .arg(files.server_cert())
        .arg(format!("--tls-key={}", files.server_key().display()))
        .arg("--sample-app");
    // The environment asks for mtls; the flag wins.
    cmd.env("AA_TLS_MODE", "mtls");
    let run = start_binary(cmd);
    assert!(run.url.starts_with("https://127.0.0.1:"), "{:?}", run.lines);
    assert!(
        run.lines.iter().any(|l| l == "TLS mode tls"),
        "{:?}",
        run.lines
    );
    assert!(
        run.lines
            .contains(&format!("export AGENTWRIT_BROKER_URL={}", run.url)),
        "{:?}",
        run.lines
    );
    assert!(
        run.lines.contains(
            &"# scope ceiling: read:data:* write:data:* read:analytics:* write:reports:*"
                .to_owned()
        ),
        "{:?}",
        run.lines
    );
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("# app login is rate-limited") && l.contains("429")),
        "{:?}",
        run.lines
    );
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("# over TLS") && l.contains("AGENTWRIT_CA_FILE")),
        "{:?}",
        run.lines
    );
    assert_paste_able(&run.lines);

    let c = Client::with_agent(&run.url, ureq_agent(pki.ca_pem(), None));
    let r = c.get("/v1/health");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("strict-transport-security").as_deref(), Some(HSTS));
    // The printed credentials log in over HTTPS.
    let id = run
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("export AGENTWRIT_CLIENT_ID="))
        .unwrap();
    let secret = run
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("export AGENTWRIT_CLIENT_SECRET="))
        .unwrap();
    assert!(!c.app_token(id, secret).is_empty());
}

#[test]
fn binary_reads_the_real_broker_s_tls_variables() {
    let pki = TestPki::generate().unwrap();
    let files = pki.write_to_temp_dir().unwrap();
    let mut cmd = binary();
    cmd.env("AA_TLS_MODE", "mtls")
        .env("AA_TLS_CERT", files.server_cert())
        .env("AA_TLS_KEY", files.server_key())
        .env("AA_TLS_CLIENT_CA", files.ca_cert());
    let run = start_binary(cmd);
    assert!(run.url.starts_with("https://"), "{:?}", run.lines);
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("TLS mode mtls: clients must present a certificate")),
        "{:?}",
        run.lines
    );
    let err = ureq_agent(pki.ca_pem(), None)
        .get(&format!("{}/v1/health", run.url))
        .call()
        .expect_err("served a client without a certificate");
    assert!(!matches!(err, ureq::Error::StatusCode(_)), "{err:?}");
    let with_cert = Client::with_agent(&run.url, ureq_agent(pki.ca_pem(), Some(pki.client())));
    assert_eq!(with_cert.get("/v1/health").status, 200);
}

#[test]
fn binary_flag_none_overrides_the_environment() {
    let mut cmd = binary();
    cmd.args(["--tls-mode", "none", "--sample-app", "--no-rate-limits"])
        .env("AA_TLS_MODE", "tls");
    let run = start_binary(cmd);
    assert!(run.url.starts_with("http://127.0.0.1:"), "{:?}", run.lines);
    assert!(
        run.lines
            .contains(&"# app login rate limit: off (--no-rate-limits)".to_owned()),
        "{:?}",
        run.lines
    );
    assert!(!run.lines.iter().any(|l| l.starts_with("TLS mode")));
    assert_paste_able(&run.lines);
    assert_eq!(Client::new(&run.url).get("/v1/health").status, 200);
}

#[test]
fn binary_warns_about_tls_files_it_ignores() {
    let mut cmd = binary();
    cmd.args(["--tls-mode", "none", "--tls-key", "/nonexistent/key.pem"]);
    let mut run = start_binary(cmd);
    assert!(run.url.starts_with("http://"), "{:?}", run.lines);
    let _ = run.child.kill();
    let mut stderr = String::new();
    run.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("warning: --tls-key ignored under --tls-mode none"),
        "{stderr}"
    );
}

#[test]
fn binary_refuses_incomplete_or_unknown_tls_settings() {
    let pki = TestPki::generate().unwrap();
    let files = pki.write_to_temp_dir().unwrap();
    let cert = files.server_cert().display().to_string();
    let key = files.server_key().display().to_string();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: [Case<'_>; 5] = [
        (
            &["--tls-mode", "https"],
            &[],
            2,
            "unknown TLS mode \"https\"",
        ),
        (
            &[],
            &[("AA_TLS_MODE", "ssl")],
            1,
            "AA_TLS_MODE: unknown TLS mode",
        ),
        (
            &["--tls-mode", "tls"],
            &[],
            1,
            "needs --tls-cert <FILE> (or AA_TLS_CERT)",
        ),
        (
            &["--tls-mode", "mtls", "--tls-cert", &cert, "--tls-key", &key],
            &[],
            1,
            "needs --tls-client-ca <FILE> (or AA_TLS_CLIENT_CA)",
        ),
        // A key file that does not exist.
        (
            &["--tls-mode", "tls", "--tls-cert", &cert],
            &[("AA_TLS_KEY", "/nonexistent/key.pem")],
            1,
            "/nonexistent/key.pem",
        ),
    ];
    for (args, env, code, message) in cases {
        let mut cmd = binary();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}
