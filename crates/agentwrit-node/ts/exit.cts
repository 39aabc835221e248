/**
 * Calls that outlived their callers (an aborted creation's agent being
 * released, a release whose promise nobody awaited) finish before the
 * process exits: they run on the Rust core's own threads, which Node does
 * not wait for by itself.
 *
 * When the event loop empties (`beforeExit`), the package waits for them
 * (at most 10 s), which keeps the loop alive until they end. `process.exit()`
 * skips `beforeExit`; its `exit` handler then waits, blocking, at most 2 s.
 *
 * @module
 */
import * as native from "./native.cjs";

const KEY = Symbol.for("agentwrit-rs.exit");

/** @internal */
export function installExitDrain(): void {
  const registry = globalThis as { [KEY]?: true };
  if (registry[KEY]) return;
  registry[KEY] = true;
  let draining = false;
  process.on("beforeExit", () => {
    if (draining || native.inFlight() === 0) return;
    draining = true;
    native.drain(10_000).then(
      () => {
        draining = false;
      },
      () => {
        draining = false;
      },
    );
  });
  process.on("exit", () => {
    if (native.inFlight() > 0) native.drainSync(2_000);
    // The scope-usage records of every authenticator that keeps them.
    try {
      native.finishUsage();
    } catch {
      // Nothing left to report to at exit.
    }
  });
}
