// pg-pooler through a real PgBouncer 1.18 in transaction mode (the negative fixture: it cannot keep
// named prepared statements, and refuses startup parameters other than a few).
import { type LocalPgBouncer, startPgBouncer } from '@anypg/local';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgWarning, createDb } from '../src/node.js';
import { databaseUrl } from './support/db.js';

let bouncer: LocalPgBouncer;

beforeAll(async () => {
  bouncer = await startPgBouncer({ upstream: databaseUrl(), defaultPoolSize: 2 });
});
afterAll(async () => {
  await bouncer?.close();
});

const viaBouncer = () => bouncer.urlFor(undefined, { pgbouncer: 'true' });

describe('pg-pooler through PgBouncer (transaction mode)', () => {
  it('is detected from ?pgbouncer=true and says so', () => {
    const db = createDb({ url: viaBouncer(), env: {} });
    expect(db.$backend.backend).toBe('pg-pooler');
    expect(db.$backend.reason).toMatch(/pgbouncer=true/);
    expect(db.$capabilities.namedStatements).toBe(false);
  });

  it('runs prepared queries from many connections without named statements', async () => {
    // The control: plain pg with named statements fails through this PgBouncer.
    const a = new pg.Client({ connectionString: bouncer.url });
    const b = new pg.Client({ connectionString: bouncer.url });
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query({ name: 'same_name', text: 'select 1' });
      const control = await b.query({ name: 'same_name', text: 'select 1' }).then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
      expect(['42P05', '26000']).toContain(control);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }

    const db = createDb({ url: viaBouncer(), env: {}, pool: { max: 4 } });
    const q = db
      .select({ v: sql<number>`${sql.placeholder('x')}::int * 2` })
      .from(sql`(select 1) t`)
      .prepare('doubled');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => q.execute({ x: i })));
    expect(results.map((r) => r[0]!.v)).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    await db.$close();
  });

  it('connects although PgBouncer refuses statement_timeout as a startup parameter', async () => {
    const db = createDb({ url: viaBouncer(), env: {}, statementTimeoutMs: 5000 });
    expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
    await db.$close();
  });

  it('warns once about statements that leak session state through the pooler', async () => {
    const warnings: AnypgWarning[] = [];
    const db = createDb({ url: viaBouncer(), env: {}, onWarning: (w) => warnings.push(w) });
    await db.execute(sql`set search_path to public`);
    await db.execute(sql`set search_path to public`);
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local search_path to public`);
    });
    expect(warnings.map((w) => w.code)).toEqual(['POOLER_UNSAFE_STATEMENT']);
    expect(warnings[0]!.message).toMatch(/SET LOCAL|session/i);
    await db.$close();
  });
});
