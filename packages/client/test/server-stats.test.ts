// db.$serverStats(): this application's sessions as PostgreSQL sees them, counted by state, and a
// plain answer on the backends where the sessions are a service's, not this client's.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDb } from '../src/node.js';
import { databaseUrl, uniqueName } from './support/db.js';

describe('$serverStats on pg', () => {
  it('counts the sessions of this application_name by state, a transaction left open included', async () => {
    const app = uniqueName('stats');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app, telemetry: false });
    // A second client of the same application (another Lambda container, say) holds a transaction open.
    const other = createDb({ url: databaseUrl(), env: {}, applicationName: app, telemetry: false });
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const tx = other.transaction(async (t) => {
      await t.execute(sql`select 1`);
      entered();
      await holding;
    });
    try {
      await inside;
      const stats = await db.$serverStats();
      expect(stats).toMatchObject({
        available: true,
        backend: 'pg',
        applicationName: app,
        sessions: 2,
        active: 1, // the session answering this call
        idle: 0,
        idleInTransaction: 1,
        waiting: 0,
      });
      expect(stats.available && stats.oldestTransactionMs).toBeGreaterThanOrEqual(0);
    } finally {
      release();
      await tx;
      await Promise.all([db.$close(), other.$close()]);
    }
  });
});

describe("$serverStats where the sessions are not this client's", () => {
  it.each([
    ['neon-http', { backend: 'neon-http' as const, neon: { fetchEndpoint: 'http://127.0.0.1:9/sql' } }],
    [
      'data-api',
      {
        backend: 'data-api' as const,
        dataApi: {
          resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c',
          secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:s',
          endpoint: 'http://127.0.0.1:9',
          region: 'us-east-1',
        },
      },
    ],
  ])('%s says so, without a call', async (backend, options) => {
    const db = createDb({ url: databaseUrl(), env: {}, telemetry: false, ...options });
    const stats = await db.$serverStats();
    expect(stats).toMatchObject({ available: false, backend });
    expect(!stats.available && stats.reason).toMatch(/application_name|session/);
    await db.$close();
  });
});
