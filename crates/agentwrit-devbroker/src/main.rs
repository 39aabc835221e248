//! `agentwrit-devbroker`: the development broker as a standalone server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle, TlsMode, TlsServerConfig};
use agentwrit_wire::AdminSecret;

const HELP: &str = "\
agentwrit-devbroker: a development AgentWrit broker (the real broker's HTTP
contract, in memory). Not for production.

USAGE:
    agentwrit-devbroker [OPTIONS]

OPTIONS:
    --port <PORT>            port to listen on (default 8080; 0 = any free port)
    --bind <ADDR>            address to listen on (default 127.0.0.1)
    --admin-secret <SECRET>  operator secret (default: $AA_ADMIN_SECRET, else a
                             random one, printed once at startup)
    --issuer <ISS>           JWT issuer (default empty, as the real broker)
    --trust-domain <TD>      SPIFFE trust domain (default agentwrit.local)
    --sample-app             register the sample apps' universal app and print
                             the three `export AGENTWRIT_...=` lines for a shell
    --no-rate-limits         turn off the admin and app login rate limits
    --tls-mode <MODE>        none (plain HTTP, default), tls (HTTPS) or mtls
                             (HTTPS, and clients must present a certificate
                             signed by --tls-client-ca); default $AA_TLS_MODE
    --tls-cert <FILE>        the server certificate chain, PEM (tls, mtls);
                             default $AA_TLS_CERT
    --tls-key <FILE>         its private key, PEM (tls, mtls); default $AA_TLS_KEY
    --tls-client-ca <FILE>   the CA client certificates must chain to, PEM
                             (mtls); default $AA_TLS_CLIENT_CA
    --verbose                log each broker event (tracing, debug level)
    -h, --help               print this help

Ctrl-C (or SIGTERM) stops the broker.
";

