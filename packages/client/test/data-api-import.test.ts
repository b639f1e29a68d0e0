// The Node entry loads the AWS SDK only when a Data API call runs: not at import, not at createDb.
// Checked on the built package (turbo builds it before the tests) in a fresh Node process, against
// the local Data API endpoint.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type DataApiEndpoint, startDataApiEndpoint } from '@anypg/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';

const entry = new URL('../dist/node.js', import.meta.url).href;

// Runs in the child: records every module it resolves, at three moments.
const CHILD = `
import { registerHooks } from 'node:module';
const resolved = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); resolved.push(r.url); return r; } });
const aws = () => resolved.filter((u) => /\\/node_modules\\/(\\.pnpm\\/)?@aws-sdk[+/]/.test(u)).length;
const pg = () => resolved.filter((u) => /\\/node_modules\\/(\\.pnpm\\/)?(pg|pg-pool)[@/+]/.test(u)).length;
const [entry, settings] = process.argv.slice(1);
const { createDb } = await import(entry);
const afterImport = { aws: aws(), pg: pg(), drizzle: resolved.some((u) => u.includes('drizzle-orm')) };
const db = createDb({ env: {}, backend: 'data-api', dataApi: JSON.parse(settings) });
const afterCreate = { aws: aws(), pg: pg() };
const ping = await db.$ping();
const afterQuery = { aws: aws(), pg: pg() };
await db.$close();
process.stdout.write(JSON.stringify({ afterImport, afterCreate, afterQuery, ping }));
`;

let endpoint: DataApiEndpoint;
beforeAll(async () => {
  endpoint = await startDataApiEndpoint({ upstream: databaseUrl() });
});
afterAll(async () => {
  await endpoint?.close();
});

describe('the Node entry and the AWS SDK', () => {
  it('loads @aws-sdk/client-rds-data on the first Data API call, never before, and never pg', async () => {
    const settings = JSON.stringify({
      resourceArn: endpoint.resourceArn,
      secretArn: endpoint.secretArn,
      database: endpoint.database,
      endpoint: endpoint.url,
      region: endpoint.region,
      credentials: endpoint.clientConfig.credentials,
    });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', CHILD, entry, settings],
      { encoding: 'utf8' },
    );
    const report = JSON.parse(stdout);
    expect(report.afterImport).toEqual({ aws: 0, pg: 0, drizzle: true });
    expect(report.afterCreate).toEqual({ aws: 0, pg: 0 });
    expect(report.ping.ok).toBe(true);
    expect(report.afterQuery.aws).toBeGreaterThan(0);
    expect(report.afterQuery.pg).toBe(0);
  });
});
