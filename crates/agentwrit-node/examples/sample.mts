// What the sample apps share: the broker they fall back on, and printing
// scopes the way the sample apps' expected output shows them (Python's
// list and dict syntax).
//
// With AGENTWRIT_BROKER_URL set (and AGENTWRIT_CLIENT_ID /
// AGENTWRIT_CLIENT_SECRET), an example uses that broker and app
// (`AgentWritApp.fromEnv()`); without it, it starts the development broker
// in-process (issuer `agentwrit`, as the sample apps' output shows),
// registers the universal sample app there and says so in one line on
// stderr.
import { AgentWritApp } from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

/** The app to run with, and what to stop when done. */
export interface SampleApp extends AsyncDisposable {
  app: AgentWritApp;
}

export function sampleApp(): SampleApp {
  const configured = process.env["AGENTWRIT_BROKER_URL"];
  if (configured !== undefined && configured !== "") {
    return { app: AgentWritApp.fromEnv(), [Symbol.asyncDispose]: async () => undefined };
  }
  const broker = new DevBroker({ issuer: "agentwrit" });
  console.error(`(AGENTWRIT_BROKER_URL is not set: using an embedded development broker at ${broker.url})`);
  return { app: broker.universalApp(), [Symbol.asyncDispose]: () => broker.close() };
}

/** `['a', 'b']`, as Python prints a list of strings. */
export function pyList(items: readonly string[]): string {
  return `[${items.map((s) => `'${s}'`).join(", ")}]`;
}

/** `{'a': '1', 'b': '2'}`, as Python prints a dict of strings. */
export function pyDict(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `'${k}': '${v}'`)
    .join(", ")}}`;
}

/** The value after `--name` (or in `--name=value`) on the command line. */
export function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}
