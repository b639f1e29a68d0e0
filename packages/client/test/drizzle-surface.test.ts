// drizzle's options and handle members on every backend that runs in Node: `logger`, `cache`
// (so `$withCache()` and `$cache` work), `casing`, `db.$client`, `$withAuth` (neon-http only,
// refused elsewhere with a ConfigurationError that says why), on one real PostgreSQL through the
// local Neon endpoint, PgBouncer and the local Data API endpoint.

import {
  type DataApiEndpoint,
  type LocalPgBouncer,
  type NeonEndpoint,
  startDataApiEndpoint,
  startNeonEndpoint,
  startPgBouncer,
} from '@anypg/local';
import { ExecuteStatementCommand } from '@aws-sdk/client-rds-data';
import { eq } from 'drizzle-orm';
import { Cache, type MutationOption } from 'drizzle-orm/cache/core';
import type { Logger } from 'drizzle-orm/logger';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type AnypgDatabase,
  ConfigurationError,
  type CreateDbOptions,
  createDb,
  type QueryEvent,
} from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';

const T = uniqueName('surf');
// No column names given: `casing` decides them (userName -> user_name).
const people = pgTable(`${T}_people`, { id: integer().primaryKey(), userName: text() });

let neon: NeonEndpoint;
let bouncer: LocalPgBouncer;
let dataApi: DataApiEndpoint;
const NAMES = ['pg', 'pg-pooler', 'neon-http', 'neon-ws', 'data-api'] as const;
type Name = (typeof NAMES)[number];
const opened: AnypgDatabase[] = [];

/** A client of backend `name` with more options; closed after the suite. */
function open(name: Name, extra: Partial<CreateDbOptions> = {}): AnypgDatabase {
  const common = { url: databaseUrl(), env: {}, casing: 'snake_case' as const, ...extra };
  let db: AnypgDatabase;
  switch (name) {
    case 'pg':
      db = createDb({ ...common, backend: 'pg' });
      break;
    case 'pg-pooler':
      db = createDb({ ...common, url: bouncer.urlFor(undefined, { pgbouncer: 'true' }) });
      break;
    case 'neon-http':
    case 'neon-ws':
      db = createDb({ ...common, backend: name, neon: { ...neon.neonConfig, ...extra.neon } });
      break;
    case 'data-api':
      db = createDb({
        ...common,
        url: undefined,
        backend: 'data-api',
        dataApi: {
          endpoint: dataApi.url,
          region: dataApi.region,
          resourceArn: dataApi.resourceArn,
          secretArn: dataApi.secretArn,
          database: dataApi.database,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        },
      });
      break;
  }
  opened.push(db);
  return db;
}

/** An in-memory drizzle Cache that records what it is asked. */
class MemoryCache extends Cache {
  readonly entries = new Map<string, unknown>();
  readonly mutations: MutationOption[] = [];
  override strategy(): 'explicit' | 'all' {
    return 'explicit';
  }
  override async get(key: string): Promise<any[] | undefined> {
    return this.entries.get(key) as any[] | undefined;
  }
  override async put(key: string, response: unknown): Promise<void> {
    this.entries.set(key, response);
  }
  override async onMutate(params: MutationOption): Promise<void> {
    this.mutations.push(params);
    this.entries.clear();
  }
}

beforeAll(async () => {
  await admin((c) => c.query(`create table ${T}_people (id int primary key, user_name text)`));
  neon = await startNeonEndpoint({ upstream: databaseUrl() });
  bouncer = await startPgBouncer({ upstream: databaseUrl() });
  dataApi = await startDataApiEndpoint({ upstream: databaseUrl() });
});

afterAll(async () => {
  await Promise.all(opened.map((db) => db.$close()));
  await neon?.close();
  await bouncer?.close();
  await dataApi?.close();
  await admin((c) => c.query(`drop table if exists ${T}_people`));
});

