// The Drizzle surface on the pg backend: query builder, relational queries, execute, transactions,
// savepoints, batch, and the error model, against a real PostgreSQL with `pg` as the oracle.
import { eq, relations, sql } from 'drizzle-orm';
import { integer, numeric, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, createDb, DatabaseError, isRetryable, sqlstateOf } from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';

const schemaName = uniqueName('drz');
const authors = pgTable('authors', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
});
const notes = pgTable('notes', {
  id: serial('id').primaryKey(),
  authorId: integer('author_id')
    .notNull()
    .references(() => authors.id),
  body: text('body').notNull(),
  price: numeric('price'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
const authorsRelations = relations(authors, ({ many }) => ({ notes: many(notes) }));
const notesRelations = relations(notes, ({ one }) => ({
  author: one(authors, { fields: [notes.authorId], references: [authors.id] }),
}));
const schema = { authors, notes, authorsRelations, notesRelations };

let db: AnypgDatabase<typeof schema>;
let dbUrl: string;

beforeAll(async () => {
  await admin(async (c) => {
    await c.query(`create schema ${schemaName}`);
    await c.query(`create table ${schemaName}.authors (id serial primary key, name text not null unique)`);
    await c.query(`create table ${schemaName}.notes (
      id serial primary key, author_id int not null references ${schemaName}.authors(id),
      body text not null, price numeric, created_at timestamptz not null default now())`);
  });
  const url = new URL(databaseUrl());
  url.searchParams.set('options', `-c search_path=${schemaName}`);
  dbUrl = url.toString();
  db = createDb({ url: dbUrl, schema, env: {} });
});

afterAll(async () => {
  await db?.$close();
  await admin((c) => c.query(`drop schema ${schemaName} cascade`));
});

describe('query builder and relational queries', () => {
  it('inserts with returning, selects, updates and deletes', async () => {
    const [ada] = await db.insert(authors).values({ name: 'Ada' }).returning();
    expect(ada).toEqual({ id: expect.any(Number), name: 'Ada' });
    const inserted = await db
      .insert(notes)
      .values([
        { authorId: ada!.id, body: 'first', price: '12.50' },
        { authorId: ada!.id, body: 'second' },
      ])
      .returning({ id: notes.id, createdAt: notes.createdAt, price: notes.price });
    expect(inserted).toHaveLength(2);
    expect(inserted[0]!.createdAt).toBeInstanceOf(Date);
    expect(inserted[0]!.price).toBe('12.50');

    const updated = await db.update(notes).set({ body: 'edited' }).where(eq(notes.body, 'second')).returning();
    expect(updated.map((n) => n.body)).toEqual(['edited']);

    const rows = await db.select().from(notes).where(eq(notes.authorId, ada!.id)).orderBy(notes.id);
    expect(rows.map((r) => r.body)).toEqual(['first', 'edited']);

    const withAuthor = await db.query.notes.findMany({ with: { author: true }, orderBy: (n, { asc }) => asc(n.id) });
    expect(withAuthor[0]!.author.name).toBe('Ada');
    expect(withAuthor[0]!.createdAt).toBeInstanceOf(Date);

    const first = await db.query.authors.findFirst({ with: { notes: true } });
    expect(first!.notes).toHaveLength(2);

    const deleted = await db.delete(notes).where(eq(notes.body, 'edited')).returning({ id: notes.id });
    expect(deleted).toHaveLength(1);
  });

  it("execute() returns rows, fields, command and rowCount, with values parsed as pg parses them (executeTypes: 'node-postgres')", async () => {
    const parsed = createDb({ url: dbUrl, env: {}, executeTypes: 'node-postgres' });
    const res = await parsed.execute<{ n: number; big: string; ts: Date; j: { a: number }; arr: number[] }>(
      sql`select 1::int4 as n, 9007199254740993::int8 as big, '2024-05-01T10:00:00Z'::timestamptz as ts, '{"a":1}'::jsonb as j, array[1,2]::int[] as arr`,
    );
    const oracle = await admin((c) =>
      c.query(
        `select 1::int4 as n, 9007199254740993::int8 as big, '2024-05-01T10:00:00Z'::timestamptz as ts, '{"a":1}'::jsonb as j, array[1,2]::int[] as arr`,
      ),
    );
    expect(res.rows).toEqual(oracle.rows);
    expect(res.command).toBe('SELECT');
    expect(res.rowCount).toBe(1);
    expect(res.fields.map((f) => f.name)).toEqual(['n', 'big', 'ts', 'j', 'arr']);
    expect(res.fields.map((f) => f.dataTypeID)).toEqual(oracle.fields.map((f) => f.dataTypeID));
    await parsed.$close();
  });

  it('prepared statements with placeholders run many times', async () => {
    const q = db
      .select({ v: sql<number>`${sql.placeholder('x')}::int + 1` })
      .from(sql`(select 1) t`)
      .prepare('plus_one');
    expect(await q.execute({ x: 1 })).toEqual([{ v: 2 }]);
    expect(await q.execute({ x: 41 })).toEqual([{ v: 42 }]);
  });
});

describe('transactions', () => {
  it('commits, rolls back on error, and nests with savepoints', async () => {
    const name = uniqueName('tx');
    await db.transaction(async (tx) => {
      await tx.insert(authors).values({ name: `${name}-kept` });
      await tx
        .transaction(async (inner) => {
          await inner.insert(authors).values({ name: `${name}-inner` });
          throw new Error('undo inner');
        })
        .catch(() => undefined);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(authors).values({ name: `${name}-lost` });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const names = (await db.select({ name: authors.name }).from(authors))
      .map((r) => r.name)
      .filter((n) => n.startsWith(name));
    expect(names).toEqual([`${name}-kept`]);
  });

  it('honours isolation level and access mode', async () => {
    const level = await db.transaction(
      async (tx) =>
        (await tx.execute<{ l: string }>(sql`select current_setting('transaction_isolation') as l`)).rows[0]!.l,
      { isolationLevel: 'serializable', accessMode: 'read only' },
    );
    expect(level).toBe('serializable');
    const err = await db
      .transaction(async (tx) => tx.insert(authors).values({ name: uniqueName('ro') }), { accessMode: 'read only' })
      .catch((e: unknown) => e);
    expect(sqlstateOf(err)).toBe('25006');
  });

  it('tx.rollback() rolls back without an error of ours', async () => {
    const name = uniqueName('rb');
    await db
      .transaction(async (tx) => {
        await tx.insert(authors).values({ name });
        tx.rollback();
      })
      .catch(() => undefined);
    expect(await db.select().from(authors).where(eq(authors.name, name))).toEqual([]);
  });
});

describe('batch', () => {
  it('runs atomically and returns each result as if run alone', async () => {
    const name = uniqueName('batch');
    const [ins, sel, raw] = await db.batch([
      db.insert(authors).values({ name }).returning({ name: authors.name }),
      db.select({ name: authors.name }).from(authors).where(eq(authors.name, name)),
      db.execute(sql`select 2 as two`),
    ]);
    expect(ins).toEqual([{ name }]);
    expect(sel).toEqual([{ name }]);
    expect(raw.rows).toEqual([{ two: 2 }]);

    const failing = uniqueName('batchfail');
    await expect(
      db.batch([db.insert(authors).values({ name: failing }), db.insert(authors).values({ name: failing })]),
    ).rejects.toBeInstanceOf(DatabaseError);
    expect(await db.select().from(authors).where(eq(authors.name, failing))).toEqual([]);
  });
});

describe('errors', () => {
  it('carry SQLSTATE and every PostgreSQL field, equal to what pg reports', async () => {
    const name = uniqueName('dup');
    await db.insert(authors).values({ name });
    const ours = (await db
      .insert(authors)
      .values({ name })
      .catch((e: unknown) => e)) as DatabaseError;
    const theirs = (await admin((c) =>
      c.query(`insert into ${schemaName}.authors (name) values ($1)`, [name]).catch((e: unknown) => e),
    )) as pg.DatabaseError;
    expect(ours).toBeInstanceOf(DatabaseError);
    expect(ours.code).toBe('DATABASE');
    expect(ours.sqlstate).toBe('23505');
    expect(ours.message).toBe(theirs.message);
    for (const f of ['detail', 'constraint', 'table', 'schema', 'severity', 'routine'] as const) {
      expect(ours[f], f).toBe(theirs[f]);
    }
    expect(ours.httpStatus).toBe(409);
    expect(isRetryable(ours)).toBe(false);
    // The parameter value is not in the message (drizzle's own wrapper would put it there).
    expect(ours.message).not.toContain(name);
  });

  it('reports positions of syntax errors and marks serialization failures retryable', async () => {
    const syntax = (await db.execute(sql.raw('select 1 frm nowhere')).catch((e: unknown) => e)) as DatabaseError;
    expect(syntax.sqlstate).toBe('42601');
    expect(syntax.position).toBe('14');
    const ser = (await db
      .execute(sql.raw(`do $$ begin raise exception using errcode = '40001'; end $$`))
      .catch((e: unknown) => e)) as DatabaseError;
    expect(ser.sqlstate).toBe('40001');
    expect(isRetryable(ser)).toBe(true);
  });
});

describe('bad parameters', () => {
  it('a parameter pg cannot serialise fails clearly and the client carries on', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const err = (await db.execute(sql`select ${circular}::jsonb as j`).catch((e: unknown) => e)) as {
      code?: string;
      message: string;
    };
    expect(err.code).toBe('INVALID_STATEMENT');
    expect(err.message).toMatch(/could not be sent/);
    expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
  });
});
