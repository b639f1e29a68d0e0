// The conformance suite: one corpus through every backend that runs in Node, on one real
// PostgreSQL: pg (anypg's pg backend), pg through a real PgBouncer in transaction mode, neon-http
// and neon-ws through the local Neon endpoint, and the Data API through its local endpoint.
// Oracles: for execute(), drizzle's own node-postgres driver (the default, executeTypes 'drizzle')
// and node-postgres itself (executeTypes 'node-postgres'); pg directly for errors. Results must be
// identical except where conformance/differences.ts says why not. (Hyperdrive runs the same corpus
// inside workerd: test/workers.)
import {
  type DataApiEndpoint,
  type LocalPgBouncer,
  type NeonEndpoint,
  startDataApiEndpoint,
  startNeonEndpoint,
  startPgBouncer,
} from '@anypg/local';
import {
  and,
  arrayContains,
  arrayOverlaps,
  DrizzleError,
  eq,
  getTableColumns,
  inArray,
  sql,
  TransactionRollbackError,
} from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, type CreateDbOptions, createDb, DatabaseError, isRetryable } from '../src/node.js';
import { errorCases, SETUP_SQL, TYPE_CASES, typeQuery } from './conformance/corpus.js';
import { accepted } from './conformance/differences.js';
import { parityDdl, parityDrop, paritySchema } from './conformance/parity.js';
import { builderRow, conformanceDdl, conformanceDrop, conformanceSchema } from './conformance/schema.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';

const T = uniqueName('conf');
const schema = conformanceSchema(T);
const { parents, children, values } = schema;
const { things } = paritySchema(T);

type Db = AnypgDatabase<typeof schema>;
type Extra = Pick<CreateDbOptions, 'executeTypes'>;
let oracle: pg.Client;
let drizzleOracle: NodePgDatabase;
let endpoint: NeonEndpoint;
let bouncer: LocalPgBouncer;
let dataApi: DataApiEndpoint;
const backends: Record<string, Db> = {};

const common = { url: databaseUrl(), env: {}, schema } as const;

// What every suite needs: the tables, the oracle, and anypg's pg backend (the builder's oracle).
beforeAll(async () => {
  await admin(async (c) => {
    for (const s of SETUP_SQL) await c.query(s);
    for (const s of conformanceDdl(T)) await c.query(s);
    for (const s of parityDdl(T)) await c.query(s);
  });
  oracle = new pg.Client({ connectionString: databaseUrl() });
  await oracle.connect();
  drizzleOracle = drizzle(oracle);
  backends.pg = await START.pg!({});
});

