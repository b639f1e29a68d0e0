// What a span says about a statement's text: its operation, its one table, and its text with every
// literal replaced (no database needed).
import { describe, expect, it } from 'vitest';
import { shapeOf } from '../src/observe/otel/sql.js';

describe('operation and table', () => {
  it.each([
    ['select "id", "body" from "notes" where "notes"."id" = $1', 'SELECT', 'notes'],
    ['insert into "notes" ("id", "body") values (default, $1) returning "id"', 'INSERT', 'notes'],
    ['update "notes" set "body" = $1 where "notes"."id" = $2', 'UPDATE', 'notes'],
    ['delete from "notes" where "notes"."id" = $1', 'DELETE', 'notes'],
    ['select * from "public"."notes"', 'SELECT', 'public.notes'],
    ['SELECT count(*) FROM Notes n WHERE n.id > 1 ORDER BY a, b', 'SELECT', 'notes'],
    ['with recent as (select * from notes) select * from recent', 'SELECT', 'recent'],
    ['with x as (select 1) insert into "log" select * from x', 'INSERT', 'log'],
    ['  (select 1)', undefined, undefined],
    ['begin isolation level serializable', 'BEGIN', undefined],
    ['commit', 'COMMIT', undefined],
    ['savepoint sp1', 'SAVEPOINT', undefined],
  ])('%s', (text, operation, collection) => {
    expect(shapeOf(text)).toMatchObject({ operation, collection });
  });

  it('several tables, a subquery or a function is no single table', () => {
    for (const text of [
      'select * from "notes" left join lateral (select 1) "x" on true',
      'select * from notes, users',
      'select * from (select 1) t',
      'select * from generate_series(1, 3)',
      'delete from notes using users where notes.uid = users.id',
      'select 1',
    ]) {
      expect(shapeOf(text).collection, text).toBeUndefined();
    }
  });
});

describe('sanitised text', () => {
  it.each([
    ["select * from t where token = 'abc' and n = 42", 'select * from t where token = ? and n = ?'],
    ["select 'it''s', E'a\\'b', $$body$$, $tag$x$y$tag$", 'select ?, ?, ?, ?'],
    ["select B'0101', X'1F', U&'d\\0061t', 1.5e-3, .5", 'select ?, ?, ?, ?, ?'],
    [
      'select "weird""name", t1.c2, $1, $12 from t1 -- a comment with secret\n',
      'select "weird""name", t1.c2, $1, $12 from t1',
    ],
    ['select /* secret */ 1', 'select ?'],
    ["select 'unterminated", 'select ?'],
  ])('%s', (text, sanitized) => {
    expect(shapeOf(text).sanitized).toBe(sanitized);
  });

  it('is cut at 2048 characters', () => {
    const long = `select ${Array.from({ length: 2000 }, (_, i) => `"c${i}"`).join(', ')} from t`;
    const { sanitized } = shapeOf(long);
    expect(sanitized.length).toBe(2048);
    expect(sanitized.endsWith('…')).toBe(true);
  });
});
