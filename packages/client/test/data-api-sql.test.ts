// The data-api backend's text handling, checked without a database: placeholder translation, the
// command verb, and the error messages the Data API lays out (including layouts seen from AWS that
// the local endpoint can produce only in part).
import { describe, expect, it } from 'vitest';
import { commandOf, rowCountOf } from '../src/backends/data-api/command.js';
import { classify, type Failure, parseDatabaseMessage } from '../src/backends/data-api/errors.js';
import { arrayLiteral, timestampText, toParameters } from '../src/backends/data-api/params.js';
import { translatePlaceholders } from '../src/backends/data-api/placeholders.js';
import { type AnypgError, DatabaseError, StatementTimeoutError } from '../src/node.js';

/** The error of a settled failure. */
function finalError(f: Failure): AnypgError {
  if (f.kind !== 'final') throw new Error(`expected a final failure, got ${f.kind}`);
  return f.error;
}

describe('$n to :n', () => {
  it('translates placeholders and nothing inside strings, quoted names, comments or dollar quotes', () => {
    const sql = `select $1, '$2', E'it\\'s $3', "col$4", $$ $5 $$, $tag$ $6 $tag$, a$7, -- $8
      /* $9 /* nested $10 */ still $11 */ $12::int, $13`;
    const t = translatePlaceholders(sql);
    expect(t.text).toBe(`select :1, '$2', E'it\\'s $3', "col$4", $$ $5 $$, $tag$ $6 $tag$, a$7, -- $8
      /* $9 /* nested $10 */ still $11 */ :12::int, :13`);
    expect(t.count).toBe(13);
  });

  it('keeps :: casts and := as they are, and puts a space in any other :word so the Data API does not bind it', () => {
    const t = translatePlaceholders(`select a[1:2], a[$1:$2], f(x := 1), $3::text, b[lo:hi] from t`);
    expect(t.text).toBe(`select a[1: 2], a[:1: :2], f(x := 1), :3::text, b[lo: hi] from t`);
    // PostgreSQL's positions in the sent text map back to the caller's.
    const at = (needle: string) => t.originalPosition(t.text.indexOf(needle) + 1);
    expect(at('from')).toBe(`select a[1:2], a[$1:$2], f(x := 1), $3::text, b[lo:hi] from t`.indexOf('from') + 1);
    expect(at('a[1')).toBe(8);
  });

  it('notes which placeholders are cast at every use (arrays are accepted only there)', () => {
    const t = translatePlaceholders(`select $1::int[], cast( $2 as text[]), $3, $4 :: int[], $1`);
    expect([...t.cast].sort()).toEqual([2, 4]);
    expect(() => toParameters([[1], [2], [3], [4]], undefined, t.cast)).toThrow(/\$1 is an array/);
    expect(toParameters([null, ['a', 'b c'], 3, [1, null]], undefined, new Set([2, 4]))).toEqual([
      { name: '1', value: { isNull: true } },
      { name: '2', value: { stringValue: '{"a","b c"}' } },
      { name: '3', value: { longValue: 3 } },
      { name: '4', value: { stringValue: '{"1",NULL}' } },
    ]);
  });
});

describe('parameter values', () => {
  it('chooses the Field and the hint', () => {
    const at = new Date('2024-01-02T03:04:05.678Z');
    expect(
      toParameters(
        [true, 1.5, 2 ** 60, 12n, 2n ** 62n, at, at, Buffer.from('hi'), { a: 1 }, '5.50', 'NaN', '10:11'],
        ['none', 'none', 'none', 'none', 'none', 'none', 'date', 'none', 'none', 'decimal', 'decimal', 'time'],
        new Set(),
      ).map((p) => ({ value: p.value, hint: p.typeHint })),
    ).toEqual([
      { value: { booleanValue: true }, hint: undefined },
      { value: { doubleValue: 1.5 }, hint: undefined },
      { value: { doubleValue: 2 ** 60 }, hint: undefined },
      { value: { longValue: 12 }, hint: undefined },
      { value: { stringValue: '4611686018427387904' }, hint: 'DECIMAL' },
      { value: { stringValue: '2024-01-02 03:04:05.678' }, hint: 'TIMESTAMP' },
      { value: { stringValue: '2024-01-02' }, hint: 'DATE' },
      { value: { blobValue: Buffer.from('hi') }, hint: undefined },
      { value: { stringValue: '{"a":1}' }, hint: 'JSON' },
      { value: { stringValue: '5.50' }, hint: 'DECIMAL' },
      { value: { doubleValue: Number.NaN }, hint: undefined },
      { value: { stringValue: '10:11:00' }, hint: 'TIME' },
    ]);
  });

  it('writes timestamps in the TIMESTAMP hint format, in UTC when they carry an offset', () => {
    expect(timestampText('2024-01-02T03:04:05.123456Z')).toBe('2024-01-02 03:04:05.123456');
    expect(timestampText('2024-01-01 01:00:00+05:30')).toBe('2023-12-31 19:30:00');
    expect(timestampText('2024-01-02 03:04:05-0800')).toBe('2024-01-02 11:04:05');
    expect(timestampText('2024-01-02')).toBe('2024-01-02 00:00:00');
    expect(timestampText('infinity')).toBeUndefined();
    const err = (() => {
      try {
        toParameters(['not a time at all'], ['timestamp'], new Set());
      } catch (e) {
        return e as AnypgError;
      }
    })();
    expect(err?.code).toBe('UNSUPPORTED');
    expect(err?.message).not.toContain('not a time at all');
  });

  it('builds array literals as node-postgres does', () => {
    expect(arrayLiteral([1, null, 'a"b\\c', [2, 3], Buffer.from([1])])).toBe(
      '{"1",NULL,"a\\"b\\\\c",{"2","3"},"\\\\x01"}',
    );
  });
});

