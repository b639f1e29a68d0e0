// The conformance suite's tables, DDL and builder row, per table prefix: shared by the Node suite
// (test/conformance.test.ts) and the workerd one (test/workers/conformance.test.ts).
import { relations } from 'drizzle-orm';
import {
  bigint,
  boolean,
  date,
  doublePrecision,
  integer,
  interval,
  jsonb,
  numeric,
  pgTable,
  real,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

export function conformanceSchema(T: string) {
  const parents = pgTable(`${T}_parent`, {
    id: integer('id').primaryKey(),
    name: text('name').notNull(),
  });
  const children = pgTable(`${T}_child`, {
    id: integer('id').primaryKey(),
    parentId: integer('parent_id')
      .notNull()
      .references(() => parents.id),
    label: text('label').notNull(),
  });
  const parentRelations = relations(parents, ({ many }) => ({ children: many(children) }));
  const childRelations = relations(children, ({ one }) => ({
    parent: one(parents, { fields: [children.parentId], references: [parents.id] }),
  }));
  const values = pgTable(`${T}_values`, {
    id: integer('id').primaryKey(),
    big: bigint('big', { mode: 'bigint' }),
    bigNum: bigint('big_num', { mode: 'number' }),
    num: numeric('num'),
    r: real('r'),
    d: doublePrecision('d'),
    b: boolean('b'),
    t: text('t'),
    u: uuid('u'),
    j: jsonb('j'),
    day: date('day'),
    dayDate: date('day_date', { mode: 'date' }),
    ts: timestamp('ts'),
    tsStr: timestamp('ts_str', { mode: 'string' }),
    tstz: timestamp('tstz', { withTimezone: true }),
    iv: interval('iv'),
    ints: integer('ints').array(),
    texts: text('texts').array(),
  });
  return { parents, children, values, parentRelations, childRelations };
}

export type ConformanceSchema = ReturnType<typeof conformanceSchema>;

export function conformanceDdl(T: string): string[] {
  return [
    `create table ${T}_parent (id int primary key, name text not null)`,
    `create table ${T}_child (id int primary key, parent_id int not null references ${T}_parent(id), label text not null)`,
    `create table ${T}_values (id int primary key, big int8, big_num int8, num numeric, r real, d float8, b bool, t text,
      u uuid, j jsonb, day date, day_date date, ts timestamp, ts_str timestamp, tstz timestamptz, iv interval, ints int[], texts text[])`,
    `create table ${T}_counter (id int primary key, n int not null)`,
    `insert into ${T}_counter values (1, 0)`,
    `insert into ${T}_parent values (1, 'one')`,
    `insert into ${T}_child values (1, 1, 'one')`,
  ];
}

export function conformanceDrop(T: string): string {
  return `drop table if exists ${T}_child, ${T}_parent, ${T}_values, ${T}_counter`;
}

/** The row the builder round-trip writes (every column type of the values table). */
export function builderRow(id: number) {
  return {
    id,
    big: 9007199254740993n,
    bigNum: 42,
    num: '12.3400',
    r: 1.5,
    d: -2.25,
    b: true,
    t: 'héllo 🐘',
    u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    j: { a: [1, 'two', null], b: { c: true } },
    day: '2024-02-29',
    dayDate: new Date('2024-03-01T00:00:00Z'),
    ts: new Date('2024-05-01T10:20:30.123Z'),
    tsStr: '2024-05-01 10:20:30.123456',
    tstz: new Date('2024-05-01T10:20:30.123Z'),
    iv: '1 day 02:00:00',
    ints: [1, 2, 3],
    texts: ['a', 'b c', 'd"e'],
  };
}
