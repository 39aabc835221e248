"""One MCP client action with the official Python SDK (`mcp` 2.x), for the
Rust tests of examples/mcp (`cargo xtask mcp` runs them).

    AGENTWRIT_TOKEN=... python mcp_client.py URL discover
    AGENTWRIT_TOKEN=... python mcp_client.py URL call TOOL ARGUMENTS_JSON

An unset or empty AGENTWRIT_TOKEN sends no Authorization header. Prints one JSON object on stdout:
what the SDK returned or raised, and the status and WWW-Authenticate of every
HTTP response the SDK's client received (recorded by an httpx event hook).
"""

import json
import os
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth, extract_scope_from_www_auth
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import ProtectedResourceMetadata


def exception_messages(exc: BaseException) -> list[str]:
    """The messages of an exception and, for a group, of its members."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[str] = []
        for inner in exc.exceptions:
            out.extend(exception_messages(inner))
        return out
    return [f"{type(exc).__name__}: {exc}"]


async def main() -> None:
    url, action = sys.argv[1], sys.argv[2]
    token = os.environ.get("AGENTWRIT_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    responses: list[dict] = []
    out: dict = {"responses": responses}

    async def record(response: httpx2.Response) -> None:
        responses.append(
            {
                "method": response.request.method,
                "status": response.status_code,
                "www_authenticate": response.headers.get("www-authenticate"),
                "resource_metadata": extract_resource_metadata_from_www_auth(response),
                "scope": extract_scope_from_www_auth(response),
            }
        )

    client = create_mcp_http_client(headers=headers)
    client.event_hooks["response"].append(record)
    async with client:
        try:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    if action == "call":
                        result = await session.call_tool(sys.argv[3], json.loads(sys.argv[4]))
                        out["is_error"] = bool(result.is_error)
                        out["text"] = " ".join(c.text for c in result.content if c.type == "text")
                    elif action == "discover":
                        out["connected"] = True
        except BaseException as exc:  # noqa: BLE001 - the test reads what the SDK raised
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            out["error"] = exception_messages(exc)

        if action == "discover":
            metadata_url = next((r["resource_metadata"] for r in responses if r["resource_metadata"]), None)
            out["metadata_url"] = metadata_url
            if metadata_url:
                fetched = await client.get(metadata_url)
                out["metadata_status"] = fetched.status_code
                out["metadata_content_type"] = fetched.headers.get("content-type")
                doc = fetched.json()
                out["metadata"] = doc
                # The SDK's own model of RFC 9728 metadata. It follows the MCP
                # specification, which also requires `authorization_servers`:
                # validated when the server names one.
                if "authorization_servers" in doc:
                    model = ProtectedResourceMetadata.model_validate(doc)
                    out["sdk_model_resource"] = str(model.resource)
    print(json.dumps(out))


anyio.run(main)
