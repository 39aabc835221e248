"""An MCP tool server in Python whose tools are gated by AgentWrit
task-scoped tokens: the official ``mcp`` package's ``MCPServer`` (2.x) over
streamable HTTP, behind ``agentwrit_rs.mcp.McpAuth``. The same tools, scopes
and answers as the Rust server (``examples/mcp/src/bin/mcp_server.rs``), and
the same tests pass against both (``cargo xtask mcp``)::

    python examples/mcp/python/mcp_server.py               # embedded development broker
    AGENTWRIT_BROKER_URL=https://broker.internal:8080 \\
      python examples/mcp/python/mcp_server.py --port 8000 --public-url https://tools.example.com/mcp

Needs ``agentwrit_rs`` (``pip install ./crates/agentwrit-python``), ``mcp``
2.x and ``uvicorn`` (which ``mcp`` brings).

Tokens are checked at the broker (release and revocation seen within
``--max-staleness`` seconds); every ``tools/call`` needs the scope its tool
names, filled from the call's arguments (``read:data:customer-{customer_id}``,
``write:data:order-{order_id}``, ``read:analytics:{tenant}``). The metadata
document (RFC 9728) is at ``/.well-known/oauth-protected-resource/mcp``. The
server never forwards a client's token: the layer strips it before the MCP
server sees the request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from agentwrit_rs.mcp import McpAuth, ToolScopes, current_token
from agentwrit_rs.service import ProtectedResource, Verifier

MCP_PATH = "/mcp"
DOCUMENTATION = "https://github.com/agentwrit/agentwrit-rs/blob/main/docs/mcp.md"

# Each tool and the scope a call needs, filled from its arguments: the one
# table the layer decides with (and the tools re-check).
TOOL_SCOPES = {
    "get_customer_profile": "read:data:customer-{customer_id}",
    "write_order": "write:data:order-{order_id}",
    "tenant_report": "read:analytics:{tenant}",
}

# The sample apps' data: customer profiles (order worker), tenant analytics
# (data pipeline), and the orders written through the server.
CUSTOMERS = {"cust-7291": ("John Doe", "Premium"), "cust-9999": ("Jane Roe", "Standard")}
TENANTS: dict[str, tuple[str, dict[str, str]]] = {
    "hospital": (
        "Metro Health System",
        {"patient_visits": "12,847", "avg_stay": "3.2 days", "readmit_rate": "4.1%"},
    ),
    "bank": (
        "First National Bank",
        {"transactions": "2.4M", "avg_balance": "$8,420", "fraud_rate": "0.02%"},
    ),
    "retail": (
        "ShopWave Corp",
        {"orders": "847K", "avg_order": "$67.30", "return_rate": "8.4%"},
    ),
}
ORDERS: dict[str, str] = {}
_orders_lock = threading.Lock()


def recheck(tool: str, name: str, value: str) -> str:
    """Defence in depth: the layer has already refused a token without the
    scope; a tool re-checks from the verified token anyway (a tool error if
    the layer were ever left out). Returns the task that holds the token."""
    scope = TOOL_SCOPES[tool].replace("{" + name + "}", value)
    token = current_token()
    if token is None:
        raise ToolError("no verified agent token: the server is not behind the AgentWrit layer")
    if not token.allows([scope]):
        raise ToolError(f"the token lacks {scope}")
    return token.task_id or "?"


server: MCPServer[Any] = MCPServer(
    "agentwrit-mcp-example",
    version="0.1.0",
    log_level="WARNING",
    instructions=(
        "Sample tools over AgentWrit task-scoped tokens: each call needs the scope its tool "
        "description names, for exactly the customer, order or tenant it touches."
    ),
)


@server.tool(
    description="Read one customer's profile. Needs read:data:customer-<customer_id>.",
    structured_output=False,
)
def get_customer_profile(customer_id: str) -> str:
    recheck("get_customer_profile", "customer_id", customer_id)
    if customer_id not in CUSTOMERS:
        raise ToolError(f"no customer {customer_id}")
    name, tier = CUSTOMERS[customer_id]
    return f"Customer profile for {customer_id}: {name}, {tier} tier"


@server.tool(
    description="Write an order's confirmation. Needs write:data:order-<order_id>.",
    structured_output=False,
)
def write_order(order_id: str, customer_id: str) -> str:
    task = recheck("write_order", "order_id", order_id)
    with _orders_lock:
        ORDERS[order_id] = task
    return f"Order {order_id} confirmed for customer {customer_id}"


@server.tool(
    description="A tenant's analytics report (hospital, bank, retail). Needs read:analytics:<tenant>.",
    structured_output=False,
)
def tenant_report(tenant: str) -> str:
    recheck("tenant_report", "tenant", tenant)
    if tenant not in TENANTS:
        raise ToolError(f"no tenant {tenant}")
    name, figures = TENANTS[tenant]
    return f"{name} ({tenant}): {json.dumps(figures, sort_keys=True, separators=(',', ':'))}"


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mcp_server.py", description="An MCP server whose tools need AgentWrit scopes.")
    p.add_argument("--bind", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8000, help="the port (0: any free port; the URL is printed)")
    p.add_argument(
        "--broker-url",
        help="the broker that validates tokens (default: AGENTWRIT_BROKER_URL; when neither is set, "
        "an embedded development broker is started)",
    )
    p.add_argument(
        "--public-url",
        help="the URL clients use for the MCP endpoint: the protected resource's identifier "
        "(default: http://BIND:PORT/mcp)",
    )
    p.add_argument(
        "--max-staleness",
        type=float,
        default=5,
        help="how long a broker verdict on a token is reused, in seconds (0: ask on every request)",
    )
    p.add_argument("--audience", help="require tokens to name this audience in aud")
    p.add_argument(
        "--authorization-server",
        help="name an OAuth authorization server in the metadata (only for a deployment with one "
        "in front of the broker, which is not one itself)",
    )
    p.add_argument("--record-usage", metavar="DIR", help="record scope usage as JSON Lines files in DIR")
    return p.parse_args()


async def serve(args: argparse.Namespace) -> None:
    embedded = None
    broker_url = args.broker_url or os.environ.get("AGENTWRIT_BROKER_URL") or None
    if broker_url is None:
        from agentwrit_rs.testing import DevBroker

        embedded = DevBroker(issuer="agentwrit")
        broker_url = embedded.url

    # Bound first, so that the resource identifier names the real port.
    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.bind, args.port))
    host, port = sock.getsockname()[:2]
    local = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    public_url = args.public_url or f"http://{local}{MCP_PATH}"

    scopes = ToolScopes(TOOL_SCOPES)
    verifier = Verifier(
        broker_url,
        max_staleness=args.max_staleness,
        audience=args.audience,
        resource=ProtectedResource(
            public_url,
            scopes_supported=scopes.scope_families,
            authorization_servers=[args.authorization_server] if args.authorization_server else [],
            documentation=DOCUMENTATION,
            name="AgentWrit sample tools (orders, customers, tenant reports)",
        ),
        record_usage=args.record_usage,
    )

    # The mcp package accepts only these Host values (DNS-rebinding
    # protection): loopback, and the public URL's host.
    from urllib.parse import urlsplit

    public_host = urlsplit(public_url).netloc
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", public_host],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    mcp_app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
    app = McpAuth(mcp_app, verifier=verifier, scopes=scopes)

    print(f"MCP server listening on http://{local}{MCP_PATH}")
    print(f"protected resource metadata: {verifier.resource_metadata_url}")
    print(f"tokens validated at {broker_url}")
    exports_dir = None
    if embedded is not None:
        # The embedded broker's throwaway sample app, for an agent: its
        # credentials go to a file only this user can read (a fresh 0700
        # directory, the file 0600), never to the output.
        creds = embedded.universal_credentials()
        exports_dir = tempfile.mkdtemp(prefix="agentwrit-mcp-")
        exports = os.path.join(exports_dir, "agent.env")
        fd = os.open(exports, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(
                f"export AGENTWRIT_BROKER_URL={broker_url}\n"
                f"export AGENTWRIT_CLIENT_ID={creds.client_id}\n"
                f"export AGENTWRIT_CLIENT_SECRET={creds.client_secret}\n"
                f"export AGENTWRIT_MCP_URL={public_url}\n"
            )
        print(f"the agent's settings (the embedded broker's app): source {exports}")
    print("press Ctrl-C to stop", flush=True)

    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(uv, "should_exit", True))
    try:
        await uv.serve(sockets=[sock])
    finally:
        verifier.close()
        if exports_dir is not None:
            shutil.rmtree(exports_dir, ignore_errors=True)
        if embedded is not None:
            embedded.close()


def main() -> None:
    asyncio.run(serve(arguments()))


if __name__ == "__main__":
    main()
