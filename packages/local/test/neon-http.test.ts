// SQL over HTTP with the unmodified Neon driver (`neon()`), against a real PostgreSQL through the
// local endpoint: transactions, command tags, errors field by field against pg's, limits,
// cancellation on client abort, concurrency, CORS, auth and the JSON (non-raw) output mode.
import { NeonDbError, neon, neonConfig, Pool } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, type NeonEndpoint, startNeonEndpoint } from '../src/index.js';

const url = inject('databaseUrl');
const S = 'neon_http_t';
const MAX_RESPONSE = 64 * 1024;
const MAX_REQUEST = 16 * 1024;
let endpoint: NeonEndpoint;
let direct: pg.Client;

/** The same server URL with another password / database / query parameters. */
function variant(change: { password?: string; database?: string; params?: Record<string, string> }): string {
  const u = new URL(url);
  if (change.password !== undefined) u.password = encodeURIComponent(change.password);
  if (change.database !== undefined) u.pathname = `/${change.database}`;
  for (const [k, v] of Object.entries(change.params ?? {})) u.searchParams.set(k, v);
  return u.toString();
}

/** A raw POST /sql, as the driver sends it (text/plain body), for what the driver hides. */
async function post(body: unknown, headers: Record<string, string> = {}, connectionString = url) {
  const res = await fetch(endpoint.fetchEndpoint, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Neon-Connection-String': connectionString, ...headers },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function countActive(applicationName: string): Promise<number> {
  const r = await direct.query(
    `select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active'`,
    [applicationName],
  );
  return r.rows[0].n;
}

/** Polls (bounded) until `check` holds; returns the last value seen. */
async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, tries = 200): Promise<T> {
  let v = await read();
  for (let i = 0; i < tries && !check(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await read();
  }
  return v;
}

async function neonError(p: Promise<unknown>): Promise<NeonDbError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(NeonDbError);
    return err as NeonDbError;
  }
  throw new Error('expected the query to fail');
}

