// What the test Worker runs for the conformance suite inside workerd (test/workers/conformance.test.ts):
// the corpus of test/conformance/corpus.ts, answered in tagged JSON so the test can compare it with
// pg's answers in Node.
import { eq, sql } from 'drizzle-orm';
import { type AnypgDatabase, DatabaseError, isRetryable } from '../../src/edge.js';
import { errorCases, TYPE_CASES, typeQuery } from '../conformance/corpus.js';
import { builderRow, type ConformanceSchema } from '../conformance/schema.js';
import { errorFields } from './tagged.js';

type Db = AnypgDatabase<ConformanceSchema>;
type Body = { t: string } & Record<string, unknown>;

export const conformanceOps: Record<
  string,
  (db: Db, s: ConformanceSchema, body: Body, open: () => Db) => Promise<unknown>
> = {
  /** Every type case through execute(): rows and column type OIDs. */
  async confTypes(db) {
    const out: Array<{ name: string; rows?: unknown[]; oids?: number[]; error?: unknown }> = [];
    for (const c of TYPE_CASES) {
      try {
        const r = await db.execute(sql.raw(typeQuery(c)));
        out.push({ name: c.name, rows: r.rows, oids: r.fields.map((f) => f.dataTypeID) });
      } catch (err) {
        out.push({ name: c.name, error: errorFields(err) });
      }
    }
    return out;
  },

  /** Every column type of the values table through the query builder: insert ... returning, then select. */
  async confBuilder(db, s, body) {
    const id = Number(body.id);
    const [inserted] = await db.insert(s.values).values(builderRow(id)).returning();
    const [selected] = await db.select().from(s.values).where(eq(s.values.id, id));
    return { inserted, selected };
  },

  async confRelational(db, s, body) {
    const base = Number(body.base);
    const inserted = await db
      .insert(s.parents)
      .values({ id: base, name: `p-${base}` })
      .returning();
    await db.insert(s.children).values([
      { id: base + 1, parentId: base, label: 'a' },
      { id: base + 2, parentId: base, label: 'b' },
    ]);
    const tree = await db.query.parents.findFirst({
      where: eq(s.parents.id, base),
      with: { children: { orderBy: (c, { asc }) => asc(c.id) } },
    });
    const res = await db.execute(sql`update ${s.children} set label = label || '!' where parent_id = ${base}`);
    return { inserted, tree, update: { command: res.command, rowCount: res.rowCount, rows: res.rows } };
  },

  /** Every error case through execute(): anypg's error fields, to compare with pg's. */
  async confErrors(db, _s, body) {
    const out: Array<{ name: string; error: unknown; isDatabaseError: boolean }> = [];
    for (const e of errorCases(body.t)) {
      const err = await db.execute(sql.raw(e.sql)).then(
        () => undefined,
        (x: unknown) => x,
      );
      out.push({
        name: e.name,
        error: errorFields(err),
        isDatabaseError: err instanceof DatabaseError,
      });
    }
    return out;
  },

  /**
   * Two serializable transactions that both read, then write the same row: one must fail. Both
   * reads happen before either write (two latches), since each db still has to connect first.
   */
  async confSerialization(db, _s, body, open) {
    const other = open(); // a second db: hyperdrive's pool is one connection per db
    try {
      const latch = () => {
        let release!: () => void;
        const done = new Promise<void>((r) => {
          release = r;
        });
        return { open: release, done };
      };
      const firstRead = latch();
      const secondRead = latch();
      const counter = `${body.t}_counter`;
      const first = db.transaction(
        async (tx) => {
          await tx.execute(sql.raw(`select n from ${counter} where id = 1`));
          firstRead.open();
          await secondRead.done;
          await tx.execute(sql.raw(`update ${counter} set n = n + 1 where id = 1`));
        },
        { isolationLevel: 'serializable' },
      );
      const second = other.transaction(
        async (tx) => {
          await firstRead.done;
          await tx.execute(sql.raw(`select n from ${counter} where id = 1`));
          secondRead.open();
          await tx.execute(sql.raw(`update ${counter} set n = n + 1 where id = 1`));
        },
        { isolationLevel: 'serializable' },
      );
      const results = await Promise.allSettled([first, second]);
      return results
        .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        .map((r) => ({ ...errorFields(r.reason), retryable: isRetryable(r.reason) }));
    } finally {
      await other.$close();
    }
  },
};
