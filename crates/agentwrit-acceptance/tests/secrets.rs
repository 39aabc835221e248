//! Secret hygiene, on both transports: a full lifecycle against an
//! in-process development broker with every `tracing` event and span
//! (TRACE, span fields, span open/close) and every `log` record captured
//! into a buffer; then every value and error obtained is rendered with
//! `{:?}` (and `{}` where it has Display), and neither the rendering nor
//! the captured log may contain a client secret, an admin secret, an
//! access token (or its signature), a launch token or the agent's
//! private key (hex or base64).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use agentwrit_acceptance::{AgentApi, Async, Blocking, CEILING, DelegatedApi, Sdk, unique};
use agentwrit_core::wire::{
    AccessToken, AdminSecret, AuditQuery, ClientSecret, CreateAppRequest, LaunchToken,
    LaunchTokenRequest, RevocationLevel,
};
use agentwrit_core::{AgentKey, AgentOptions, ClientConfig, Error, ReleaseOutcome, Validation};
use agentwrit_devbroker::DevBroker;
use support::Hardened;

/// Everything written by the capturing subscriber and logger.
type Buffer = Arc<Mutex<Vec<u8>>>;

struct Sink(Buffer);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// ureq-proto's TRACE hex dump of every byte sent and received
/// (`ureq_proto::util`), which holds `Authorization: Bearer ...` and the
/// request bodies with their secrets. It is a third-party wire dump a
/// program only gets by enabling TRACE for that target; the SDK cannot
/// switch it off (see the crate's report). Everything else `log`ged is
/// searched.
fn is_wire_dump(record: &log::Record<'_>) -> bool {
    record.level() == log::Level::Trace && record.target() == "ureq_proto::util"
}

/// `log` records (ureq, reqwest, hyper...) into the same buffer.
struct Logger(Buffer);

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if is_wire_dump(record) {
            return;
        }
        let line = format!(
            "LOG {} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        self.0.lock().unwrap().extend_from_slice(line.as_bytes());
    }
    fn flush(&self) {}
}

/// Installs (once per test binary) a global TRACE subscriber writing
/// every event, with its spans' fields, and every span's opening and
/// closing into the buffer, and a logger doing the same for `log`.
/// Global, so that the async runtime's worker threads and the
/// development broker's threads are captured too.
fn capture() -> Buffer {
    static BUFFER: OnceLock<Buffer> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer: Buffer = Arc::default();
            let writer = buffer.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
                .with_target(true)
                .with_thread_names(true)
                .with_writer(move || Sink(writer.clone()))
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            log::set_logger(Box::leak(Box::new(Logger(buffer.clone())))).unwrap();
            log::set_max_level(log::LevelFilter::Trace);
            buffer
        })
        .clone()
}

fn log_text(buffer: &Buffer) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

const WRONG_CLIENT_SECRET: &str = "wrong-client-secret-6f1d2c9a7b";
const WRONG_ADMIN_SECRET: &str = "wrong-admin-secret-83ab4e0c51";

/// The agent's private key: a fixed seed, so that its encodings can be
/// searched for.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::try_from(i).unwrap().wrapping_mul(37).wrapping_add(11);
    }
    seed
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Base64 with the given alphabet, without padding (a padded encoding
/// contains the unpadded one).
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Collects renderings.
#[derive(Default)]
struct Shown(String);

impl Shown {
    fn debug(&mut self, what: &str, value: &dyn std::fmt::Debug) {
        let _ = writeln!(self.0, "{what}: {value:?}");
        let _ = writeln!(self.0, "{what}: {value:#?}");
    }
    fn both(&mut self, what: &str, value: &(impl std::fmt::Debug + std::fmt::Display)) {
        self.debug(what, value);
        let _ = writeln!(self.0, "{what}: {value}");
    }
    fn error(&mut self, what: &str, err: &Error) {
        self.both(what, err);
        if let Some(problem) = err.problem() {
            self.both(&format!("{what}.problem"), problem);
        }
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            self.debug(&format!("{what}.source"), &cause);
            let _ = writeln!(self.0, "{what}.source: {cause}");
            source = cause.source();
        }
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[(&str, String)]) {
    for (name, secret) in secrets {
        assert!(
            !secret.is_empty(),
            "{name}: an empty secret would prove nothing"
        );
        assert!(
            !text.contains(secret.as_str()),
            "{name} leaked into the {what}:\n{text}"
        );
        // Not even a token's signature segment.
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(
                !text.contains(signature),
                "{name}'s signature leaked into the {what}:\n{text}"
            );
        }
    }
    // No JWT at all (the admin token, which no public API exposes, is
    // covered by this): every JWT begins with base64 of `{"`.
    assert!(
        !text.contains("eyJ"),
        "a JWT leaked into the {what}:\n{text}"
    );
}

