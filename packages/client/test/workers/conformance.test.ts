// The conformance suite inside workerd: the corpus of test/conformance/corpus.ts through the test
// Worker, on hyperdrive (pg over the binding) and on neon-http (the Neon driver over workerd's
// fetch). The oracle is drizzle's node-postgres driver in Node (the ADMIN binding), compared in tagged
// JSON so that a Date, a bigint, bytes or NaN cannot pass for a string. Differences are accepted
// only through test/conformance/differences.ts, as in the Node suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCases, SETUP_SQL, TYPE_CASES, typeQuery } from '../conformance/corpus.js';
import { accepted } from '../conformance/differences.js';
import { builderRow, conformanceDdl, conformanceDrop } from '../conformance/schema.js';
import { admin, type Backend, call, oracle } from './support.js';
import { tag } from './tagged.js';

const T = `wkconf_${Math.random().toString(36).slice(2, 10)}`;
const BACKENDS: Backend[] = ['hyperdrive', 'neon-http'];

beforeAll(async () => {
  for (const s of [...SETUP_SQL, ...conformanceDdl(T)]) await admin(s);
});

afterAll(async () => {
  await admin(conformanceDrop(T));
});

describe.each(BACKENDS)('conformance inside workerd: %s', (backend) => {
  const n = BACKENDS.indexOf(backend) + 1;

  it("returns every type of the corpus as drizzle's node-postgres driver does (execute)", async () => {
    const { status, body } = await call(backend, 'confTypes', { t: T, app: 'anypg_wkconf' });
    expect(status, JSON.stringify(body)).toBe(200);
    const expected = await oracle(TYPE_CASES.map(typeQuery));
    expect(body.map((r: { name: string }) => r.name)).toEqual(TYPE_CASES.map((c) => c.name));
    const mismatches: string[] = [];
    TYPE_CASES.forEach((c, i) => {
      const got = body[i];
      const want = expected[i]!;
      const same =
        JSON.stringify([got.rows, got.oids, got.error]) === JSON.stringify([want.rows, want.oids, want.error]);
      if (!same && !accepted(backend, c.name)) {
        mismatches.push(`${c.name}: got ${JSON.stringify(got)}, pg gives ${JSON.stringify(want)}`);
      }
    });
    expect(mismatches).toEqual([]);
    // The comparison is not vacuous: the oracle answered every case with rows.
    expect(expected.every((e) => !e.error && (e.rows?.length ?? 0) > 0)).toBe(true);
  });

  it('round-trips the query builder column types', async () => {
    const { status, body } = await call(backend, 'confBuilder', { t: T, app: 'anypg_wkconf', id: n });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.inserted).toEqual(body.selected);
    expect(body.selected).toEqual(tag(builderRow(n)));
  });

  it('runs relational queries, returning, and execute with the same shapes', async () => {
    const base = n * 100;
    const { status, body } = await call(backend, 'confRelational', { t: T, app: 'anypg_wkconf', base });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.inserted).toEqual([{ id: base, name: `p-${base}` }]);
    expect(body.tree).toEqual({
      id: base,
      name: `p-${base}`,
      children: [
        { id: base + 1, parentId: base, label: 'a' },
        { id: base + 2, parentId: base, label: 'b' },
      ],
    });
    expect(body.update).toEqual({ command: 'UPDATE', rowCount: 2, rows: [] });
    expect(await admin(`select label from ${T}_child where parent_id = $1 order by id`, [base])).toEqual([
      { label: 'a!' },
      { label: 'b!' },
    ]);
  });

  it('reports errors with the same SQLSTATE and fields as pg', async () => {
    const cases = errorCases(T);
    const { status, body } = await call(backend, 'confErrors', { t: T, app: 'anypg_wkconf' });
    expect(status, JSON.stringify(body)).toBe(200);
    const theirs = await oracle(cases.map((c) => c.sql));
    cases.forEach((c, i) => {
      const ours = body[i];
      const pgError = theirs[i]!.error as Record<string, unknown>;
      expect(ours.name).toBe(c.name);
      expect(ours.isDatabaseError, c.name).toBe(true);
      expect(ours.error.sqlstate, c.name).toBe(c.sqlstate);
      expect(pgError.code, c.name).toBe(c.sqlstate);
      for (const f of ['message', 'detail', 'constraint', 'table', 'column', 'position']) {
        expect(ours.error[f], `${c.name}: ${f}`).toBe(pgError[f]);
      }
    });
  });

  it('reports a serialization failure as retryable 40001', async () => {
    const { status, body } = await call(backend, 'confSerialization', { t: T, app: 'anypg_wkconf' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual([expect.objectContaining({ class: 'DatabaseError', sqlstate: '40001', retryable: true })]);
  });
});
