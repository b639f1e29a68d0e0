// A frozen container does not service its sockets: a PostgreSQL session closed by the server
// during the freeze goes unnoticed until the thaw, the situation behind "Connection terminated
// unexpectedly" after a Lambda's idle period. Real PostgreSQL, real pg client in the container.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type LocalLambda, startLambda } from '../src/index.js';

const HANDLER = fileURLToPath(new URL('./fixtures/lambda/pg-idle.mjs', import.meta.url));
const IDLE_MS = 300;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

async function backendAlive(pid: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: inject('databaseUrl') });
  await c.connect();
  try {
    const { rows } = await c.query('select count(*)::int as n from pg_stat_activity where pid = $1', [pid]);
    return rows[0].n === 1;
  } finally {
    await c.end();
  }
}

describe('a frozen container and a PostgreSQL session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anypg-lambda-pg-'));
  const lambdas: LocalLambda[] = [];
  afterAll(async () => {
    await Promise.all(lambdas.map((l) => l.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (name: string, freeze: boolean) => {
    const marker = join(dir, name);
    const lambda = await startLambda({
      handler: HANDLER,
      freeze,
      env: { DATABASE_URL: inject('databaseUrl'), IDLE_MS: String(IDLE_MS), MARKER: marker },
    });
    lambdas.push(lambda);
    return { lambda, marker };
  };

  it('notices the server closing the session only after the thaw', async () => {
    const { lambda, marker } = await start('frozen', true);
    const first = await lambda.invoke({});
    const pid = (first.payload as { pid: number }).pid;
    expect(pid).toBeTypeOf('number');
    await lambda.freezeFor(IDLE_MS * 4);
    // The server ended the session during the freeze...
    await until('the server to end the idle session', async () => !(await backendAlive(pid)));
    // ...and the frozen client has not read a byte of it.
    expect(existsSync(marker)).toBe(false);
    await lambda.invoke({});
    await until('the client to notice after the thaw', () => existsSync(marker));
    expect(readFileSync(marker, 'utf8')).toMatch(/^(error: .*terminat|end)/);
  });

  it('without freezing, the client notices while idle (the control)', async () => {
    const { lambda, marker } = await start('awake', false);
    const first = await lambda.invoke({});
    const pid = (first.payload as { pid: number }).pid;
    await until('the server to end the idle session', async () => !(await backendAlive(pid)));
    await until('the idle client to notice, with no invocation', () => existsSync(marker));
    expect(lambda.invocations).toBe(1);
  });
});
