//! An MCP agent: for each task it gets a token from the broker with only
//! the scopes that task needs, calls the tool server with rmcp's client,
//! and releases the token when the task ends, on every path — Ctrl-C
//! included: an interrupt ends the task where it is, releases its token
//! (or the agent whose creation was under way, once it arrives) and exits
//! with status 130.
//!
//! ```text
//! cargo run -p agentwrit-mcp-example --bin mcp_agent      # embedded broker and server
//! # or against a running server (on its embedded broker, mcp_server writes
//! # these exports to a 0600 file and prints `source PATH`):
//! export AGENTWRIT_BROKER_URL=... AGENTWRIT_CLIENT_ID=... AGENTWRIT_CLIENT_SECRET=...
//! export AGENTWRIT_MCP_URL=http://127.0.0.1:8000/mcp
//! cargo run -p agentwrit-mcp-example --bin mcp_agent -- --customer cust-7291 --order ord-4823
//! ```

use std::error::Error;
use std::process::ExitCode;

use agentwrit_async::{Agent, App};
use clap::Parser;
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

type BoxError = Box<dyn Error>;

/// An agent that processes one order and one tenant report through MCP
/// tools, with a task-scoped token per task.
#[derive(Debug, Parser)]
#[command(name = "mcp_agent", version)]
struct Args {
    /// The MCP server's endpoint (default: AGENTWRIT_MCP_URL; with no
    /// broker configured either, an embedded broker and server are started).
    #[arg(long)]
    mcp_url: Option<String>,
    /// The customer whose order is processed.
    #[arg(long, default_value = "cust-7291")]
    customer: String,
    /// The order to confirm.
    #[arg(long, default_value = "ord-4823")]
    order: String,
    /// Another customer, whose profile the task must not read.
    #[arg(long, default_value = "cust-9999")]
    other_customer: String,
    /// The tenant whose report is built.
    #[arg(long, default_value = "bank")]
    tenant: String,
    /// Another tenant, whose data the report task must not read.
    #[arg(long, default_value = "hospital")]
    other_tenant: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // `biased`: the interrupt is polled first, so its handler is in place
    // before the work takes its first step (nothing is obtained before).
    let outcome = tokio::select! {
        biased;
        () = interrupted() => None,
        result = agent(&args) => Some(result),
    };
    // Here the work's future has been dropped if the interrupt won: the
    // guard inside `with_agent` handed the task's release to the SDK's
    // releaser, and a creation under way was handed over the same way (its
    // agent is released when it arrives). Outside any task on this
    // multi-thread runtime, that drop waits for the release (bounded), and
    // the runtime's shutdown after `main` waits for the rest: the token is
    // dead at the broker before the process ends.
    match outcome {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("mcp_agent: {e}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("mcp_agent: interrupted; the task's token is released");
            // 128 + SIGINT, as a shell reports a process ended by Ctrl-C.
            ExitCode::from(130)
        }
    }
}

/// Completes on Ctrl-C (SIGINT). If the handler cannot be installed, it
/// says so and never completes: the work then runs to its end.
async fn interrupted() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("mcp_agent: cannot listen for Ctrl-C ({e}); an interrupt will end the process");
        std::future::pending::<()>().await;
    }
}

/// The agent's work: with a broker and a server configured, against them;
/// otherwise in this process.
async fn agent(args: &Args) -> Result<(), BoxError> {
    let configured = std::env::var("AGENTWRIT_BROKER_URL").is_ok_and(|v| !v.is_empty());
    let mcp_url = args.mcp_url.clone().or_else(|| {
        std::env::var("AGENTWRIT_MCP_URL")
            .ok()
            .filter(|v| !v.is_empty())
    });
    match (configured, mcp_url) {
        (true, Some(url)) => run(&App::from_env()?, &url, args).await,
        (true, None) => {
            Err("AGENTWRIT_BROKER_URL is set: also set AGENTWRIT_MCP_URL (or --mcp-url)".into())
        }
        (false, url) => {
            // Everything in this process: a development broker, its sample
            // app, and (unless a URL was given) the MCP server.
            let broker = agentwrit_devbroker::DevBroker::builder()
                .issuer("agentwrit")
                .start()?;
            let reg = broker.register_universal_app()?;
            eprintln!(
                "(AGENTWRIT_BROKER_URL is not set: using an embedded development broker at {})",
                broker.url()
            );
            let app = App::new(
                broker.url(),
                &reg.client_id,
                reg.client_secret.expose_secret(),
            )?;
            let shutdown = tokio_util::sync::CancellationToken::new();
            let url = match url {
                Some(url) => url,
                None => embedded_server(broker.url(), shutdown.clone()).await?,
            };
            let result = run(&app, &url, args).await;
            shutdown.cancel();
            result
        }
    }
}

