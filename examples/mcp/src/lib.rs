//! The MCP tool server of the examples, as a library: the tools over the
//! sample apps' data, their scope table, and the axum router that puts
//! rmcp's streamable HTTP service behind `agentwrit-tower`'s MCP layer.
//!
//! `src/bin/mcp_server.rs` serves it; `src/bin/mcp_agent.rs` is an agent
//! that calls it; the tests run both, and the official Python and
//! TypeScript MCP clients against the server (`cargo xtask mcp`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use agentwrit_tower::{AgentAuth, AgentClaims, McpScopes, ProtectedResource};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// Where people read about this server (the metadata's
/// `resource_documentation`).
pub const DOCUMENTATION: &str = "https://github.com/agentwrit/agentwrit-rs/blob/main/docs/mcp.md";

/// Each tool and the scopes a call needs, filled from its arguments: the
/// one table the tower layer decides with (and the tools re-check).
pub const TOOL_SCOPES: [(&str, &str); 3] = [
    ("get_customer_profile", "read:data:customer-{customer_id}"),
    ("write_order", "write:data:order-{order_id}"),
    ("tenant_report", "read:analytics:{tenant}"),
];

/// The scope requirements of the server's tools.
///
/// # Errors
///
/// Never for this table; a template that is not a scope would be a
/// configuration error.
pub fn mcp_scopes() -> Result<McpScopes, agentwrit_tower::ConfigError> {
    TOOL_SCOPES
        .iter()
        .fold(McpScopes::builder(), |b, (tool, scope)| {
            b.tool(*tool, &[*scope])
        })
        .build()
}

/// The protected-resource metadata for the server reachable at
/// `public_url` (its MCP endpoint, e.g. `http://127.0.0.1:8000/mcp`).
///
/// # Errors
///
/// A URL that is not an absolute `http(s)` URL.
pub fn protected_resource(
    public_url: &str,
    scopes: &McpScopes,
) -> Result<ProtectedResource, agentwrit_tower::ConfigError> {
    Ok(ProtectedResource::new(public_url)?
        .scopes_supported(scopes.scope_families())
        .resource_documentation(DOCUMENTATION)
        .resource_name("AgentWrit sample tools (orders, customers, tenant reports)"))
}

/// The axum router: the MCP endpoint at [`MCP_PATH`] behind
/// `auth.mcp_layer(scopes)`, which also answers the metadata document.
/// `allowed_hosts` are the `Host` values rmcp accepts (DNS-rebinding
/// protection); `shutdown` ends the MCP sessions when cancelled.
pub fn router(
    auth: &AgentAuth,
    scopes: McpScopes,
    allowed_hosts: Vec<String>,
    shutdown: tokio_util::sync::CancellationToken,
) -> axum::Router {
    let data = Data::seeded();
    let service: StreamableHttpService<Tools, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(Tools::new(data.clone())),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(allowed_hosts)
            .with_cancellation_token(shutdown),
    );
    axum::Router::new()
        .nest_service(MCP_PATH, service)
        .layer(auth.mcp_layer(scopes))
}

/// The sample apps' data: customer profiles (order worker), tenant
/// analytics (data pipeline) and the orders written through the server.
#[derive(Clone, Debug)]
pub struct Data {
    inner: Arc<Mutex<DataInner>>,
}

#[derive(Debug)]
struct DataInner {
    customers: BTreeMap<&'static str, (&'static str, &'static str)>,
    tenants: BTreeMap<&'static str, (&'static str, serde_json::Value)>,
    orders: BTreeMap<String, String>,
}

