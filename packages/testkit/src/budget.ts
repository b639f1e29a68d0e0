// Time budgets that scale with load. A budget is the most a test waits for something that should
// happen anyway: being generous costs nothing when things work, and a busy machine gets more.
import { availableParallelism, loadavg } from 'node:os';

/**
 * How much slower than idle this machine is likely to be now: 1 when idle, the run queue per core
 * when busier (the one-minute load average), at most 8. `ANYPG_TEST_TIME_SCALE` overrides it
 * (a number; useful on a machine known to be slow).
 */
export function loadFactor(): number {
  const forced = Number(process.env.ANYPG_TEST_TIME_SCALE);
  if (Number.isFinite(forced) && forced > 0) return forced;
  const perCore = (loadavg()[0] ?? 0) / Math.max(1, availableParallelism());
  return Math.min(8, Math.max(1, perCore));
}

/** `ms` scaled by the load factor, read when called (the load changes during a run). */
export function budget(ms: number): number {
  return Math.round(ms * loadFactor());
}
