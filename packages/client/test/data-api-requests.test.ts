// What anypg asks the Data API for: column metadata (includeResultMetadata) and int8 as strings
// (resultSetOptions) only where the result needs them, as drizzle's aws-data-api driver does for
// query-builder selects. The unmodified RDSDataClient against the local endpoint, passed as
// dataApi.client and observed (not replaced): each ExecuteStatement's input is recorded.

import { type DataApiEndpoint, startDataApiEndpoint } from '@anypg/local';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { eq, sql } from 'drizzle-orm';
import { bigint, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, createDb } from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';

const name = uniqueName('da_req');
const items = pgTable(name, {
  id: integer('id').primaryKey(),
  label: text('label'),
  at: timestamp('at', { withTimezone: true }),
  big: bigint('big', { mode: 'bigint' }),
});

let endpoint: DataApiEndpoint;
let client: RDSDataClient;
let db: AnypgDatabase;
const sent: Record<string, unknown>[] = [];

beforeAll(async () => {
  await admin((c) =>
    c.query(`create table ${name} (id int primary key, label text, at timestamptz, big int8);
      insert into ${name} values (1, 'one', '2024-05-01 10:00:00+02', 9007199254740993)`),
  );
  endpoint = await startDataApiEndpoint({ upstream: databaseUrl() });
  client = new RDSDataClient(endpoint.clientConfig);
  const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
  const observed = {
    send(command: { constructor: { name: string }; input: Record<string, unknown> }, options?: unknown) {
      if (command.constructor.name === 'ExecuteStatementCommand') sent.push(command.input);
      return send(command, options);
    },
  };
  db = createDb({
    env: {},
    backend: 'data-api',
    dataApi: {
      resourceArn: endpoint.resourceArn,
      secretArn: endpoint.secretArn,
      database: endpoint.database,
      client: observed,
    },
  });
});

afterAll(async () => {
  await db?.$close();
  client?.destroy();
  await endpoint?.close();
  await admin((c) => c.query(`drop table if exists ${name}`));
});

/** What the last ExecuteStatement asked for besides its SQL. */
async function asked(run: () => Promise<unknown>) {
  sent.length = 0;
  const result = await run();
  expect(sent).toHaveLength(1);
  const input = sent[0]!;
  return { metadata: input.includeResultMetadata === true, options: input.resultSetOptions, result };
}

describe('Data API requests ask only for what the result needs', () => {
  it('a select of table columns: no metadata; int8 as string only because a bigint column is selected', async () => {
    const narrow = await asked(() =>
      db.select({ id: items.id, label: items.label, at: items.at }).from(items).where(eq(items.id, 1)),
    );
    expect(narrow).toMatchObject({ metadata: false, options: undefined });
    // Decoded from drizzle's column types alone: the timestamptz (UTC, no offset on the wire) is the right instant.
    expect(narrow.result).toEqual([{ id: 1, label: 'one', at: new Date('2024-05-01T08:00:00Z') }]);
    const wide = await asked(() => db.select().from(items).where(eq(items.id, 1)));
    expect(wide).toMatchObject({ metadata: false, options: { longReturnType: 'STRING' } });
    expect((wide.result as { big: bigint }[])[0]!.big).toBe(9007199254740993n);
  });

  it('an expression in the selection, whose type only the server knows: metadata', async () => {
    const r = await asked(() => db.select({ n: sql<number>`count(*)` }).from(items));
    expect(r.metadata).toBe(true);
  });

  it('execute(): metadata for statements that return rows (their column names), none for the others', async () => {
    const select = await asked(() => db.execute(sql`select id, label from ${items} where id = ${1}`));
    expect(select.metadata).toBe(true);
    expect((select.result as { rows: unknown[] }).rows).toEqual([{ id: 1, label: 'one' }]);
    const insert = await asked(() => db.insert(items).values({ id: 2, label: 'two' }));
    expect(insert).toMatchObject({ metadata: false, options: undefined });
    expect((insert.result as { rowCount: number }).rowCount).toBe(1);
    const returning = await asked(() => db.execute(sql`update ${items} set label = 'deux' where id = 2 returning id`));
    expect(returning.metadata).toBe(true);
    expect((returning.result as { rows: unknown[] }).rows).toEqual([{ id: 2 }]);
    const ddl = await asked(() => db.execute(sql`comment on table ${items} is 'bench'`));
    expect(ddl.metadata).toBe(false);
  });
});