struct Args {
    port: u16,
    bind: IpAddr,
    admin_secret: Option<String>,
    issuer: String,
    trust_domain: Option<String>,
    sample_app: bool,
    no_rate_limits: bool,
    verbose: bool,
    tls_mode: Option<TlsMode>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut a = Args {
        port: 8080,
        bind: IpAddr::from([127, 0, 0, 1]),
        admin_secret: None,
        issuer: String::new(),
        trust_domain: None,
        sample_app: false,
        no_rate_limits: false,
        verbose: false,
        tls_mode: None,
        tls_cert: None,
        tls_key: None,
        tls_client_ca: None,
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--port" => {
                let v = value("--port")?;
                a.port = v.parse().map_err(|_| format!("invalid port {v:?}"))?;
            }
            "--bind" => {
                let v = value("--bind")?;
                a.bind = v.parse().map_err(|_| format!("invalid address {v:?}"))?;
            }
            "--admin-secret" => a.admin_secret = Some(value("--admin-secret")?),
            "--issuer" => a.issuer = value("--issuer")?,
            "--trust-domain" => a.trust_domain = Some(value("--trust-domain")?),
            "--sample-app" => a.sample_app = true,
            "--no-rate-limits" => a.no_rate_limits = true,
            "--verbose" => a.verbose = true,
            "--tls-mode" => {
                let v = value("--tls-mode")?;
                a.tls_mode = Some(v.parse().map_err(|e| format!("--tls-mode: {e}"))?);
            }
            "--tls-cert" => a.tls_cert = Some(value("--tls-cert")?.into()),
            "--tls-key" => a.tls_key = Some(value("--tls-key")?.into()),
            "--tls-client-ca" => a.tls_client_ca = Some(value("--tls-client-ca")?.into()),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Parsed::Run(a))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("agentwrit-devbroker: {e}");
            return ExitCode::from(2);
        }
    };
    if args.verbose {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .init();
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentwrit-devbroker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A setting from its flag, else from the real broker's environment
/// variable (an empty variable counts as unset, as there).
fn flag_or_env(flag: Option<PathBuf>, var: &str) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The TLS settings from the flags and `AA_TLS_*` (flags win).
struct Tls {
    mode: TlsMode,
    config: Option<TlsServerConfig>,
    client_ca: Option<PathBuf>,
}

fn tls_settings(args: &Args) -> Result<Tls, String> {
    let mode = match args.tls_mode {
        Some(m) => m,
        None => match std::env::var("AA_TLS_MODE") {
            Ok(v) if !v.is_empty() => v.parse().map_err(|e| format!("AA_TLS_MODE: {e}"))?,
            _ => TlsMode::None,
        },
    };
    let ignored: Vec<&str> = [
        (args.tls_cert.is_some(), "--tls-cert"),
        (args.tls_key.is_some(), "--tls-key"),
        (args.tls_client_ca.is_some(), "--tls-client-ca"),
    ]
    .into_iter()
    .filter(|&(given, flag)| {
        given && (mode == TlsMode::None || (mode == TlsMode::Tls && flag == "--tls-client-ca"))
    })
    .map(|(_, flag)| flag)
    .collect();
    if !ignored.is_empty() {
        eprintln!(
            "agentwrit-devbroker: warning: {} ignored under --tls-mode {mode}",
            ignored.join(", ")
        );
    }
    if mode == TlsMode::None {
        if args.bind.is_unspecified() {
            eprintln!(
                "agentwrit-devbroker: warning: listening on all interfaces without TLS; tokens and secrets travel in clear"
            );
        }
        return Ok(Tls {
            mode,
            config: None,
            client_ca: None,
        });
    }
    let need = |flag: &Option<PathBuf>, name: &str, var: &str| {
        flag_or_env(flag.clone(), var)
            .ok_or_else(|| format!("--tls-mode {mode} needs {name} <FILE> (or {var})"))
    };
    let cert = need(&args.tls_cert, "--tls-cert", "AA_TLS_CERT")?;
    let key = need(&args.tls_key, "--tls-key", "AA_TLS_KEY")?;
    let mut config = TlsServerConfig::from_pem_files(&cert, &key).map_err(|e| e.to_string())?;
    let mut client_ca = None;
    if mode == TlsMode::Mtls {
        let ca = need(&args.tls_client_ca, "--tls-client-ca", "AA_TLS_CLIENT_CA")?;
        config = config
            .require_client_cert_from_file(&ca)
            .map_err(|e| e.to_string())?;
        client_ca = Some(ca);
    }
    Ok(Tls {
        mode,
        config: Some(config),
        client_ca,
    })
}

fn run(args: Args) -> Result<(), String> {
    let from_env = std::env::var("AA_ADMIN_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    let given = args.admin_secret.clone().or(from_env);
    if given.as_deref() == Some("change-me-in-production") {
        return Err("the admin secret is a known-weak default; choose another".into());
    }
    let tls = tls_settings(&args)?;
    let mut builder = DevBroker::builder()
        .bind(SocketAddr::new(args.bind, args.port))
        .issuer(args.issuer);
    if let Some(config) = tls.config {
        builder = builder.tls(config);
    }
    if let Some(td) = args.trust_domain {
        builder = builder.trust_domain(td);
    }
    if args.no_rate_limits {
        builder = builder.no_rate_limits();
    }
    let generated = given.is_none();
    if let Some(secret) = given {
        builder = builder.admin_secret(AdminSecret::new(secret));
    }
    let broker = builder.start().map_err(|e| e.to_string())?;
    println!(
        "agentwrit-devbroker {} (broker API {}) listening on {}",
        env!("CARGO_PKG_VERSION"),
        agentwrit_devbroker::BROKER_VERSION,
        broker.url()
    );
    match (tls.mode, &tls.client_ca) {
        (TlsMode::Mtls, Some(ca)) => println!(
            "TLS mode mtls: clients must present a certificate signed by {}",
            ca.display()
        ),
        (TlsMode::None, _) => {}
        (mode, _) => println!("TLS mode {mode}"),
    }
    if generated {
        println!(
            "admin secret (generated, shown once): {}",
            broker.admin_secret().expose_secret()
        );
    }
    if args.sample_app {
        let app = broker.register_universal_app().map_err(|e| e.to_string())?;
        println!("# universal sample app {}; paste into a shell:", app.app_id);
        println!("# scope ceiling: {}", app.scopes.join(" "));
        if args.no_rate_limits {
            println!("# app login rate limit: off (--no-rate-limits)");
        } else {
            println!(
                "# app login is rate-limited as on the real broker: 3 at once, then 10 a minute per client id; runs in quick succession get 429 (start with --no-rate-limits to lift it)"
            );
        }
        match tls.mode {
            TlsMode::None => {}
            TlsMode::Tls => println!(
                "# over TLS the client must trust the CA that signed the broker's certificate (AGENTWRIT_CA_FILE)"
            ),
            TlsMode::Mtls => println!(
                "# over mTLS the client must trust the CA that signed the broker's certificate (AGENTWRIT_CA_FILE) and present a client certificate (AGENTWRIT_CLIENT_CERT, AGENTWRIT_CLIENT_KEY)"
            ),
        }
        print!("{}", app.shell_exports(broker.url()));
    }
    println!("press Ctrl-C to stop");
    wait_for_signal()?;
    stop(broker);
    Ok(())
}

fn wait_for_signal() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.map_err(|e| e.to_string()),
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())
        }
    })
}

fn stop(broker: DevBrokerHandle) {
    println!("stopping");
    broker.shutdown();
    println!("stopped");
}
