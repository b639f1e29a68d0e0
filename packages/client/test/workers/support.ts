// What the workerd tests share: calling the test Worker (test/workers/app.ts), and asking the Node
// side (the ADMIN service binding, a function that runs in the vitest process with plain pg)
// what the server sees.
import { env as anyEnv, exports } from 'cloudflare:workers';
import type { TestEnv } from './app.js';

interface Fetcher {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/** The bindings vitest.workers.config.ts gives the Worker (and the tests, which share its isolate). */
const env = anyEnv as unknown as TestEnv & { ADMIN: Fetcher };

export type Backend = 'hyperdrive' | 'neon-http';

export interface Answer<T = any> {
  status: number;
  body: T;
}

/** One request to the test Worker: a new request context in the same isolate. */
export async function call<T = any>(backend: Backend, op: string, body: Record<string, unknown>): Promise<Answer<T>> {
  const res = await exports.default.fetch(`http://app.test/${backend}/${op}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** A statement run from Node against the test PostgreSQL (not through the Worker). */
export async function admin<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const res = await env.ADMIN.fetch('http://admin.test/query', {
    method: 'POST',
    body: JSON.stringify({ sql, params }),
  });
  const out = (await res.json()) as { rows?: T[]; error?: string };
  if (!res.ok || !out.rows) throw new Error(`admin query failed: ${out.error ?? res.status}`);
  return out.rows;
}

/** pg's answer to one statement: rows and column type OIDs, or the error's fields. */
export interface OracleAnswer {
  rows?: unknown[];
  oids?: number[];
  error?: Record<string, unknown>;
}

/** Statements answered by pg in Node with its default parsers: the conformance oracle. */
export async function oracle(statements: string[]): Promise<OracleAnswer[]> {
  const res = await env.ADMIN.fetch('http://admin.test/oracle', {
    method: 'POST',
    body: JSON.stringify({ statements }),
  });
  if (!res.ok) throw new Error(`oracle failed: ${res.status}`);
  return (await res.json()) as OracleAnswer[];
}

/** Tells the Node side that the next bare-pg rejection is provoked on purpose (see vitest.workers.config.ts). */
export async function expectBarePgRejection(): Promise<void> {
  await env.ADMIN.fetch('http://admin.test/expect-bare-pg-rejection', { method: 'POST' });
}

/** Server backends (client connections) whose application_name is `app`. */
export async function backendsNamed(app: string): Promise<number> {
  const [row] = await admin<{ n: number }>(
    'select count(*)::int as n from pg_stat_activity where application_name = $1',
    [app],
  );
  return row!.n;
}

/**
 * Polls until the server has no backend named `app` (closing happens in ctx.waitUntil, after the
 * response). Bounded: returns the last count seen, which the caller asserts is zero.
 */
export async function settledBackends(app: string, tries = 100, everyMs = 100): Promise<number> {
  let n = await backendsNamed(app);
  for (let i = 0; i < tries && n > 0; i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    n = await backendsNamed(app);
  }
  return n;
}

/**
 * The server's session counters for the test database. `abandoned` counts sessions that ended
 * because the client's connection went away without a Terminate message: a client that was never
 * closed (workerd drops a finished request's sockets), as opposed to one closed with $close().
 */
export async function sessionCounts(): Promise<{ sessions: number; abandoned: number }> {
  const [row] = await admin<{ sessions: number; abandoned: number }>(
    `select sessions::int as sessions, sessions_abandoned::int as abandoned
       from pg_stat_database where datname = current_database()`,
  );
  return row!;
}

export function unique(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

/** A connection URL whose password is anything but the redaction `***`. */
export const URL_WITH_PASSWORD = /postgres(?:ql)?:\/\/[^/\s"@]*:(?!\*\*\*@)[^@\s"]+@/;