impl Data {
    /// The seeds' records.
    #[must_use]
    pub fn seeded() -> Self {
        let customers = BTreeMap::from([
            ("cust-7291", ("John Doe", "Premium")),
            ("cust-9999", ("Jane Roe", "Standard")),
        ]);
        let tenants = BTreeMap::from([
            (
                "hospital",
                (
                    "Metro Health System",
                    serde_json::json!({"patient_visits": "12,847", "avg_stay": "3.2 days", "readmit_rate": "4.1%"}),
                ),
            ),
            (
                "bank",
                (
                    "First National Bank",
                    serde_json::json!({"transactions": "2.4M", "avg_balance": "$8,420", "fraud_rate": "0.02%"}),
                ),
            ),
            (
                "retail",
                (
                    "ShopWave Corp",
                    serde_json::json!({"orders": "847K", "avg_order": "$67.30", "return_rate": "8.4%"}),
                ),
            ),
        ]);
        Data {
            inner: Arc::new(Mutex::new(DataInner {
                customers,
                tenants,
                orders: BTreeMap::new(),
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut DataInner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// `get_customer_profile`'s arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct CustomerArgs {
    /// The customer, e.g. `cust-7291` (needs `read:data:customer-<id>`).
    pub customer_id: String,
}

/// `write_order`'s arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct OrderArgs {
    /// The order, e.g. `ord-4823` (needs `write:data:order-<id>`).
    pub order_id: String,
    /// The customer it belongs to.
    pub customer_id: String,
}

/// `tenant_report`'s arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct TenantArgs {
    /// `hospital`, `bank` or `retail` (needs `read:analytics:<tenant>`).
    pub tenant: String,
}

/// The MCP server: one instance per session, sharing [`Data`].
#[derive(Clone, Debug)]
pub struct Tools {
    data: Data,
    tool_router: ToolRouter<Self>,
}

/// The verified claims the tower layer put in the request, as rmcp hands
/// the HTTP request's parts to a tool.
fn claims(ctx: &RequestContext<RoleServer>) -> Option<AgentClaims> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<AgentClaims>())
        .cloned()
}

/// Defence in depth: the layer has already refused a token without the
/// scope; a tool re-checks from the claims anyway (a tool error, not a
/// panic, if the layer were ever left out).
fn recheck(ctx: &RequestContext<RoleServer>, scope: &str) -> Result<AgentClaims, CallToolResult> {
    match claims(ctx) {
        Some(claims) if claims.allows(&[scope]) => Ok(claims),
        Some(_) => Err(CallToolResult::error(vec![ContentBlock::text(format!(
            "the token lacks {scope}"
        ))])),
        None => Err(CallToolResult::error(vec![ContentBlock::text(
            "no verified agent token: the server is not behind the AgentWrit layer",
        )])),
    }
}

fn scope_for(tool: &str, name: &str, value: &str) -> String {
    TOOL_SCOPES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, s)| s.replace(&format!("{{{name}}}"), value))
        .unwrap_or_default()
}

#[tool_router]
impl Tools {
    /// A server over `data`.
    #[must_use]
    pub fn new(data: Data) -> Self {
        Tools {
            data,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Read one customer's profile. Needs read:data:customer-<customer_id>.")]
    fn get_customer_profile(
        &self,
        Parameters(args): Parameters<CustomerArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let scope = scope_for("get_customer_profile", "customer_id", &args.customer_id);
        if let Err(refused) = recheck(&ctx, &scope) {
            return refused;
        }
        match self
            .data
            .with(|d| d.customers.get(args.customer_id.as_str()).copied())
        {
            Some((name, tier)) => CallToolResult::success(vec![ContentBlock::text(format!(
                "Customer profile for {}: {name}, {tier} tier",
                args.customer_id
            ))]),
            None => CallToolResult::error(vec![ContentBlock::text(format!(
                "no customer {}",
                args.customer_id
            ))]),
        }
    }

    #[tool(description = "Write an order's confirmation. Needs write:data:order-<order_id>.")]
    fn write_order(
        &self,
        Parameters(args): Parameters<OrderArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let scope = scope_for("write_order", "order_id", &args.order_id);
        let claims = match recheck(&ctx, &scope) {
            Ok(claims) => claims,
            Err(refused) => return refused,
        };
        let by = claims.task_id().unwrap_or("?").to_owned();
        self.data
            .with(|d| d.orders.insert(args.order_id.clone(), by));
        CallToolResult::success(vec![ContentBlock::text(format!(
            "Order {} confirmed for customer {}",
            args.order_id, args.customer_id
        ))])
    }

    #[tool(
        description = "A tenant's analytics report (hospital, bank, retail). Needs read:analytics:<tenant>."
    )]
    fn tenant_report(
        &self,
        Parameters(args): Parameters<TenantArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let scope = scope_for("tenant_report", "tenant", &args.tenant);
        if let Err(refused) = recheck(&ctx, &scope) {
            return refused;
        }
        match self
            .data
            .with(|d| d.tenants.get(args.tenant.as_str()).cloned())
        {
            Some((name, figures)) => CallToolResult::success(vec![ContentBlock::text(format!(
                "{name} ({}): {figures}",
                args.tenant
            ))]),
            None => CallToolResult::error(vec![ContentBlock::text(format!(
                "no tenant {}",
                args.tenant
            ))]),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "agentwrit-mcp-example",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Sample tools over AgentWrit task-scoped tokens: each call needs the scope its \
                 tool description names, for exactly the customer, order or tenant it touches.",
            )
    }
}

// The Rust snippets of `docs/mcp.md`, compiled as doc tests so they keep
// matching the API (`cargo xtask doc-snippets` checks every page with
// Rust snippets is included somewhere).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/mcp.md")]
mod mcp_md {}