async function pgError(text: string, values: unknown[] = []): Promise<pg.DatabaseError> {
  try {
    // The extended protocol, as the endpoint uses, so positions and messages match.
    await direct.query({ text, values, queryMode: 'extended' } as pg.QueryConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(pg.DatabaseError);
    return err as pg.DatabaseError;
  }
  throw new Error('expected the query to fail');
}

beforeAll(async () => {
  endpoint = await startNeonEndpoint({
    upstream: url,
    limits: { maxResponseBytes: MAX_RESPONSE, maxRequestBytes: MAX_REQUEST },
  });
  // Global to the driver: set once for this file.
  Object.assign(neonConfig, endpoint.neonConfig);
  neonConfig.poolQueryViaFetch = true;
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${S} cascade; create schema ${S};
    create table ${S}.parent (id int primary key);
    create table ${S}.items (id serial primary key, name text not null unique, qty int check (qty >= 0),
      parent_id int references ${S}.parent (id))`);
});

afterAll(async () => {
  await direct?.query(`drop schema if exists ${S} cascade`);
  await direct?.end();
  await endpoint?.close();
});

describe('single queries', () => {
  it('reports the command tag and row count of DDL and DML as pg does', async () => {
    const sql = neon(url, { fullResults: true });
    const steps = (schema: string) => [
      `create table ${schema}.tags (id serial primary key, label text, n int)`,
      `insert into ${schema}.tags (label, n) values ('a', 1), ('b', 2), ('c', 3)`,
      `update ${schema}.tags set n = n + 1 where n > 1`,
      `select * from ${schema}.tags order by id`,
      `delete from ${schema}.tags where label = 'a'`,
      `create index tags_n on ${schema}.tags (n)`,
      `alter table ${schema}.tags add column note text`,
      `insert into ${schema}.tags (label) select 'x' || g from generate_series(1, 4) g returning id`,
      `truncate ${schema}.tags`,
      `drop table ${schema}.tags`,
    ];
    await direct.query(`create schema ${S}_oracle`);
    try {
      const viaNeon = [];
      for (const q of steps(S)) {
        const r = await sql.query(q);
        viaNeon.push([r.command, r.rowCount, r.rows.length]);
      }
      const viaPg = [];
      for (const q of steps(`${S}_oracle`)) {
        const r = await direct.query(q);
        viaPg.push([r.command, r.rowCount, r.rows.length]);
      }
      expect(viaNeon).toEqual(viaPg);
      expect(viaNeon[0]).toEqual(['CREATE', null, 0]);
      expect(viaNeon[1]).toEqual(['INSERT', 3, 0]);
      expect(viaNeon[2]).toEqual(['UPDATE', 2, 0]);
      expect(viaNeon[3]).toEqual(['SELECT', 3, 3]);
      expect(viaNeon[7]).toEqual(['INSERT', 4, 4]);
    } finally {
      await direct.query(`drop schema ${S}_oracle cascade`);
    }
  });

  it('rejects several statements in one query as the extended protocol does', async () => {
    const text = 'select 1; select 2';
    const err = await neonError(neon(url).query(text));
    const expected = await pgError(text);
    expect(err.code).toBe('42601');
    expect(err.message).toBe('cannot insert multiple commands into a prepared statement');
    expect(err.message).toBe(expected.message);
  });

  it('answers arrayMode and fullResults as asked, per call', async () => {
    const sql = neon(url);
    expect(await sql.query('select 1 as a, 2 as a', [], { arrayMode: true })).toEqual([[1, 2]]);
    // Duplicate names in object mode: the last column wins, as in pg.
    expect(await sql.query('select 1 as a, 2 as a')).toEqual([{ a: 2 }]);
    const full = await sql.query('select $1::text as t', ['x'], { fullResults: true });
    expect(full.rows).toEqual([{ t: 'x' }]);
    expect(full.fields[0]).toMatchObject({ name: 't', dataTypeID: 25, format: 'text' });
    expect(full.rowCount).toBe(1);
  });

  it('runs Pool.query over fetch when poolQueryViaFetch is set (the driver drops the port)', async () => {
    const pool = new Pool({ connectionString: url });
    const r = await pool.query('select $1::int as n', [5]);
    expect(r.rows).toEqual([{ n: 5 }]);
    expect((r as unknown as { viaNeonFetch?: boolean }).viaNeonFetch).toBe(true);
    await pool.end();
  });

  it('answers 100 concurrent queries correctly through a bounded pool', async () => {
    const app = 'neon_http_concurrency';
    const sql = neon(variant({ params: { application_name: app } }));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => sql.query('select $1::int as n, pg_sleep(0.005) as s', [i])),
    );
    expect(results.map((r) => r[0]?.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const r = await direct.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [app]);
    expect(r.rows[0].n).toBeGreaterThanOrEqual(2);
    expect(r.rows[0].n).toBeLessThanOrEqual(10);
  });
});

describe('startup options from the connection string', () => {
  it("applies options and application_name to each string's own sessions, never to another's", async () => {
    await direct.query(`create schema ${S}_a; create schema ${S}_b;
      create table ${S}_a.t as select 'a'::text as v; create table ${S}_b.t as select 'b'::text as v`);
    try {
      // `endpoint=` is Neon's routing word: dropped by the endpoint, as by Neon's proxy.
      const a = neon(
        variant({ params: { options: `endpoint=ep-local-1 -c search_path=${S}_a`, application_name: 'opt_a' } }),
      );
      const b = neon(variant({ params: { options: `-c search_path=${S}_b`, application_name: 'opt_b' } }));
      const plain = neon(variant({ params: { application_name: 'opt_plain' } }));
      const q = 'select current_schema() as s, current_setting($1) as app';
      // Interleaved and concurrent, so that pooled sessions are reused between the three.
      const rounds = await Promise.all(
        Array.from({ length: 6 }, () =>
          Promise.all([
            a.query(`${q}, (select v from t) as v`, ['application_name']),
            b.query(`${q}, (select v from t) as v`, ['application_name']),
            plain.query(q, ['application_name']),
          ]),
        ),
      );
      for (const [ra, rb, rp] of rounds) {
        expect(ra).toEqual([{ s: `${S}_a`, app: 'opt_a', v: 'a' }]);
        expect(rb).toEqual([{ s: `${S}_b`, app: 'opt_b', v: 'b' }]);
        expect(rp).toEqual([{ s: 'public', app: 'opt_plain' }]);
      }
      // The same string in a batch (one session, BEGIN..COMMIT) sees the same settings.
      const [[inBatch]] = (await a.transaction([a.query(q, ['application_name'])])) as [[{ s: string }]];
      expect(inBatch).toEqual({ s: `${S}_a`, app: 'opt_a' });
      // Settings of the string win over the endpoint's own session defaults (TimeZone=UTC).
      const tz = neon(variant({ params: { options: '-c TimeZone=Europe/Paris' } }));
      expect(await tz.query('select current_setting($1) as tz', ['TimeZone'])).toEqual([{ tz: 'Europe/Paris' }]);
    } finally {
      await direct.query(`drop schema ${S}_a cascade; drop schema ${S}_b cascade`);
    }
  });
});

describe('transaction() batches', () => {
  const levels = [
    ['ReadUncommitted', 'read uncommitted'],
    ['ReadCommitted', 'read committed'],
    ['RepeatableRead', 'repeatable read'],
    ['Serializable', 'serializable'],
  ] as const;

  for (const [level, shown] of levels) {
    it(`runs a batch at isolation level ${level}`, async () => {
      const sql = neon(url);
      const [a, b] = await sql.transaction(
        [
          sql`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro`,
          sql`select txid_current_if_assigned() is null as no_xid, ${level}::text as echo`,
        ],
        { isolationLevel: level },
      );
      expect(a).toEqual([{ level: shown, ro: 'off' }]);
      expect(b).toEqual([{ no_xid: true, echo: level }]);
    });
  }

  it('runs read-only and deferrable batches, and refuses a write in a read-only one', async () => {
    const sql = neon(url);
    const [r] = await sql.transaction(
      [sql`select current_setting('transaction_read_only') as ro, current_setting('transaction_deferrable') as d`],
      { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
    );
    expect(r).toEqual([{ ro: 'on', d: 'on' }]);
    const err = await neonError(
      sql.transaction([sql`insert into ${sql.unsafe(S)}.parent values (900)`], { readOnly: true }),
    );
    expect(err.code).toBe('25006');
    expect(err.message).toBe('cannot execute INSERT in a read-only transaction');
    const left = await direct.query(`select count(*)::int as n from ${S}.parent where id = 900`);
    expect(left.rows[0].n).toBe(0);
  });

  it('rolls the whole batch back when one statement fails', async () => {
    const sql = neon(url);
    const err = await neonError(
      sql.transaction([
        sql`insert into ${sql.unsafe(S)}.parent values (901)`,
        sql`insert into ${sql.unsafe(S)}.parent values (902)`,
        sql`select 1 / 0`,
      ]),
    );
    expect(err.code).toBe('22012');
    const left = await direct.query(`select count(*)::int as n from ${S}.parent where id in (901, 902)`);
    expect(left.rows[0].n).toBe(0);
    // A batch that succeeds commits.
    const results = await sql.transaction(
      [
        sql`insert into ${sql.unsafe(S)}.parent values (903) returning id`,
        sql`select count(*)::int as n from ${sql.unsafe(S)}.parent where id = 903`,
      ],
      { fullResults: true },
    );
    expect(results.map((r) => [r.command, r.rowCount, r.rows])).toEqual([
      ['INSERT', 1, [{ id: 903 }]],
      ['SELECT', 1, [{ n: 1 }]],
    ]);
    const kept = await direct.query(`select count(*)::int as n from ${S}.parent where id = 903`);
    expect(kept.rows[0].n).toBe(1);
  });

  it('refuses an unknown isolation level with 400 and echoes the batch options it applied', async () => {
    const body = { queries: [{ query: 'select 1', params: [] }] };
    const bad = await post(body, { 'Neon-Batch-Isolation-Level': 'Chaos' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).message).toBe('invalid isolation level');
    const ok = await post(body, {
      'Neon-Batch-Isolation-Level': 'Serializable',
      'Neon-Batch-Read-Only': 'true',
      'Neon-Raw-Text-Output': 'true',
      'Neon-Array-Mode': 'true',
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('neon-batch-read-only')).toBe('true');
    expect(ok.headers.get('neon-batch-isolation-level')).toBe('Serializable');
    expect(JSON.parse(ok.text).results[0].rows).toEqual([['1']]);
  });
});

describe('errors', () => {
  const cases: Array<[string, string, unknown[]]> = [
    ['unique violation', `insert into ${S}.items (name) values ('dup'), ('dup')`, []],
    ['not-null violation', `insert into ${S}.items (id, name) values (100, null)`, []],
    ['check violation', `insert into ${S}.items (id, name, qty) values (101, 'neg', -1)`, []],
    ['foreign key violation', `insert into ${S}.items (name, parent_id) values ('orphan', 12345)`, []],
    ['syntax error with position', 'select * fromm nowhere', []],
    ['undefined table', `select * from ${S}.no_such_table`, []],
    ['division by zero', 'select 1 / 0', []],
    ['bad input for a parameter', 'select $1::int', ['abc']],
    [
      'RAISE with detail, hint and a custom SQLSTATE',
      `do $$ begin raise exception 'custom %', 42 using detail = 'the detail', hint = 'the hint', errcode = 'AB123'; end $$`,
      [],
    ],
    [
      'error inside a function (internal query and position)',
      `do $$ begin perform * from ${S}.nope_inside; end $$`,
      [],
    ],
    ['datatype and column in a domain check', `select 'x'::int2 + 100000`, []],
  ];

  for (const [name, text, values] of cases) {
    it(`carries every PostgreSQL field like pg's DatabaseError: ${name}`, async () => {
      const expected = await pgError(text, values);
      const err = await neonError(neon(url).query(text, values));
      expect(err.message).toBe(expected.message);
      const fields = [
        'severity',
        'code',
        'detail',
        'hint',
        'position',
        'internalPosition',
        'internalQuery',
        'where',
        'schema',
        'table',
        'column',
        'dataType',
        'constraint',
        'file',
        'line',
        'routine',
      ] as const;
      for (const f of fields) expect({ [f]: err[f] }).toEqual({ [f]: expected[f] });
      expect(err.code).toMatch(/^[0-9A-Z]{5}$/);
    });
  }

  it('has the fields the issue names on a constraint error', async () => {
    const err = await neonError(neon(url).query(`insert into ${S}.items (name) values ('u1'), ('u1')`));
    expect(err.code).toBe('23505');
    expect(err.constraint).toBe('items_name_key');
    expect(err.table).toBe('items');
    expect(err.schema).toBe(S);
    expect(err.detail).toBe('Key (name)=(u1) already exists.');
    const syntax = await neonError(neon(url).query('select * fromm nowhere'));
    expect(syntax.position).toBe('10');
  });

  it('lets PostgreSQL authenticate: a wrong password or database fails like pg, never echoing the password', async () => {
    const secret = 'Wr0ng-Secret-9f3b';
    const err = await neonError(neon(variant({ password: secret })).query('select 1'));
    expect(err.code).toBe('28P01');
    expect(err.message).toMatch(/password authentication failed/);
    const raw = await post({ query: 'select 1' }, {}, variant({ password: secret }));
    expect(raw.status).toBe(400);
    expect(raw.text).not.toContain(secret);
    const noDb = await neonError(neon(variant({ database: 'neon_http_no_such_db' })).query('select 1'));
    expect(noDb.code).toBe('3D000');
  });

  it('never puts the password of the connection string in any error body', async () => {
    const secret = 'S3cret-In-Url-77aa';
    const bodies: string[] = [];
    const withSecret = variant({ password: secret });
    bodies.push((await post({ query: 'select 1' }, {}, withSecret.replace(/\/[^/?]*(\?|$)/, '/$1'))).text); // no database
    bodies.push((await post({ query: 'select 1' }, {}, `not a url ${secret}`)).text);
    bodies.push((await post({ query: 'select 1' }, {}, withSecret.replace('postgresql:', 'mysql:'))).text);
    bodies.push((await post('{not json', {}, withSecret)).text);
    bodies.push((await post({ query: 'select 1' }, { 'Neon-Batch-Isolation-Level': 'x' }, withSecret)).text);
    // An upstream that is down: a 5xx with a message.
    const down = await startNeonEndpoint({ upstream: { host: '127.0.0.1', port: await freePort() } });
    try {
      const res = await fetch(down.fetchEndpoint, {
        method: 'POST',
        body: JSON.stringify({ query: 'select 1' }),
        headers: { 'Neon-Connection-String': withSecret },
      });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text).message).toMatch(/could not connect to the upstream PostgreSQL/);
      bodies.push(text);
    } finally {
      await down.close();
    }
    expect(bodies).toHaveLength(6);
    for (const b of bodies) {
      expect(JSON.parse(b).message).toEqual(expect.any(String));
      expect(b).not.toContain(secret);
    }
  });
});