describe('command verbs', () => {
  it.each([
    ['select 1', 'SELECT'],
    ['  (select 1) union (select 2)', 'SELECT'],
    ['/* c */ -- d\n insert into t values (1)', 'INSERT'],
    ['with a as (select 1), b as (delete from t returning *) update t set x = 1', 'UPDATE'],
    ['with recursive r(n) as (select 1 union all select n + 1 from r) select * from r', 'SELECT'],
    ['values (1)', 'SELECT'],
    ['table t', 'SELECT'],
    ['create table t (a int)', 'CREATE'],
    ['end', 'COMMIT'],
    ['savepoint s', 'SAVEPOINT'],
    ['', ''],
  ])('%s -> %s', (sql, verb) => {
    expect(commandOf(sql)).toBe(verb);
  });

  it('counts rows only for commands whose tag has a count', () => {
    expect(rowCountOf('SELECT', 3, 0)).toBe(3);
    expect(rowCountOf('INSERT', undefined, 2)).toBe(2);
    expect(rowCountOf('CREATE', undefined, 0)).toBeNull();
    expect(rowCountOf('SHOW', 1, 0)).toBeNull();
  });
});

describe('DatabaseErrorException messages', () => {
  it('reads the semicolon layout', () => {
    const { message, fields } = parseDatabaseMessage(
      'ERROR: operator does not exist: integer = text; Hint: No operator matches the given name and argument types. You might need to add explicit type casts.; Position: 10; SQLState: 42883',
    );
    expect(message).toBe('operator does not exist: integer = text');
    expect(fields).toEqual({
      sqlstate: '42883',
      severity: 'ERROR',
      hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
      position: '10',
    });
  });

  it('reads the newline layout AWS has returned (as BadRequestException on older clusters)', () => {
    const err = classify({
      name: 'BadRequestException',
      message:
        'ERROR: duplicate key value violates unique constraint "episodes_pk"\n  Detail: Key (episode_pid)=(m001q2mq) already exists.; SQLState: 23505',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    expect(err.kind).toBe('final');
    const e = finalError(err) as DatabaseError;
    expect(e).toBeInstanceOf(DatabaseError);
    expect(e.message).toBe('duplicate key value violates unique constraint "episodes_pk"');
    expect(e).toMatchObject({
      sqlstate: '23505',
      constraint: 'episodes_pk',
      detail: 'Key (episode_pid)=(m001q2mq) already exists.',
    });
  });

  it('names the table of a foreign key violation, and infers the SQLSTATE when the message has none', () => {
    const { fields } = parseDatabaseMessage(
      'ERROR: update or delete on table "song_sheets" violates foreign key constraint "setlist_sheets_song_sheet_id_fkey" on table "setlist_sheets"',
    );
    expect(fields).toMatchObject({
      sqlstate: '23503',
      table: 'song_sheets',
      constraint: 'setlist_sheets_song_sheet_id_fkey',
    });
    expect(parseDatabaseMessage('ERROR: something new').fields.sqlstate).toBe('XX000');
  });

  it('maps StatementTimeoutException and a cancelled statement to StatementTimeoutError', () => {
    const timeout = classify({ name: 'StatementTimeoutException', message: 'Request timed out', $metadata: {} });
    expect(finalError(timeout)).toBeInstanceOf(StatementTimeoutError);
    const cancelled = classify({
      name: 'DatabaseErrorException',
      message: 'ERROR: canceling statement due to statement timeout; SQLState: 57014',
    });
    expect(finalError(cancelled).code).toBe('STATEMENT_TIMEOUT');
  });

  it('sorts transport failures by whether the statement can have run', () => {
    expect(classify({ name: 'DatabaseResumingException', message: 'resuming' }).kind).toBe('resuming');
    expect(classify({ name: 'ThrottlingException', message: 'slow down' }).kind).toBe('throttled');
    expect(classify({ name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }).kind).toBe('not-sent');
    expect(classify({ name: 'Error', code: 'ECONNRESET', message: 'socket hang up' }).kind).toBe('unknown');
    expect(
      classify({ name: 'InternalServerErrorException', message: '', $metadata: { httpStatusCode: 500 } }).kind,
    ).toBe('unknown');
    const denied = classify({ name: 'AccessDeniedException', message: 'no', $metadata: { httpStatusCode: 403 } });
    expect(finalError(denied).code).toBe('CONNECTION_FAILED');
    expect(finalError(denied).retryable).toBe(false);
  });
});
