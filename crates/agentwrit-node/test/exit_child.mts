// A program whose only creation is aborted before the broker answers,
// and which then has nothing left to do: its event loop empties while the
// creation, which reached the broker, is still running in the Rust core.
// The package keeps the process alive until that agent is released.
import { AgentWritApp } from "agentwrit-rs";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const app = new AgentWritApp(env("BROKER"), env("CLIENT_ID"), env("CLIENT_SECRET"));
try {
  await app.createAgent(
    { orchId: "orch", taskId: "exiting", scope: ["read:data:customer-7291"] },
    { signal: AbortSignal.timeout(150) },
  );
  console.log("created (the abort came too late)");
} catch (e) {
  console.log(`aborted (${(e as Error).name})`);
}
