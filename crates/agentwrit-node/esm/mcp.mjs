// The verifier is bound to the ESM build of the MCP SDK's error classes:
// an ESM server's `requireBearerAuth` tells its errors apart with
// `instanceof`, and the SDK's CommonJS build has classes of its own.
import * as errors from "@modelcontextprotocol/sdk/server/auth/errors.js";
import cjs from "./mcp.cjs";

export const { mcpToolScopes, protectedResourceMetadata, scopeFamilies, allows, claimsOf, AgentAuth } = cjs;

export const agentWritVerifier = cjs._bind(errors);
