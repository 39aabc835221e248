// Type-level tests of the package's declarations, checked by `tsc
// --strict` as the tests are compiled (never run): what must compile
// does, and each `@ts-expect-error` line must be an error.
import {
  Agent,
  AgentWritApp,
  AuthorizationError,
  DelegatedToken,
  type AgentClaims,
  type ReleaseOutcome,
  type ValidateResult,
} from "agentwrit-rs";
import { agentAuth, requireScopes } from "agentwrit-rs/express";
import { agentWritVerifier } from "agentwrit-rs/mcp";
import { DevBroker } from "agentwrit-rs/testing";

export async function compiles(app: AgentWritApp, broker: DevBroker): Promise<void> {
  await using agent = await app.createAgent(
    { orchId: "o", taskId: "t", scope: ["read:data:x"], maxTtl: 60, autoRenew: true },
    { signal: AbortSignal.timeout(1_000) },
  );
  const disposable: AsyncDisposable = agent;
  const outcome: ReleaseOutcome = await agent.release();
  const when: Date = agent.expiresAt;
  const delegated: DelegatedToken = await agent.delegate(agent, ["read:data:x"], { ttl: 60 });
  const chain: string[] = delegated.delegationChain.map((r) => r.agent);
  const v: ValidateResult = await app.validate(agent.accessToken);
  if (v.valid) {
    const claims: AgentClaims = v.claims;
    void claims.taskId?.length;
  } else {
    const why: string = v.error;
    void why;
  }
  const e: unknown = undefined;
  if (e instanceof AuthorizationError) {
    const status: number | undefined = e.status;
    const id: string | undefined = e.requestId;
    void [status, id, e.problem?.errorCode];
  }
  const verifier = agentWritVerifier(broker.auth());
  const info = await verifier.verifyAccessToken(agent.accessToken);
  const scopes: string[] = info.scopes;
  const middleware = agentAuth({ brokerUrl: broker.url });
  void [disposable, outcome, when, chain, scopes, middleware, requireScopes("read:data:{id}"), middleware.auth];
}

export async function refused(app: AgentWritApp, agent: Agent): Promise<void> {
  // @ts-expect-error a scope list, not a string
  await app.createAgent({ orchId: "o", taskId: "t", scope: "read:data:x" });
  // @ts-expect-error taskId is required
  await app.createAgent({ orchId: "o", scope: ["read:data:x"] });
  // @ts-expect-error agents come from createAgent
  new Agent();
  // @ts-expect-error the token is read-only
  agent.accessToken = "x";
  const v = await app.validate("t");
  // @ts-expect-error claims only after checking `valid`
  void v.claims.sub;
  // @ts-expect-error the signal goes in the second argument
  await agent.renew(AbortSignal.timeout(1));
}
