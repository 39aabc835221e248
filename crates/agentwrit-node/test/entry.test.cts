// The CommonJS entry points, required as a CommonJS program requires
// them: the same classes as the ESM ones (one implementation), the same
// names exported, and the generated native loader not reachable.
import assert from "node:assert/strict";
import { test } from "node:test";

const subpaths = ["agentwrit-rs", "agentwrit-rs/testing", "agentwrit-rs/express", "agentwrit-rs/hono", "agentwrit-rs/mcp"];

test("each ESM entry point exports exactly the CommonJS one's names, as the same objects", async () => {
  for (const path of subpaths) {
    const cjs = require(path) as Record<string, unknown>;
    const esm = (await import(path)) as Record<string, unknown>;
    const runtime = (names: string[]) => names.filter((n) => n !== "default" && !n.startsWith("_")).sort();
    assert.deepEqual(runtime(Object.keys(esm)), runtime(Object.keys(cjs)), path);
    for (const name of runtime(Object.keys(cjs))) {
      if (path === "agentwrit-rs/mcp" && name === "agentWritVerifier") continue; // bound to the SDK's ESM classes
      assert.equal(esm[name], cjs[name], `${path}: ${name}`);
    }
  }
});

test("an error thrown through one entry point is an instance of the other's class", async () => {
  const cjs = require("agentwrit-rs") as typeof import("agentwrit-rs");
  const esm = (await import("agentwrit-rs")) as typeof import("agentwrit-rs");
  const { closedPort } = (await import("./support.mjs")) as { closedPort(): Promise<string> };
  const err = await cjs.validate(await closedPort(), "eyJ.a.b", { timeoutMs: 2_000 }).catch((e: unknown) => e);
  assert.ok(err instanceof esm.TransportError);
  assert.ok(err instanceof cjs.AgentWritError);
});

test("the native loader is private", () => {
  assert.throws(() => require("agentwrit-rs/dist/native.cjs"), /ERR_PACKAGE_PATH_NOT_EXPORTED|not defined by "exports"/);
  const pkg = require("agentwrit-rs/package.json") as { engines: { node: string } };
  assert.equal(pkg.engines.node, ">=20");
});