describe.each(NAMES)('drizzle surface: %s', (name) => {
  const base = (NAMES.indexOf(name) + 1) * 100;

  it('casing: snake_case column names from camelCase keys', async () => {
    const db = open(name);
    await db.insert(people).values({ id: base, userName: `casing ${name}` });
    const [row] = await db.select().from(people).where(eq(people.id, base));
    expect(row).toEqual({ id: base, userName: `casing ${name}` });
    const seen = await admin((c) => c.query(`select user_name from ${T}_people where id = $1`, [base]));
    expect(seen.rows).toEqual([{ user_name: `casing ${name}` }]);
  });

  it('logger: a drizzle Logger sees every statement with its parameters, transactions included', async () => {
    const logged: [string, unknown[]][] = [];
    const logger: Logger = { logQuery: (q, p) => logged.push([q, p]) };
    const db = open(name, { logger });
    await db.select().from(people).where(eq(people.id, base));
    await db.transaction(async (tx) => {
      await tx
        .select()
        .from(people)
        .where(eq(people.id, base + 1));
    });
    expect(logged.map(([q]) => q.replace(/ where .*/, ''))).toEqual([
      `select "id", "user_name" from "${T}_people"`,
      'begin',
      `select "id", "user_name" from "${T}_people"`,
      'commit',
    ]);
    expect(logged[0]![1]).toEqual([base]);
  });

  it('logger: true prints each statement and how many parameters, never their values', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    try {
      const db = open(name, { logger: true });
      await db.select().from(people).where(eq(people.userName, 's3cret-value'));
    } finally {
      spy.mockRestore();
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Query: select .* -- 1 param \(values not logged\)$/);
    expect(lines[0]).not.toContain('s3cret-value');
  });

  it('cache: $withCache() reads are served from the cache until a write invalidates them', async () => {
    const cache = new MemoryCache();
    const events: QueryEvent[] = [];
    const db = open(name, { cache, onQuery: (e) => events.push(e) });
    expect(db.$cache).toBe(cache);
    await db.insert(people).values({ id: base + 10, userName: 'cached' });
    expect(cache.mutations).toEqual([{ tables: [`${T}_people`] }]);
    const read = () =>
      db
        .select()
        .from(people)
        .where(eq(people.id, base + 10))
        .$withCache();
    const before = events.length;
    expect(await read()).toEqual([{ id: base + 10, userName: 'cached' }]);
    expect(await read()).toEqual([{ id: base + 10, userName: 'cached' }]);
    expect(events.length - before).toBe(1); // the second read never reached the database
    await db.$cache.invalidate({ tables: [`${T}_people`] });
    expect(cache.entries.size).toBe(0);
    // Reads without $withCache() are not cached with the 'explicit' strategy.
    await db
      .select()
      .from(people)
      .where(eq(people.id, base + 10));
    expect(cache.entries.size).toBe(0);
  });

  it('$withAuth: neon-http sends the token with each request; elsewhere a ConfigurationError says why', async () => {
    if (name !== 'neon-http') {
      const db = open(name);
      expect(db.$capabilities.withAuth).toBe(false);
      expect(() => db.$withAuth('token')).toThrow(ConfigurationError);
      expect(() => db.$withAuth('token')).toThrow(/only Neon's HTTP endpoint/);
      return;
    }
    const auth: (string | null)[] = [];
    const recording: typeof fetch = (input, init) => {
      auth.push(new Headers(init?.headers).get('authorization'));
      return fetch(input, init);
    };
    const db = open(name, { neon: { fetch: recording } });
    expect(db.$capabilities.withAuth).toBe(true);
    await db.$withAuth('jwt-1').select().from(people).where(eq(people.id, base));
    await db.$withAuth(async () => 'jwt-2').batch([db.select().from(people), db.select().from(people)]);
    await db.select().from(people).where(eq(people.id, base));
    expect(auth).toEqual(['Bearer jwt-1', 'Bearer jwt-2', null]);
    await expect(db.$withAuth('jwt').transaction(async () => undefined)).rejects.toThrow(ConfigurationError);
  });

  it('$client: the driver-level client, documented per backend', async () => {
    const db = open(name);
    expect(db.$client).toBe(db.$client);
    if (name === 'neon-http') {
      const client = db.$client as (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown>;
      expect(await client`select ${2}::int as n`).toEqual([{ n: 2 }]);
      return;
    }
    if (name === 'data-api') {
      const client = db.$client as { send(c: unknown): Promise<{ records?: unknown[] }> };
      const out = await client.send(
        new ExecuteStatementCommand({
          resourceArn: dataApi.resourceArn,
          secretArn: dataApi.secretArn,
          database: dataApi.database,
          sql: 'select 2 as n',
        }),
      );
      expect(out.records).toEqual([[{ longValue: 2 }]]);
      return;
    }
    // pg, pg-pooler, neon-ws: a pg.Pool-shaped view of anypg's pool.
    const pool = db.$client as {
      query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
      connect(): Promise<{ query(text: string): Promise<{ rows: unknown[] }>; release(err?: unknown): void }>;
      totalCount: number;
    };
    expect((await pool.query('select $1::int as n', [2])).rows).toEqual([{ n: 2 }]);
    const client = await pool.connect();
    expect((await client.query('select 3 as n')).rows).toEqual([{ n: 3 }]);
    client.release();
    expect(() => client.release()).toThrow(/twice/);
    expect(pool.totalCount).toBeGreaterThanOrEqual(1);
    expect(db.$stats().total).toBe(pool.totalCount);
  });
});

describe('options are checked', () => {
  it('refuses a logger, cache, casing or executeTypes that is not one', () => {
    const url = databaseUrl();
    expect(() => createDb({ url, env: {}, logger: {} as Logger })).toThrow(ConfigurationError);
    expect(() => createDb({ url, env: {}, cache: {} as Cache })).toThrow(/drizzle Cache/);
    expect(() => createDb({ url, env: {}, casing: 'kebab' as 'camelCase' })).toThrow(/casing/);
    expect(() => createDb({ url, env: {}, executeTypes: 'dates' as 'drizzle' })).toThrow(/executeTypes/);
  });
});
