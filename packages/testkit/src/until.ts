// Waiting for a condition that an event outside the test's control makes true (a FIN processed, a
// backend gone from pg_stat_activity, a log line written), polled until it holds or a load-scaled
// deadline passes. The deadline only bounds a failure: a passing test returns as soon as it holds.
import { budget } from './budget.ts';

export interface UntilOptions {
  /** The deadline at idle, scaled by the load factor. Default 10 s. */
  timeoutMs?: number;
  /** Time between checks. Default 20 ms. */
  intervalMs?: number;
}

/** Resolves once `check` returns true; throws `gave up waiting for <what>` after the deadline. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: UntilOptions = {},
): Promise<void> {
  await waitForValue(what, async () => ((await check()) ? true : undefined), options);
}

/** Resolves with the first value `read` returns that `accept` accepts (default: not undefined). */
export async function waitForValue<T>(
  what: string,
  read: () => T | undefined | Promise<T | undefined>,
  options: UntilOptions & { accept?: (value: T) => boolean } = {},
): Promise<T> {
  const deadline = Date.now() + budget(options.timeoutMs ?? 10_000);
  const every = options.intervalMs ?? 20;
  const accept = options.accept ?? ((v: T) => v !== undefined);
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (last !== undefined && accept(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what} (last value: ${describe(last)})`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