describe('limits and cancellation', () => {
  it('answers 507 for a response over the limit and cancels the query producing it', async () => {
    const app = 'neon_http_too_large';
    const sql = neon(variant({ params: { application_name: app } }));
    // Without the cancel this would stream gigabytes for minutes.
    const err = await neonError(sql.query(`select repeat('x', 1000) as x from generate_series(1, 10000000)`));
    expect(err.message).toBe(
      `Server error (HTTP status 507): ${JSON.stringify({ message: `response is too large (max is ${MAX_RESPONSE} bytes)`, code: '', detail: null, hint: null, position: null, internalPosition: null, internalQuery: null, severity: '', where: null, table: null, column: null, schema: null, dataType: null, constraint: null, file: null, line: null, routine: null })}`,
    );
    expect(
      await until(
        () => countActive(app),
        (n) => n === 0,
      ),
    ).toBe(0);
    // Just under the limit is fine.
    const rows = await sql.query(`select repeat('x', 1000) as x from generate_series(1, 50)`);
    expect(rows).toHaveLength(50);
  });

  it('answers 413 for a request over the limit', async () => {
    const err = await neonError(neon(url).query('select length($1) as n', ['y'.repeat(MAX_REQUEST)]));
    expect(err.message).toMatch(/^Server error \(HTTP status 413\): /);
    expect(err.message).toContain(`request is too large (max is ${MAX_REQUEST} bytes)`);
    expect(await neon(url).query('select length($1) as n', ['y'.repeat(1000)])).toEqual([{ n: 1000 }]);
  });

  it('cancels the running query when the client aborts the request', async () => {
    const app = 'neon_http_abort';
    const sql = neon(variant({ params: { application_name: app } }));
    const controller = new AbortController();
    const running = sql.query('select pg_sleep(60)', [], { fetchOptions: { signal: controller.signal } });
    running.catch(() => {});
    expect(
      await until(
        () => countActive(app),
        (n) => n === 1,
      ),
    ).toBe(1);
    controller.abort();
    await expect(running).rejects.toThrow(/abort/i);
    expect(
      await until(
        () => countActive(app),
        (n) => n === 0,
      ),
    ).toBe(0);
    // The endpoint keeps serving that role.
    expect(await sql.query('select 2 as two')).toEqual([{ two: 2 }]);
  });
});

