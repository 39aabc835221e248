//! `agentwrit-devbroker`: the development broker as a standalone server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle, TlsMode, TlsServerConfig};
use agentwrit_wire::AdminSecret;
use clap::Parser;

/// agentwrit-devbroker: a development AgentWrit broker (the real broker's
/// HTTP contract, in memory). Not for production.
// No `Debug`: it would show the admin secret.
#[derive(Parser)]
#[command(
    name = "agentwrit-devbroker",
    version,
    // As the hand-written parser did: the last of a repeated flag wins.
    args_override_self = true,
    after_help = "Ctrl-C (or SIGTERM) stops the broker."
)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Operator secret [default: $AA_ADMIN_SECRET, else a random one,
    /// printed once at startup].
    #[arg(long, value_name = "SECRET")]
    admin_secret: Option<String>,
    /// JWT issuer (the real broker's default is empty too).
    #[arg(long, value_name = "ISS", default_value = "")]
    issuer: String,
    /// SPIFFE trust domain [default: agentwrit.local].
    #[arg(long, value_name = "TD")]
    trust_domain: Option<String>,
    /// Register the sample apps' universal app and print the three
    /// `export AGENTWRIT_...=` lines for a shell.
    #[arg(long)]
    sample_app: bool,
    /// Turn off the admin and app login rate limits.
    #[arg(long)]
    no_rate_limits: bool,
    /// none (plain HTTP), tls (HTTPS) or mtls (HTTPS, and clients must
    /// present a certificate signed by --tls-client-ca) [default:
    /// $AA_TLS_MODE, else none].
    #[arg(long, value_name = "MODE")]
    tls_mode: Option<TlsMode>,
    /// The server certificate chain, PEM (tls, mtls) [default:
    /// $AA_TLS_CERT].
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Its private key, PEM (tls, mtls) [default: $AA_TLS_KEY].
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The CA client certificates must chain to, PEM (mtls) [default:
    /// $AA_TLS_CLIENT_CA].
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Log each broker event to stderr (tracing, debug level).
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message; --help and --version exit 0.
    let args = Args::parse();
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
