// Helpers shared by the client's tests.
import pg from 'pg';
import { inject } from 'vitest';

export function databaseUrl(): string {
  return inject('databaseUrl');
}

/** The database URL pointed at another port on loopback (a proxy in front of the server). */
export function viaPort(port: number, params: Record<string, string> = {}): string {
  const u = new URL(databaseUrl());
  u.hostname = '127.0.0.1';
  u.port = String(port);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

export function serverPort(): number {
  return Number(new URL(databaseUrl()).port || 5432);
}

/** A plain pg client for setup and for checking what the server saw. */
export async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Backends whose application_name is `name`, as the server sees them. */
export async function backendsNamed(name: string): Promise<number[]> {
  return admin(async (c) => {
    const r = await c.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [name]);
    return r.rows.map((row) => row.pid);
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}
