//! An MCP tool server whose tools are gated by AgentWrit task-scoped
//! tokens: rmcp's streamable HTTP service behind `agentwrit-tower`'s MCP
//! layer.
//!
//! ```text
//! cargo run -p agentwrit-mcp-example --bin mcp_server              # embedded development broker
//! AGENTWRIT_BROKER_URL=https://broker.internal:8080 \
//!   cargo run -p agentwrit-mcp-example --bin mcp_server -- --port 8000 --public-url https://tools.example.com/mcp
//! ```
//!
//! Tokens are checked at the broker (release and revocation seen within
//! `--max-staleness`); every `tools/call` needs the scope its tool names,
//! filled from the call's arguments (`read:data:customer-{customer_id}`,
//! `write:data:order-{order_id}`, `read:analytics:{tenant}`). The metadata
//! document (RFC 9728) is at `/.well-known/oauth-protected-resource/mcp`.
//! The server never forwards a client's token: the layer strips it before
//! rmcp sees the request.
//!
//! With `--record-usage DIR` it records scope-usage evidence
//! (`docs/usage-evidence.md`): per token, the scopes it was granted, the
//! tool calls allowed and the calls denied with the scope that was missing,
//! written as JSON Lines files in `DIR` when the token expires and, for
//! every token still tracked, when the server stops (Ctrl-C or SIGTERM).
//! `agentwrit usage report DIR` reads them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use agentwrit_tower::AgentAuth;
use agentwrit_tower::usage::{JsonlSink, Recorder};
use clap::Parser;

/// The service name in the usage records (the Python example's default,
/// its program name, is the same).
const SERVICE_NAME: &str = "mcp_server";

/// An MCP server whose tools need AgentWrit scopes.
#[derive(Debug, Parser)]
#[command(name = "mcp_server", version)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The port (0: any free port; the URL is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The broker that validates tokens (default: AGENTWRIT_BROKER_URL;
    /// when neither is set, an embedded development broker is started).
    #[arg(long)]
    broker_url: Option<String>,
    /// The URL clients use for the MCP endpoint: the protected resource's
    /// identifier (default: http://BIND:PORT/mcp).
    #[arg(long)]
    public_url: Option<String>,
    /// How long a broker verdict on a token is reused, in seconds (0: ask
    /// the broker on every request).
    #[arg(long, default_value_t = 5)]
    max_staleness: u64,
    /// Require tokens to name this audience in `aud` (the broker issues no
    /// `aud` to agent tokens today, so only set it with a broker that does).
    #[arg(long)]
    audience: Option<String>,
    /// Name an OAuth authorization server in the metadata
    /// (`authorization_servers`): only for a deployment with one in front
    /// of the broker, which is not one itself.
    #[arg(long)]
    authorization_server: Option<String>,
    /// Record scope usage (per token: granted, allowed, denied with the
    /// missing scope) as JSON Lines files in DIR (created if missing);
    /// what is pending is written when the server stops.
    #[arg(long, value_name = "DIR")]
    record_usage: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .init();
    let args = Args::parse();
    // Listening before anything is printed: a signal that arrives once the
    // server says it is ready stops it cleanly (usage records written),
    // never by the default action.
    let mut signals = Signals::listen()?;

    // The broker: given, from the environment, or embedded.
    let configured = args.broker_url.clone().or_else(|| {
        std::env::var("AGENTWRIT_BROKER_URL")
            .ok()
            .filter(|v| !v.is_empty())
    });
    let (broker_url, embedded) = match configured {
        Some(url) => (url, None),
        None => {
            let broker = agentwrit_devbroker::DevBroker::builder()
                .issuer("agentwrit")
                .start()?;
            let app = broker.register_universal_app()?;
            (broker.url().to_owned(), Some((broker, app)))
        }
    };

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port)).await?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}{}", agentwrit_mcp_example::MCP_PATH));

    let scopes = agentwrit_mcp_example::mcp_scopes()?;
    let mut resource = agentwrit_mcp_example::protected_resource(&public_url, &scopes)?;
    if let Some(issuer) = &args.authorization_server {
        resource = resource.authorization_server(issuer);
    }
    let mut builder = AgentAuth::broker(&broker_url)
        .max_staleness(Duration::from_secs(args.max_staleness))
        .protected_resource(resource.clone());
    if let Some(audience) = &args.audience {
        builder = builder.audience(audience);
    }
    let recorder = match &args.record_usage {
        Some(dir) => {
            let recorder = Recorder::builder()
                .service_name(SERVICE_NAME)
                .sink(JsonlSink::dir(dir)?)
                .build()?;
            builder = builder.record_usage(recorder.clone());
            Some(recorder)
        }
        None => None,
    };
    let auth = builder.build()?;

    // rmcp accepts only these Host values (DNS-rebinding protection).
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(uri) = public_url.parse::<http::Uri>()
        && let Some(host) = uri.host()
    {
        hosts.push(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let router = agentwrit_mcp_example::router(&auth, scopes, hosts, shutdown.child_token());

    println!(
        "MCP server listening on http://{local}{}",
        agentwrit_mcp_example::MCP_PATH
    );
    println!("protected resource metadata: {}", resource.metadata_url());
    println!("tokens validated at {broker_url}");
    if let Some(dir) = &args.record_usage {
        println!("scope usage recorded in {}", dir.display());
    }
    // The embedded broker's throwaway sample app, for the agent example:
    // its credentials go to a file only this user can read, never to the
    // output (a secret printed once is in every log that keeps it).
    let exports = match &embedded {
        Some((_, app)) => {
            let body = format!(
                "export AGENTWRIT_BROKER_URL={broker_url}\n\
                 export AGENTWRIT_CLIENT_ID={}\n\
                 export AGENTWRIT_CLIENT_SECRET={}\n\
                 export AGENTWRIT_MCP_URL={public_url}\n",
                app.client_id,
                app.client_secret.expose_secret()
            );
            let file = ExportsFile::write(&body)?;
            println!(
                "the agent's settings (the embedded broker's app): source {}",
                file.path().display()
            );
            Some(file)
        }
        None => None,
    };
    println!("press Ctrl-C to stop");

    let stop = shutdown.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            signals.recv().await;
            stop.cancel();
        })
        .await;
    // Every token still tracked gets its record now (reason `shutdown`),
    // even when serving failed.
    let recorded = recorder.as_ref().map(Recorder::shutdown).transpose();
    drop(exports);
    drop(embedded);
    served?;
    recorded?;
    if let Some(dir) = &args.record_usage {
        println!("scope-usage records written to {}", dir.display());
    }
    Ok(())
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM: registered when created, so a
/// signal arriving before the server waits for it is not lost.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// The first of them.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A file of `export` lines in a fresh directory of its own (0700; the
/// file 0600, created new, never through a link), removed with the
/// directory on drop.
struct ExportsFile {
    dir: PathBuf,
}

impl ExportsFile {
    fn write(body: &str) -> std::io::Result<ExportsFile> {
        use std::io::Write as _;
        #[cfg(unix)]
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        let dir = loop {
            let dir = base.join(format!("agentwrit-mcp-{}-{attempt}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            builder.mode(0o700);
            match builder.create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let file = ExportsFile { dir };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        options.open(file.path())?.write_all(body.as_bytes())?;
        Ok(file)
    }

    fn path(&self) -> PathBuf {
        self.dir.join("agent.env")
    }
}

impl Drop for ExportsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
