// Column types that drizzle's own PostgreSQL suite exercises and the Data API once failed on (each
// a cause found by running drizzle-orm's integration tests against anypg): serial pseudo-types in
// casts, mixed-case and schema-qualified enums, array parameters in where(), a bare `sql` value
// written to a json column, placeholders bound to such columns, and a length-limited column that
// must refuse a value that is too long rather than truncate it; and columns the Data API does not
// return (interval, macaddr, point, multi-dimensional arrays). Per table prefix, like schema.ts.
import {
  bigserial,
  char,
  integer,
  interval,
  json,
  jsonb,
  macaddr,
  numeric,
  pgEnum,
  pgSchema,
  pgTable,
  point,
  serial,
  smallserial,
  text,
} from 'drizzle-orm/pg-core';

export function paritySchema(T: string) {
  // A mixed-case enum name, as drizzle-kit creates it (quoted).
  const mood = pgEnum(`${T}_Mood`, ['Happy', 'sad']);
  const other = pgSchema(`${T}_s`);
  const level = other.enum('Level', ['low', 'high']);
  const things = pgTable(`${T}_things`, {
    id: serial('id').primaryKey(),
    big: bigserial('big', { mode: 'number' }),
    small: smallserial('small'),
    mood: mood('mood'),
    level: level('level'),
    moods: mood('moods').array(),
    tags: text('tags').array(),
    ints: integer('ints').array(),
    doc: json('doc'),
    docb: jsonb('docb'),
    code: char('code', { length: 2 }),
    iv: interval('iv'),
    // numeric in mode 'number' and 'bigint': drizzle gives these no Data API hint.
    amount: numeric('amount', { mode: 'number' }),
    huge: numeric('huge', { mode: 'bigint' }),
    // Types the Data API does not return (UnsupportedResultException): read as text there.
    mac: macaddr('mac'),
    grid: integer('grid').array().array(),
    words: text('words').array().array(),
    pt: point('pt', { mode: 'tuple' }),
  });
  return { mood, level, things };
}

export function parityDdl(T: string): string[] {
  return [
    `create type "${T}_Mood" as enum ('Happy', 'sad')`,
    `create schema "${T}_s"`,
    `create type "${T}_s"."Level" as enum ('low', 'high')`,
    `create table "${T}_things" (id serial primary key, big bigserial, small smallserial, mood "${T}_Mood",
      level "${T}_s"."Level", moods "${T}_Mood"[], tags text[], ints int[], doc json, docb jsonb, code char(2), iv interval, amount numeric, huge numeric, mac macaddr, grid int[][], words text[][], pt point)`,
  ];
}

export function parityDrop(T: string): string[] {
  return [
    `drop table if exists "${T}_things"`,
    `drop type if exists "${T}_Mood"`,
    `drop schema if exists "${T}_s" cascade`,
  ];
}