/// The whole lifecycle on one transport, then the search.
fn lifecycle<S: Hardened>() {
    let buffer = capture();
    let broker = DevBroker::builder().start().unwrap();
    let url = broker.url().to_owned();
    let admin = broker.admin_secret().clone();
    let mut shown = Shown::default();

    // Operator: admin auth (implicit), create app, list, get, launch token.
    let op = S::operator(&url, &admin).unwrap();
    let created = S::create_app(
        &op,
        CreateAppRequest::new(
            format!("secrets-{}", unique()),
            CEILING.iter().map(|s| (*s).to_owned()).collect(),
        ),
    )
    .unwrap();
    let client_secret = created
        .client_secret
        .as_ref()
        .expect("a new app has a secret")
        .expose_secret()
        .to_owned();
    let listed = S::list_apps(&op).unwrap();
    let got = S::get_app(&op, &created.app_id).unwrap();
    let admin_launch = S::admin_launch_token(
        &op,
        LaunchTokenRequest::new("admin-minted", vec!["read:data:*".to_owned()]),
    )
    .unwrap();

    // App: auth (implicit), health, a launch token of its own.
    let app = S::app(&url, &created.client_id, &client_secret).unwrap();
    let health = S::health(&app).unwrap();
    let app_launch = S::app_launch_token(
        &app,
        LaunchTokenRequest::new("app-minted", vec!["read:data:*".to_owned()]),
    )
    .unwrap();
    let app_token = S::app_session_token(&app).expect("the app has a session");

    // Agents: create (with our key), validate, renew, delegate, release,
    // validate dead.
    let key = AgentKey::from_seed(seed());
    let options = AgentOptions::new().with_key(key.clone());
    shown.debug("options", &options);
    let a = S::create_agent_with(&app, "orch", "a", &["read:data:*"], options).unwrap();
    let a_first = a.access_token().expose_secret().to_owned();
    let a_valid = S::validate(&app, &a_first).unwrap();
    assert!(a_valid.is_valid());
    S::renew(&a).unwrap();
    let a_renewed = a.access_token().expose_secret().to_owned();
    assert_ne!(a_first, a_renewed);
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let b_token = b.access_token().expose_secret().to_owned();
    let delegated = S::delegate(
        &a,
        &b.agent_id(),
        &["read:data:x"],
        Some(std::time::Duration::from_secs(60)),
    )
    .unwrap();
    let delegated_valid = S::validate(&app, delegated.access_token().expose_secret()).unwrap();
    assert!(delegated_valid.is_valid());
    assert_eq!(S::release(&a).unwrap(), ReleaseOutcome::Released);
    let a_dead = S::validate(&app, &a_renewed).unwrap();
    assert!(!a_dead.is_valid());
    let released_renew = S::renew(&a).unwrap_err();
    assert!(
        matches!(released_renew, Error::Released),
        "{released_renew:?}"
    );

    // Operator: revoke b, then b's token is refused; audit.
    let revoked = S::revoke(&op, RevocationLevel::Agent, &b.agent_id()).unwrap();
    let b_refused = S::delegate(&b, &a.agent_id(), &["read:data:x"], None).unwrap_err();
    assert!(
        matches!(b_refused, Error::Authentication { .. }),
        "{b_refused:?}"
    );
    let audit = S::audit_all(&op, AuditQuery::new()).unwrap();
    assert!(!audit.is_empty());

    // Failing calls: wrong client secret, wrong admin secret.
    let wrong_app = S::app(&url, &created.client_id, WRONG_CLIENT_SECRET).unwrap();
    let wrong_client = S::create_agent(&wrong_app, "orch", "c", &["read:data:*"]).unwrap_err();
    assert_eq!(wrong_client.status(), Some(401), "{wrong_client:?}");
    let wrong_op = S::operator(&url, &AdminSecret::from(WRONG_ADMIN_SECRET)).unwrap();
    let wrong_admin = S::list_apps(&wrong_op).unwrap_err();
    assert_eq!(wrong_admin.status(), Some(401), "{wrong_admin:?}");

    // The transport's own types (builders, validator, a guard, the app's
    // core, config and session), on a fresh agent the guard releases.
    let c = S::create_agent(&app, "orch", "c", &["read:data:*"]).unwrap();
    let c_token = c.access_token().expose_secret().to_owned();
    shown.0.push_str(&S::render_transport_types(
        &app,
        c.clone(),
        &url,
        &client_secret,
        &admin,
    ));

    // Render everything else.
    shown.debug("app", &app);
    shown.debug("operator", &op);
    shown.debug("wrong app", &wrong_app);
    shown.debug("wrong operator", &wrong_op);
    shown.debug("agent a", &a);
    shown.debug("agent a's claims", &a.claims());
    shown.debug("agent a's header", &a.bearer_header_value().unwrap());
    shown.debug("agent b", &b);
    shown.debug("agent c", &c);
    shown.debug("a's token", &a.access_token());
    shown.debug("delegated", &delegated);
    shown.debug("delegated claims", &delegated.claims());
    for (what, validation) in [
        ("a valid", &a_valid),
        ("delegated valid", &delegated_valid),
        ("a dead", &a_dead),
    ] {
        shown.debug(what, validation);
        if let Validation::Valid(claims) = validation {
            shown.debug(&format!("{what} claims"), claims);
        }
    }
    shown.debug("created app", &created);
    shown.debug("listed apps", &listed);
    shown.debug("got app", &got);
    shown.debug("admin launch token", &admin_launch);
    shown.both("admin launch token expiry", &admin_launch.expires_at);
    shown.debug("app launch token", &app_launch);
    shown.debug("health", &health);
    shown.debug("revoked", &revoked);
    shown.both("revocation level", &RevocationLevel::Agent);
    shown.debug("audit", &audit);
    shown.debug("agent key", &key);
    shown.debug("admin secret", &admin);
    shown.debug("client secret", &ClientSecret::new(client_secret.clone()));
    shown.debug("access token", &AccessToken::new(a_renewed.clone()));
    shown.debug("launch token", &LaunchToken::new("a".repeat(64)));
    let config = ClientConfig::new(url.parse().unwrap());
    shown.debug("config", &config);
    shown.both("broker url", config.broker());
    shown.error("released renew", &released_renew);
    shown.error("revoked b", &b_refused);
    shown.error("wrong client secret", &wrong_client);
    shown.error("wrong admin secret", &wrong_admin);

    let key_seed = seed();
    let secrets: Vec<(&str, String)> = vec![
        ("admin secret", admin.expose_secret().to_owned()),
        ("client secret", client_secret.clone()),
        ("wrong client secret", WRONG_CLIENT_SECRET.to_owned()),
        ("wrong admin secret", WRONG_ADMIN_SECRET.to_owned()),
        ("app token", app_token),
        ("agent a's first token", a_first),
        ("agent a's renewed token", a_renewed),
        ("agent b's token", b_token),
        ("agent c's token", c_token),
        (
            "delegated token",
            delegated.access_token().expose_secret().to_owned(),
        ),
        (
            "admin launch token",
            admin_launch.launch_token.expose_secret().to_owned(),
        ),
        (
            "app launch token",
            app_launch.launch_token.expose_secret().to_owned(),
        ),
        ("private key (hex)", hex(&key_seed)),
        ("private key (HEX)", hex(&key_seed).to_uppercase()),
        ("private key (base64)", base64(&key_seed, STD)),
        ("private key (base64url)", base64(&key_seed, URL)),
        ("private key (bytes)", format!("{key_seed:?}")),
    ];
    // The public key may appear (it is public); make sure the test can
    // tell the two apart.
    assert_ne!(key.public_key_base64(), base64(&key_seed, STD));

    assert_clean(&format!("{} renderings", S::NAME), &shown.0, &secrets);
    let log = log_text(&buffer);
    assert!(
        log.contains("agentwrit") && log.contains("/v1/register"),
        "the capture works: the log holds the SDK's spans:\n{log}"
    );
    assert!(
        log.contains(&format!("agentwrit_{}::transport", S::NAME)),
        "this transport's spans were captured:\n{log}"
    );
    assert!(
        log.contains("status=401"),
        "the failing calls were logged:\n{log}"
    );
    assert_clean(&format!("{} log", S::NAME), &log, &secrets);
}

#[test]
fn blocking_lifecycle_leaks_no_secret() {
    lifecycle::<Blocking>();
}

#[test]
fn async_lifecycle_leaks_no_secret() {
    lifecycle::<Async>();
}

/// The helpers above find what they should (so that a clean result
/// means something).
#[test]
fn the_search_finds_planted_secrets() {
    assert_eq!(base64(b"Man", STD), "TWFu");
    assert_eq!(base64(b"Ma", STD), "TWE");
    assert_eq!(base64(&[0xfb, 0xff], URL), "-_8");
    assert_eq!(hex(&[0, 0xab]), "00ab");
    let planted = [("secret", "s3cr3t-value-for-the-test".to_owned())];
    let caught = std::panic::catch_unwind(|| {
        assert_clean("planted", "xx s3cr3t-value-for-the-test xx", &planted);
    });
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| {
        assert_clean("planted", "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln", &[]);
    });
    assert!(caught.is_err());
    assert_clean("clean", "nothing to see", &planted);
    assert_eq!(<Blocking as Sdk>::NAME, "blocking");
    assert_eq!(<Async as Sdk>::NAME, "async");
}
