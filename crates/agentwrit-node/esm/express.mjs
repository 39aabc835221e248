import cjs from "./express.cjs";

export const { agentAuth, requireScopes, agentClaims, AgentAuth } = cjs;
