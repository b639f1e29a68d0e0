// pg inside workerd at its round-trip floor, on a Hyperdrive binding whose bytes pass a counting
// proxy in Node (HYPERDRIVE_COUNTED, see vitest.workers.config.ts). Counts, never times.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddl, dropDdl } from './schema.js';
import { admin, call, unique } from './support.js';

const t = unique('wkrt');

beforeAll(async () => {
  await admin(ddl(t));
});
afterAll(async () => {
  await admin(dropDdl(t));
});

describe('hyperdrive round trips inside workerd', () => {
  it('a batch of 5 is one round trip; a transaction of 3 dependent statements is 4', async () => {
    const name = unique('rt');
    const { status, body } = await call('hyperdrive', 'roundTrips', { t, app: unique('anypg_wk_rt'), name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.batchRoundTrips).toBe(1);
    expect(body.batch).toBe(1);
    expect(body.transaction).toBe(4);
    expect(body.answersInOrder).toBe(true);
    // Hyperdrive pools in transaction mode: concurrent queries are not pipelined unless asked for.
    expect(body.concurrent).toBe(100);
    expect(body.opened).toBe(1);
    const names = await admin<{ name: string }>(`select name from ${t}_authors where name like $1`, [`${name}-%`]);
    expect(names).toHaveLength(4);
  });

  it('with pipeline: true, 100 concurrent queries share the connection in a few round trips', async () => {
    const name = unique('rtp');
    const { status, body } = await call('hyperdrive', 'roundTrips', {
      t,
      app: unique('anypg_wk_rtp'),
      name,
      pipeline: true,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.answersInOrder).toBe(true);
    expect(body.batch).toBe(1);
    expect(body.transaction).toBe(4);
    expect(body.concurrent).toBeLessThanOrEqual(5);
    console.log(`workerd, pipeline: true: 100 concurrent queries in ${body.concurrent} round trip(s)`);
  });
});