// Each other backend is started by its own suite, so a machine without PgBouncer fails only the
// PgBouncer suite (and a missing Neon or Data API stand-in only its own).
const START: Record<string, (extra: Extra) => Promise<Db>> = {
  pg: async (extra) => createDb({ ...common, ...extra, backend: 'pg' }),
  'neon-http': async (extra) => {
    endpoint ??= await startNeonEndpoint({ upstream: databaseUrl() });
    return createDb({ ...common, ...extra, backend: 'neon-http', neon: endpoint.neonConfig });
  },
  'neon-ws': async (extra) => {
    endpoint ??= await startNeonEndpoint({ upstream: databaseUrl() });
    return createDb({ ...common, ...extra, backend: 'neon-ws', neon: endpoint.neonConfig });
  },
  'pg via PgBouncer': async (extra) => {
    bouncer ??= await startPgBouncer({ upstream: databaseUrl() });
    return createDb({ ...common, ...extra, url: bouncer.urlFor(undefined, { pgbouncer: 'true' }) });
  },
  'data-api': async (extra) => {
    dataApi ??= await startDataApiEndpoint({ upstream: databaseUrl() });
    return createDb({
      schema,
      env: {},
      ...extra,
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
  },
};

afterAll(async () => {
  await Promise.all(Object.values(backends).map((db) => db.$close()));
  await oracle?.end();
  await endpoint?.close();
  await bouncer?.close();
  await dataApi?.close();
  await admin(async (c) => {
    await c.query(conformanceDrop(T));
    for (const s of parityDrop(T)) await c.query(s);
  });
});

const NAMES = ['pg', 'neon-http', 'neon-ws', 'pg via PgBouncer', 'data-api'];

describe.each(NAMES)('conformance: %s', (name) => {
  beforeAll(async () => {
    if (name !== 'pg') backends[name] = await START[name]!({});
  });
  const db = () => backends[name]!;

  it("returns every type of the corpus as drizzle's node-postgres driver does (execute, by default)", async () => {
    const mismatches = await corpusMismatches(name, db(), async (q) => {
      const r = (await drizzleOracle.execute(sql.raw(q))) as unknown as pg.QueryResult;
      return { rows: r.rows, fields: r.fields };
    });
    expect(mismatches).toEqual([]);
  });

  it("returns every type of the corpus as node-postgres does (execute, executeTypes: 'node-postgres')", async () => {
    const parsed = await START[name]!({ executeTypes: 'node-postgres' });
    try {
      expect(await corpusMismatches(name, parsed, (q) => oracle.query(q))).toEqual([]);
    } finally {
      await parsed.$close();
    }
  });

  it('round-trips the query builder column types as the pg backend does', async () => {
    const id = NAMES.indexOf(name) + 1;
    const row = builderRow(id);
    // The Data API cannot return interval values: that column is left out where it is accepted.
    const { iv: _iv, ...withoutInterval } = getTableColumns(values);
    const columns = accepted(name, 'builder: interval column') ? withoutInterval : getTableColumns(values);
    const [inserted] = await db().insert(values).values(row).returning(columns);
    const [selected] = await db().select(columns).from(values).where(eq(values.id, id));
    const [viaPg] = await backends.pg!.select(columns).from(values).where(eq(values.id, id));
    expect(inserted).toEqual(selected);
    expect(selected).toEqual(viaPg);
    expect(selected).toMatchObject({
      big: row.big,
      num: row.num,
      j: row.j,
      tstz: row.tstz,
      ints: row.ints,
      texts: row.texts,
    });
  });

  it('runs relational queries, returning, and execute with the same shapes', async () => {
    const base = (NAMES.indexOf(name) + 1) * 100;
    const inserted = await db()
      .insert(parents)
      .values({ id: base, name: `p-${name}` })
      .returning();
    expect(inserted).toEqual([{ id: base, name: `p-${name}` }]);
    await db()
      .insert(children)
      .values([
        { id: base + 1, parentId: base, label: 'a' },
        { id: base + 2, parentId: base, label: 'b' },
      ]);
    const tree = await db().query.parents.findFirst({
      where: eq(parents.id, base),
      with: { children: { orderBy: (c, { asc }) => asc(c.id) } },
    });
    expect(tree).toEqual({
      id: base,
      name: `p-${name}`,
      children: [
        { id: base + 1, parentId: base, label: 'a' },
        { id: base + 2, parentId: base, label: 'b' },
      ],
    });
    const res = await db().execute(sql`update ${children} set label = label || '!' where parent_id = ${base}`);
    expect({ command: res.command, rowCount: res.rowCount, rows: res.rows }).toEqual({
      command: 'UPDATE',
      rowCount: 2,
      rows: [],
    });
  });

  it('commits, rolls back, and nests savepoints', async () => {
    const base = (NAMES.indexOf(name) + 1) * 1000;
    await db().transaction(async (tx) => {
      await tx.insert(parents).values({ id: base, name: 'kept' });
      await tx
        .transaction(async (sp) => {
          await sp.insert(parents).values({ id: base + 1, name: 'undone' });
          throw new Error('inner');
        })
        .catch(() => undefined);
      await tx.insert(parents).values({ id: base + 2, name: 'kept too' });
    });
    await db()
      .transaction(async (tx) => {
        await tx.insert(parents).values({ id: base + 3, name: 'rolled back' });
        throw new Error('outer');
      })
      .catch(() => undefined);
    const ids = (
      await oracle.query(`select id from ${T}_parent where id between $1 and $2 order by id`, [base, base + 9])
    ).rows.map((r) => r.id);
    expect(ids).toEqual([base, base + 2]);
  });

  it('batch: atomic, in order, one result per query', async () => {
    const base = (NAMES.indexOf(name) + 1) * 10_000;
    const [a, b, c] = await db().batch([
      db().insert(parents).values({ id: base, name: 'batch' }).returning({ id: parents.id }),
      db().select({ n: sql<number>`count(*)::int` }).from(parents).where(eq(parents.id, base)),
      db().execute(sql`select ${base}::int as v`),
    ]);
    expect(a).toEqual([{ id: base }]);
    expect(b).toEqual([{ n: 1 }]);
    expect(c.rows).toEqual([{ v: base }]);
    const err = await db()
      .batch([
        db()
          .insert(parents)
          .values({ id: base + 1, name: 'x' }),
        db()
          .insert(parents)
          .values({ id: base + 1, name: 'x' }),
      ])
      .catch((e: unknown) => e);
    expect((err as DatabaseError).sqlstate).toBe('23505');
    expect((await oracle.query(`select count(*)::int as n from ${T}_parent where id = $1`, [base + 1])).rows[0].n).toBe(
      0,
    );
  });

  it("writes and reads serial, enum, array and json columns as on pg (causes found by drizzle's own suite)", async () => {
    const marker = `m:${name}`;
    const [row] = await db()
      .insert(things)
      .values({
        mood: 'Happy',
        level: 'high',
        moods: ['sad', 'Happy'],
        tags: [marker, 'orm'],
        ints: [1, 2],
        // A bare sql value: the server infers json for it on pg; the Data API needs it typed.
        doc: sql`${JSON.stringify({ a: 1 })}`,
        docb: sql`${JSON.stringify({ b: [true] })}`,
        code: 'ab',
        iv: '1 day 02:00:00',
        amount: 12.5,
        huge: 123456789012345678901234567890n,
        mac: '08:00:2b:01:02:03',
        grid: [
          [1, 2],
          [3, 4],
        ],
        pt: [1.5, -2],
        words: [
          ['', 'NULL', 'a "q"'],
          ['\\a', 'b,c', 'd}'],
        ],
      })
      .returning({ id: things.id, big: things.big, small: things.small });
    expect(row).toEqual({ id: expect.any(Number), big: expect.any(Number), small: expect.any(Number) });
    const columns = {
      amount: things.amount,
      huge: things.huge,
      id: things.id,
      mood: things.mood,
      level: things.level,
      moods: things.moods,
      doc: things.doc,
      docb: things.docb,
      // The Data API returns none of these: anypg selects them as text there.
      iv: things.iv,
      mac: things.mac,
      grid: things.grid,
      words: things.words,
      pt: things.pt,
    };
    const found = await db()
      .select(columns)
      .from(things)
      .where(
        and(
          arrayContains(things.tags, [marker]),
          eq(things.mood, 'Happy'),
          inArray(things.level, ['high']),
          arrayOverlaps(things.ints, [2, 3]),
        ),
      );
    expect(found).toEqual([
      {
        amount: 12.5,
        huge: 123456789012345678901234567890n,
        id: row!.id,
        mood: 'Happy',
        level: 'high',
        moods: ['sad', 'Happy'],
        doc: { a: 1 },
        docb: { b: [true] },
        iv: '1 day 02:00:00',
        mac: '08:00:2b:01:02:03',
        grid: [
          [1, 2],
          [3, 4],
        ],
        pt: [1.5, -2],
        words: [
          ['', 'NULL', 'a "q"'],
          ['\\a', 'b,c', 'd}'],
        ],
      },
    ]);
    // In a subquery the interval keeps its type (the outer comparison needs it); only the
    // statement's own selection reads it as text.
    const sq = db().select({ id: things.id, iv: things.iv }).from(things).as('sq');
    const outer = await db()
      .select({ iv: sq.iv })
      .from(sq)
      .where(and(eq(sq.id, row!.id), eq(sq.iv, '1 day 02:00:00')));
    expect(outer).toEqual([{ iv: '1 day 02:00:00' }]);
    await db()
      .update(things)
      .set({ doc: sql`${JSON.stringify({ a: 2 })}`, mood: 'sad', level: 'low' })
      .where(eq(things.id, row!.id));
    // Placeholders bound to enum and array columns (typed when their values arrive).
    const byMood = db()
      .select({ id: things.id, doc: things.doc, level: things.level })
      .from(things)
      .where(and(eq(things.mood, sql.placeholder('mood')), arrayContains(things.tags, sql.placeholder('tags'))))
      .prepare(`parity_select_${NAMES.indexOf(name)}`);
    expect(await byMood.execute({ mood: 'sad', tags: [marker] })).toEqual([
      { id: row!.id, doc: { a: 2 }, level: 'low' },
    ]);
    const insertLevel = db()
      .insert(things)
      .values({ level: sql.placeholder('level'), tags: [marker, 'placeholder'] })
      .returning({ level: things.level })
      .prepare(`parity_insert_${NAMES.indexOf(name)}`);
    expect(await insertLevel.execute({ level: 'high' })).toEqual([{ level: 'high' }]);
    // The SQL is drizzle's: the Data API's parameter casts are added only as it is sent. (A
    // column the Data API cannot return, such as the interval, is selected as text there.)
    const q = (d: Db) =>
      d
        .select({ id: things.id, tags: things.tags })
        .from(things)
        .where(arrayContains(things.tags, [marker]))
        .toSQL();
    expect(q(db())).toEqual(q(backends.pg!));
    const all = db().select().from(things).toSQL().sql;
    expect(all.includes('"iv"::text')).toBe(name === 'data-api');
  });

  it('refuses a value too long for char(2) with 22001, as pg does (never truncates it)', async () => {
    const err = await db()
      .insert(things)
      .values({ code: 'abc', tags: [`m:${name}:long`] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('22001');
  });

  it("tx.rollback() rejects with drizzle's TransactionRollbackError and keeps nothing", async () => {
    const marker = `m:${name}:rollback`;
    const err = await db()
      .transaction(async (tx) => {
        await tx.insert(things).values({ mood: 'sad', tags: [marker] });
        tx.rollback();
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionRollbackError);
    expect(err).toBeInstanceOf(DrizzleError);
    expect((err as Error).message).toBe('Rollback');
    const kept = await oracle.query(`select count(*)::int as n from "${T}_things" where $1 = any(tags)`, [marker]);
    expect(kept.rows[0].n).toBe(0);
  });

  it('reports errors with the same SQLSTATE and fields as pg', async () => {
    // conformanceDdl seeds parent 1 and child 1, which the unique violation collides with.
    for (const e of errorCases(T)) {
      const ours = (await db()
        .execute(sql.raw(e.sql))
        .catch((x: unknown) => x)) as DatabaseError;
      const theirs = (await oracle.query(e.sql).catch((x: unknown) => x)) as pg.DatabaseError;
      expect(ours, e.name).toBeInstanceOf(DatabaseError);
      expect(ours.sqlstate, e.name).toBe(e.sqlstate);
      expect(theirs.code, e.name).toBe(e.sqlstate);
      expect(ours.message, e.name).toBe(theirs.message);
      for (const f of ['detail', 'constraint', 'table', 'column', 'position'] as const) {
        if (ours[f] !== theirs[f] && accepted(name, `error field ${f}: ${e.name}`)) continue;
        expect(ours[f], `${e.name}: ${f}`).toBe(theirs[f]);
      }
    }
  });

  it('reports a serialization failure as retryable 40001', async () => {
    // Two serializable transactions that both read the row before either writes it: the second
    // to write must fail. Latches fix the order: T1 reads, T2 reads and commits a write, T1 writes.
    let t1Read!: () => void;
    const t1HasRead = new Promise<void>((r) => (t1Read = r));
    let t2Done!: () => void;
    const t2HasCommitted = new Promise<void>((r) => (t2Done = r));
    const first = db().transaction(
      async (tx) => {
        await tx.execute(sql.raw(`select n from ${T}_counter where id = 1`));
        t1Read();
        await t2HasCommitted;
        await tx.execute(sql.raw(`update ${T}_counter set n = n + 1 where id = 1`));
      },
      { isolationLevel: 'serializable' },
    );
    const second = db()
      .transaction(
        async (tx) => {
          await t1HasRead;
          await tx.execute(sql.raw(`select n from ${T}_counter where id = 1`));
          await tx.execute(sql.raw(`update ${T}_counter set n = n + 1 where id = 1`));
        },
        { isolationLevel: 'serializable' },
      )
      .finally(() => t2Done());
    const results = await Promise.allSettled([first, second]);
    const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(failures).toHaveLength(1);
    expect(failures[0], `${(failures[0] as Error)?.name}: ${(failures[0] as Error)?.message}`).toBeInstanceOf(
      DatabaseError,
    );
    expect((failures[0] as DatabaseError).sqlstate).toBe('40001');
    expect(isRetryable(failures[0])).toBe(true);
  });
});

/** The type cases whose execute() result differs from the oracle's, unless accepted. */
async function corpusMismatches(
  name: string,
  db: Db,
  expect_: (q: string) => Promise<{ rows: unknown[]; fields: { dataTypeID: number }[] }>,
): Promise<string[]> {
  const mismatches: string[] = [];
  for (const c of TYPE_CASES) {
    const q = typeQuery(c);
    const expected = await expect_(q);
    const got = await db.execute(sql.raw(q)).catch((e: unknown) => e as Error);
    if (got instanceof Error) {
      if (!accepted(name, c.name)) mismatches.push(`${c.name}: failed with ${got.message}`);
      continue;
    }
    try {
      expect(got.rows).toEqual(expected.rows);
      expect(got.fields.map((f) => f.dataTypeID)).toEqual(expected.fields.map((f) => f.dataTypeID));
    } catch {
      if (!accepted(name, c.name)) mismatches.push(`${c.name}: got ${show(got.rows)}, expected ${show(expected.rows)}`);
    }
  }
  return mismatches;
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'bigint' ? `${x}n` : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x,
  );
}
