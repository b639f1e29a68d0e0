// anypg next to @opentelemetry/instrumentation-pg (ADOT turns it on by default): each statement is
// traced and timed once, by anypg, and instrumentation-pg's parameter values never appear. Also the
// Node entry's default: with @opentelemetry/api installed and a provider registered, spans without
// any telemetry option.

// First: it patches pg as pg loads (a side-effect import, which import sorting leaves in place).
import './support/instrumentation-pg.js';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/node.js';
import { databaseUrl, uniqueName } from './support/db.js';
import { metricExporter, metricReader, spanExporter } from './support/instrumentation-pg.js';

const PG_SCOPE = '@opentelemetry/instrumentation-pg';

async function durationPoints(scope: string): Promise<number> {
  metricExporter.reset();
  await metricReader.forceFlush();
  const metric = metricExporter
    .getMetrics()
    .at(-1)
    ?.scopeMetrics.filter((s) => s.scope.name === scope)
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === 'db.client.operation.duration');
  return (metric?.dataPoints ?? []).reduce((n, p) => n + (p.value as { count: number }).count, 0);
}

afterAll(async () => {
  await metricReader.shutdown();
});

describe('with instrumentation-pg active', () => {
  it('instrumentation-pg does trace a plain pg client here (the control)', async () => {
    expect((pg.Client.prototype.query as unknown as { __wrapped?: boolean }).__wrapped).toBe(true);
    spanExporter.reset();
    const before = await durationPoints(PG_SCOPE);
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    await client.query('select $1::text as v', ['control-value']);
    await client.end();
    const spans = spanExporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === PG_SCOPE);
    expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(['pg.connect', 'pg.query:SELECT postgres']));
    // enhancedDatabaseReporting records the values: what anypg must keep out of its statements' traces.
    expect(JSON.stringify(spans.map((s) => s.attributes))).toContain('control-value');
    expect(await durationPoints(PG_SCOPE)).toBe(before + 1);
  });

  it("anypg's statements are traced and timed once, by anypg, and the parameter appears nowhere", async () => {
    const secret = uniqueName('param-value');
    const db = createDb({ url: databaseUrl(), env: {} }); // the Node entry finds the installed API itself
    const pgBefore = await durationPoints(PG_SCOPE);
    const anypgBefore = await durationPoints('anypg');
    spanExporter.reset();
    try {
      await db.execute(sql`select ${secret}::text as v`);
      await db.transaction(async (tx) => {
        await tx.execute(sql`select ${secret}::text as v`);
      });
    } finally {
      await db.$close();
    }
    const spans = spanExporter.getFinishedSpans();
    expect(spans.filter((s) => s.instrumentationScope.name === PG_SCOPE).map((s) => s.name)).toEqual([]);
    expect(spans.filter((s) => s.instrumentationScope.name === 'anypg').map((s) => s.name)).toEqual(
      expect.arrayContaining(['SELECT postgres', 'transaction', 'BEGIN postgres', 'COMMIT postgres']),
    );
    expect(JSON.stringify(spans.map((s) => ({ a: s.attributes, st: s.status, e: s.events })))).not.toContain(secret);
    // One duration per statement (two, plus BEGIN and COMMIT), from anypg; none from instrumentation-pg.
    expect(await durationPoints(PG_SCOPE)).toBe(pgBefore);
    expect(await durationPoints('anypg')).toBe(anypgBefore + 4);
  });

  it("telemetry: false leaves the statements to instrumentation-pg (the user's choice)", async () => {
    const db = createDb({ url: databaseUrl(), env: {}, telemetry: false });
    spanExporter.reset();
    try {
      await db.execute(sql`select 1`);
    } finally {
      await db.$close();
    }
    const scopes = new Set(spanExporter.getFinishedSpans().map((s) => s.instrumentationScope.name));
    expect([...scopes]).toEqual([PG_SCOPE]);
  });
});
