import cjs from "./hono.cjs";

export const { agentAuth, requireScopes, AgentAuth } = cjs;
