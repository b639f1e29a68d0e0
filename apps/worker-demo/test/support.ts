// Helpers for tests that run inside workerd: calls into the worker under test, and the Node-side
// probe (see global-setup.ts) for what PostgreSQL sees.
import { env, exports } from 'cloudflare:workers';
import type { ProbeStats } from './global-setup.js';

export type Backend = 'hyperdrive' | 'neon-http';

export interface Call {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/** One request to the worker, on the given path (?backend=). */
export async function call(
  backend: Backend | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Call> {
  const url = new URL(path, 'http://worker-demo.test');
  if (backend) url.searchParams.set('backend', backend);
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const res = await exports.default.fetch(url, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

function probeUrl(): string {
  const url = env.PROBE_URL;
  if (typeof url !== 'string') throw new Error('PROBE_URL binding missing: run the tests through vitest.config.ts');
  return url;
}

export async function stats(): Promise<ProbeStats> {
  const res = await fetch(`${probeUrl()}/stats`);
  if (!res.ok) throw new Error(`probe /stats failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as ProbeStats;
}

export async function setConnectionLimit(limit: number): Promise<void> {
  const res = await fetch(`${probeUrl()}/connection-limit/${limit}`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`probe /connection-limit failed: ${res.status} ${await res.text()}`);
}

/** Polls until no client backend is connected to the app's database; returns the last stats. */
export async function waitForNoBackends(maxPolls = 1200): Promise<ProbeStats> {
  let last = await stats();
  for (let i = 0; i < maxPolls && last.backends > 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    last = await stats();
  }
  return last;
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  });
  await Promise.all(lanes);
  return results;
}