async fn run(app: &App, mcp_url: &str, args: &Args) -> Result<(), BoxError> {
    // Task 1: one order, one customer. Only these two scopes.
    let order_task = format!("process-{}", args.order);
    let scopes = [
        format!("read:data:customer-{}", args.customer),
        format!("write:data:order-{}", args.order),
    ];
    println!(
        "== task {order_task}: order {} for customer {} ==",
        args.order, args.customer
    );
    let released_token = app
        .with_agent("order-worker", &order_task, &scopes, async |agent| {
            show_agent(agent);
            let client = connect(mcp_url, agent).await?;
            let outcome = async {
                let tools = client.list_tools(Default::default()).await?;
                let mut names: Vec<_> = tools.tools.iter().map(|t| t.name.to_string()).collect();
                names.sort();
                println!("  tools on the server: {}", names.join(", "));
                call(
                    &client,
                    "[READ]",
                    "get_customer_profile",
                    serde_json::json!({"customer_id": args.customer}),
                )
                .await?;
                call(
                    &client,
                    "[WRITE]",
                    "write_order",
                    serde_json::json!({"order_id": args.order, "customer_id": args.customer}),
                )
                .await?;
                // Another customer's profile: the server refuses it (403),
                // naming the scope a token would need.
                call(
                    &client,
                    "[READ]",
                    "get_customer_profile",
                    serde_json::json!({"customer_id": args.other_customer}),
                )
                .await?;
                Ok::<_, BoxError>(())
            }
            .await;
            let _ = client.cancel().await;
            outcome?;
            Ok::<_, BoxError>(agent.access_token())
        })
        .await?;
    println!("  [RELEASE] the task's token is released");
    // Dead at the broker: any service that validates it now refuses it
    // (the MCP server within its verdict cache's max staleness, 5 s by default).
    if app.validate(&released_token).await?.is_valid() {
        return Err("the broker still accepts a released token".into());
    }
    println!("  [DEAD]    the broker reports the released token invalid");

    // Task 2: one tenant's report. Only that tenant's analytics.
    let report_task = format!("report-{}", args.tenant);
    let scopes = [format!("read:analytics:{}", args.tenant)];
    println!(
        "== task {report_task}: analytics report for tenant {} ==",
        args.tenant
    );
    app.with_agent("report-builder", &report_task, &scopes, async |agent| {
        show_agent(agent);
        let client = connect(mcp_url, agent).await?;
        let outcome = async {
            call(
                &client,
                "[REPORT]",
                "tenant_report",
                serde_json::json!({"tenant": args.tenant}),
            )
            .await?;
            call(
                &client,
                "[REPORT]",
                "tenant_report",
                serde_json::json!({"tenant": args.other_tenant}),
            )
            .await?;
            Ok::<_, BoxError>(())
        }
        .await;
        let _ = client.cancel().await;
        outcome
    })
    .await?;
    println!("  [RELEASE] the task's token is released");
    Ok(())
}

fn show_agent(agent: &Agent) {
    println!("  agent {}", agent.agent_id());
    println!(
        "  scope {:?}, expires in {} s",
        agent.scope(),
        agent.expires_in().as_secs()
    );
}

/// One rmcp client session carrying the agent's current token.
async fn connect(
    mcp_url: &str,
    agent: &Agent,
) -> Result<RunningService<RoleClient, ClientConfig>, BoxError> {
    let token = agent.access_token();
    Ok(ClientConfig::default()
        .serve(transport(mcp_url, token.expose_secret())?)
        .await?)
}

/// rmcp's streamable HTTP client on a reqwest client with the SDK's TLS
/// policy (explicit crypto provider, the same roots as the broker
/// client) and no redirects; the token goes in `Authorization: Bearer`.
fn transport(
    mcp_url: &str,
    token: &str,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, BoxError> {
    let tls = agentwrit_async::sansio::ClientSettings::new(mcp_url).tls_setup()?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured((**tls.client_config()).clone())
        .build()?;
    Ok(StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(mcp_url).auth_header(token),
    ))
}

/// Calls `tool`; prints its text, or the refusal. A refusal is the
/// expected outcome of the cross-customer and cross-tenant calls; any
/// other failure ends the task with an error.
async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    label: &str,
    tool: &str,
    arguments: serde_json::Value,
) -> Result<(), BoxError> {
    let shown = arguments.to_string();
    let serde_json::Value::Object(arguments) = arguments else {
        return Err("tool arguments are an object".into());
    };
    match client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
    {
        Ok(result) => {
            let text: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            if result.is_error == Some(true) {
                println!("  [TOOL ERROR] {tool}({shown}): {}", text.join(" "));
            } else {
                println!("  {label:<9} {}", text.join(" "));
            }
            Ok(())
        }
        Err(e) => match e.auth_challenge() {
            Some(challenge) if challenge.contains("insufficient_scope") => {
                let needed = param(challenge, "scope").unwrap_or_default();
                println!("  [BLOCKED] {tool}({shown}): 403 insufficient_scope, needs {needed}");
                Ok(())
            }
            _ => Err(e.into()),
        },
    }
}

/// The quoted value of `name="..."` in a challenge.
fn param(challenge: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = challenge.find(&key)? + key.len();
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_owned())
}

/// The example MCP server on 127.0.0.1:0 in this process; its URL.
async fn embedded_server(
    broker_url: &str,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}{}",
        listener.local_addr()?,
        agentwrit_mcp_example::MCP_PATH
    );
    let scopes = agentwrit_mcp_example::mcp_scopes()?;
    let auth = agentwrit_tower::AgentAuth::broker(broker_url)
        .protected_resource(agentwrit_mcp_example::protected_resource(&url, &scopes)?)
        .build()?;
    let router = agentwrit_mcp_example::router(
        &auth,
        scopes,
        vec!["127.0.0.1".to_owned()],
        shutdown.child_token(),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
            .await;
    });
    Ok(url)
}
