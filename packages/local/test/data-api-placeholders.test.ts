// `:name` to `$n`: the scanner must leave every colon that is not a placeholder alone.
import { describe, expect, it } from 'vitest';
import { translatePlaceholders } from '../src/data-api/placeholders.js';

const t = (sql: string, known?: string[]) => translatePlaceholders(sql, known ? new Set(known) : undefined);

describe('translatePlaceholders', () => {
  it('numbers placeholders in order of first use', () => {
    const r = t('select * from t where a = :a and b = :b');
    expect(r.text).toBe('select * from t where a = $1 and b = $2');
    expect(r.names).toEqual(['a', 'b']);
  });

  it('maps the same name used twice to the same $n', () => {
    const r = t('select :x, :y, :x + 1');
    expect(r.text).toBe('select $1, $2, $1 + 1');
    expect(r.names).toEqual(['x', 'y']);
  });

  it('accepts numeric names (drizzle writes :1, :2, ...)', () => {
    const r = t('insert into t (a, b) values (:1, :2)');
    expect(r.text).toBe('insert into t (a, b) values ($1, $2)');
    expect(r.names).toEqual(['1', '2']);
  });

  it('leaves :: casts alone, also right after a placeholder', () => {
    const r = t("select :a::int, '1'::text, cast(:8 as integer[]), x::timestamptz");
    expect(r.text).toBe("select $1::int, '1'::text, cast($2 as integer[]), x::timestamptz");
    expect(r.names).toEqual(['a', '8']);
  });

  it('leaves single-quoted strings alone, with doubled quotes inside', () => {
    const r = t("select ':a', 'it''s :b', :c");
    expect(r.text).toBe("select ':a', 'it''s :b', $1");
    expect(r.names).toEqual(['c']);
  });

  it("leaves E'' strings alone, with backslash-escaped quotes inside", () => {
    const r = t("select E'\\' :a', e'x\\\\', :b");
    expect(r.text).toBe("select E'\\' :a', e'x\\\\', $1");
    expect(r.names).toEqual(['b']);
  });

  it('does not take an identifier ending in e for an E string', () => {
    // `some'` is not an E'' string: a standard string follows the identifier, and a backslash in it is literal.
    const r = t("select some'\\', :a");
    expect(r.names).toEqual(['a']);
  });

  it('leaves quoted identifiers alone, with doubled quotes inside', () => {
    const r = t('select "col:a", "we""ird :b" from t where x = :c');
    expect(r.text).toBe('select "col:a", "we""ird :b" from t where x = $1');
    expect(r.names).toEqual(['c']);
  });

  it('leaves $$ and $tag$ bodies alone', () => {
    const sql = `create function f() returns int as $$ select :a $$ language sql;`;
    expect(t(sql).names).toEqual([]);
    const tagged = `do $body$ begin perform :x; raise notice '$$'; end $body$`;
    expect(t(tagged).text).toBe(tagged);
    const mixed = 'select $q$ :a $$ :b $q$, :c';
    expect(t(mixed).text).toBe('select $q$ :a $$ :b $q$, $1');
  });

  it('does not mistake positional $1 or an identifier with $ for a dollar quote', () => {
    const r = t('select a$b$c, $1, :d');
    expect(r.text).toBe('select a$b$c, $1, $1');
    expect(r.names).toEqual(['d']);
  });

  it('leaves -- comments alone up to the end of the line', () => {
    const r = t('select 1 -- :a is not a parameter\n, :b');
    expect(r.text).toBe('select 1 -- :a is not a parameter\n, $1');
    expect(r.names).toEqual(['b']);
  });

  it('leaves nested /* */ comments alone', () => {
    const r = t('select /* outer /* :inner */ :still_comment */ :real');
    expect(r.text).toBe('select /* outer /* :inner */ :still_comment */ $1');
    expect(r.names).toEqual(['real']);
  });

  it('with known names, leaves other :words (array slices) alone', () => {
    const r = t('select arr[1:2], :n from t', ['n']);
    expect(r.text).toBe('select arr[1:2], $1 from t');
    expect(r.names).toEqual(['n']);
  });

  it('leaves := (named notation) alone', () => {
    expect(t('select f(a := 1)').text).toBe('select f(a := 1)');
  });

  it('notices a second statement after a top-level semicolon', () => {
    expect(t('select 1; select 2').multipleStatements).toBe(true);
    expect(t('select 1;').multipleStatements).toBe(false);
    expect(t('select 1; -- trailing comment\n  ').multipleStatements).toBe(false);
    expect(t("select ';'; ").multipleStatements).toBe(false);
    expect(t('select $$;$$').multipleStatements).toBe(false);
    expect(t('select 1 /* ; */').multipleStatements).toBe(false);
  });

  it('maps error positions back to the original SQL', () => {
    const sql = 'select :long_name + nope from t';
    const r = t(sql);
    expect(r.text).toBe('select $1 + nope from t');
    const inTranslated = r.text.indexOf('nope') + 1;
    expect(r.originalPosition(inTranslated)).toBe(sql.indexOf('nope') + 1);
    expect(r.originalPosition(r.text.indexOf('$1') + 1)).toBe(sql.indexOf(':long_name') + 1);
    expect(r.originalPosition(1)).toBe(1);
  });

  it('survives unterminated quotes and comments without looping', () => {
    expect(t("select 'abc").names).toEqual([]);
    expect(t('select /* abc').names).toEqual([]);
    expect(t('select $x$ abc').names).toEqual([]);
  });
});
