// An auto-renewing agent that is garbage-collected unreleased stops
// renewing (and is not released: its token expires at its TTL), as
// `Agent`'s documentation says. Shown at the broker's audit trail with a
// witness instead of a clock, as the Rust acceptance test does: a
// program run with `node --expose-gc` lets an agent renew, drops it and
// forces a collection; a witness agent it makes afterwards renews twice,
// which takes longer than the first agent's next renewal was due; then
// the trail must show no renewal of the first agent since the drop
// beyond one already in flight.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { DevBroker } from "agentwrit-rs/testing";

import { events, eventually, liveTokens } from "./support.mjs";

/** The events of `type` for `agentId` past the first `after` of the trail. */
async function count(broker: DevBroker, type: string, agentId: string, after = 0): Promise<number> {
  return (await events(broker)).slice(after).filter((e) => e.eventType === type && e.agentId === agentId).length;
}

test("a garbage-collected auto-renewing agent stops renewing and is not released", async () => {
  // Two-second tokens: a renewal every 1.6 s.
  await using broker = new DevBroker({ maxTtl: 2 });
  const c = broker.universalCredentials();
  const child = spawn(process.execPath, ["--expose-gc", fileURLToPath(new URL("./gc_child.mjs", import.meta.url))], {
    env: { ...process.env, BROKER: broker.url, CLIENT_ID: c.clientId, CLIENT_SECRET: c.clientSecret },
    stdio: ["pipe", "pipe", "inherit"],
    timeout: 120_000,
  });
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (word: string): Promise<string[]> => {
    const line = await lines.next();
    assert.ok(line.done !== true, `the program ended before "${word}"`);
    const parts = String(line.value).split(" ");
    assert.equal(parts[0], word, String(line.value));
    return parts.slice(1);
  };

  const [droppedId = "", token = ""] = await next("dropped");
  assert.ok((await count(broker, "token_renewed", droppedId)) >= 1, "it renewed while it was held");
  const mark = (await events(broker)).length;
  child.stdin.write("go\n");
  const [witnessId = ""] = await next("witness");
  assert.ok(
    await eventually(async () => (await count(broker, "token_renewed", witnessId, mark)) >= 2, 60_000),
    "the witness never renewed twice",
  );
  child.stdin.end("release\n");
  await next("released");
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);

  // A renewer still running would have renewed the dropped agent at least
  // twice since the mark (its period is the witness's, and it started
  // earlier); one renewal in flight at the drop may land after it.
  const after = await count(broker, "token_renewed", droppedId, mark);
  assert.ok(after <= 1, `renewed ${after} times after it was garbage-collected`);
  assert.equal(await count(broker, "token_released", droppedId), 0, "collection releases nothing");
  const app = broker.universalApp();
  assert.ok(await eventually(async () => !(await app.validate(token)).valid, 10_000), "its token lives on");
  assert.ok(await eventually(async () => (await liveTokens(broker)).size === 0, 10_000), "a token is still alive");
});