describe('HTTP surface', () => {
  it('sends Access-Control-Allow-Origin to loopback pages on answers and errors, and answers their preflight', async () => {
    const origin = { Origin: 'http://localhost:5173' };
    const ok = await post({ query: 'select 1' }, origin);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(ok.headers.get('vary')).toBe('Origin');
    expect(ok.headers.get('content-type')).toBe('application/json');
    const bad = await post({ query: 'select nope' }, origin);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    // No Origin (the driver on a server): no CORS headers, nothing for a browser to read.
    expect((await post({ query: 'select 1' })).headers.get('access-control-allow-origin')).toBeNull();
    const pre = await fetch(endpoint.fetchEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: 'http://app.localhost', 'Access-Control-Request-Method': 'POST' },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://app.localhost');
    expect(pre.headers.get('access-control-allow-headers')).toContain('Neon-Connection-String');
    const other = await fetch(`${endpoint.httpUrl}/elsewhere`);
    expect(other.status).toBe(400);
    expect(await other.json()).toBe('query is not supported');
  });

  it('accepts Authorization: Bearer, and says clearly what it cannot do without a password', async () => {
    expect(await neon(url, { authToken: 'header.payload.signature' })`select 3 as n`).toEqual([{ n: 3 }]);
    const noPassword = variant({ password: '' });
    const withBearer = await post(
      { query: 'select 1' },
      { Authorization: 'Bearer header.payload.signature' },
      noPassword,
    );
    expect(withBearer.status).toBe(400);
    expect(JSON.parse(withBearer.text).message).toMatch(/does not verify JWTs/);
    const without = await post({ query: 'select 1' }, {}, noPassword);
    expect(without.status).toBe(400);
    expect(JSON.parse(without.text).message).toBe('missing authentication credentials: required password');
  });

  it('converts values to JSON when raw text output is not asked for (Neon rules)', async () => {
    await direct.query(`create type ${S}.color as enum ('red', 'green')`);
    const query = `select 7::int4 as i4, 8::int2 as i2, 9::int8 as i8, true as b, 1.5::float8 as f8, 'NaN'::float4 as nan,
      '{"x": [1, null]}'::jsonb as jb, '12.50'::numeric as num, '{1,NULL,3}'::int[] as ai,
      '{{"a,b",NULL},{"c\\"d",e}}'::text[] as at, '{t,f}'::bool[] as ab, '[0:1]={1.5,Infinity}'::float8[] as af,
      '{red,green}'::${S}.color[] as ae, array['{"k": 1}'::json] as aj, null::int as n, 'x' as dup, 'y' as dup`;
    const objects = await post({ query, params: [] });
    expect(objects.status).toBe(200);
    const res = JSON.parse(objects.text);
    expect(res.rowAsArray).toBe(false);
    expect(res.rows).toEqual([
      {
        i4: 7,
        i2: 8,
        i8: '9',
        b: true,
        f8: 1.5,
        nan: 'NaN',
        jb: { x: [1, null] },
        num: '12.50',
        ai: [1, null, 3],
        at: [
          ['a,b', null],
          ['c"d', 'e'],
        ],
        ab: [true, false],
        af: [1.5, 'Infinity'],
        ae: ['red', 'green'],
        aj: [{ k: 1 }],
        n: null,
        dup: 'y',
      },
    ]);
    // A repeated column name is written twice in the JSON text, as Neon writes it.
    expect(objects.text).toContain('"dup":"x","dup":"y"');
    const arrays = await post({ query: 'select 1::int4 as a, 2::int8 as b', arrayMode: true });
    expect(JSON.parse(arrays.text).rows).toEqual([[1, '2']]);
    const raw = await post({ query: 'select 1::int4 as a' }, { 'Neon-Raw-Text-Output': 'true' });
    expect(JSON.parse(raw.text).rows).toEqual([{ a: '1' }]);
  });

  it('binds JSON parameters as PostgreSQL text (numbers, booleans, objects, nested arrays)', async () => {
    const res = await post(
      {
        query:
          'select $1::int + 1 as n, $2::bool as b, $3::jsonb as j, $4::text[] as t, $5::int[] as m, $6::text as nul',
        params: [
          41,
          true,
          { a: [1, 'x'] },
          ['p"q', null, 'back\\slash'],
          [
            [1, 2],
            [3, null],
          ],
          null,
        ],
      },
      { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' },
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).rows).toEqual([
      ['42', 't', '{"a": [1, "x"]}', '{"p\\"q",NULL,"back\\\\slash"}', '{{1,2},{3,NULL}}', null],
    ]);
  });
});
