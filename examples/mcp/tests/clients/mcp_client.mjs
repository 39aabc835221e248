// One MCP client action with the official TypeScript SDK
// (@modelcontextprotocol/sdk), for the Rust tests of examples/mcp
// (`cargo xtask mcp` runs them).
//
//   AGENTWRIT_TOKEN=... node mcp_client.mjs URL discover
//   AGENTWRIT_TOKEN=... node mcp_client.mjs URL call TOOL ARGUMENTS_JSON
//
// An unset or empty AGENTWRIT_TOKEN sends no Authorization header. Prints one JSON object on
// stdout: what the SDK returned or threw, and the status and
// WWW-Authenticate of every HTTP response (recorded by the transport's
// `fetch` option).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';

const [url, action, tool, args] = process.argv.slice(2);
const token = process.env.AGENTWRIT_TOKEN ?? '';
const responses = [];
const out = { responses };

const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const params = extractWWWAuthenticateParams(response);
  responses.push({
    method: init?.method ?? 'GET',
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    resource_metadata: params.resourceMetadataUrl?.href ?? null,
    scope: params.scope ?? null,
    error: params.error ?? null,
  });
  return response;
};

const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers },
  fetch: recordingFetch,
});
const client = new Client({ name: 'agentwrit-rs-tests', version: '0.1.0' });
try {
  await client.connect(transport);
  if (action === 'call') {
    const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
    out.is_error = Boolean(result.isError);
    out.text = result.content.filter((c) => c.type === 'text').map((c) => c.text).join(' ');
  } else {
    out.connected = true;
  }
} catch (e) {
  out.error = [`${e.constructor.name}: ${e.message}`];
  out.error_code = e.code ?? null;
}
try {
  await client.close();
} catch {
  // already closed
}

if (action === 'discover') {
  const found = responses.find((r) => r.resource_metadata);
  out.metadata_url = found?.resource_metadata ?? null;
  if (found) {
    // The SDK's discovery: fetches the URL the challenge named and parses
    // it with its RFC 9728 schema (a throw fails the test).
    const doc = await discoverOAuthProtectedResourceMetadata(new URL(url), {
      resourceMetadataUrl: new URL(found.resource_metadata),
    });
    out.metadata = doc;
  }
}
console.log(JSON.stringify(out));
