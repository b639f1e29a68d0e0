// A db created at a Worker's real global scope. The workerd pool of vitest evaluates the test
// Worker inside a request, so global scope's rules (no I/O; a Hyperdrive binding's properties
// throw) are checked here instead, on Workers bundled by wrangler as a deploy would bundle them:
//
//   test/workers/global/module-db.js               createDb at global scope: served by wrangler's
//                                                  dev server (`unstable_startWorker`, what
//                                                  `wrangler dev` runs), many requests
//   test/workers/global/top-level-query.js         a query at global scope: a ConfigurationError
//   test/workers/global/binding-at-global-scope.js the control: what workerd refuses there
//   test/workers/global/load.js                    1000 sequential and 100 concurrent requests on a
//                                                  global-scope db, Hyperdrive and neon-http, each
//                                                  with a statement, a transaction and a batch
//
// The two that must not start run through the `wrangler dev` command, which prints workerd's
// startup error and exits 1 (wrangler's dev server API reports a failed start only as an unhandled
// rejection). Runs on the built package (the Workers import `anypg`; turbo builds it first).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startNeonEndpoint } from '@anypg/local';
import { budget, until } from '@anypg/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { admin, backendsNamed, databaseUrl } from './support/db.js';

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const globalDir = join(pkgDir, 'test/workers/global');
const COMPATIBILITY_DATE = '2026-11-01';
const HYPERDRIVE_ID = '00000000000000000000000000000000';

const cleanups: (() => unknown)[] = [];

afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Serves a Worker of test/workers/global/ with wrangler's dev server. */
async function serve(file: string, app: string, vars: Record<string, unknown> = {}): Promise<string> {
  process.env.WRANGLER_SEND_METRICS ??= 'false';
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
  const { unstable_startWorker } = await import('wrangler');
  const worker = await unstable_startWorker({
    name: 'anypg-global-scope',
    entrypoint: join(globalDir, file),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_compat'],
    bindings: {
      HYPERDRIVE: { type: 'hyperdrive', id: HYPERDRIVE_ID, localConnectionString: databaseUrl() },
      APP: { type: 'plain_text', value: app },
      ...Object.fromEntries(
        Object.entries(vars).map(([k, v]) =>
          typeof v === 'string' ? [k, { type: 'plain_text', value: v }] : [k, { type: 'json', value: v }],
        ),
      ),
    },
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, watch: false, logLevel: 'none' },
  });
  cleanups.push(() => worker.dispose());
  await worker.ready;
  return (await worker.url).toString();
}

/**
 * Starts a Worker of test/workers/global/ with the `wrangler dev` command, as a user would, and
 * returns what it printed when it exited (a Worker that cannot start makes it exit with 1).
 */
async function devFailure(file: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'anypg-global-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'wrangler.json');
  writeFileSync(
    config,
    JSON.stringify({
      name: 'anypg-global-scope',
      main: join(globalDir, file),
      compatibility_date: COMPATIBILITY_DATE,
      compatibility_flags: ['nodejs_compat'],
      hyperdrive: [{ binding: 'HYPERDRIVE', id: HYPERDRIVE_ID, localConnectionString: databaseUrl() }],
    }),
  );
  const args = ['dev', '-c', config, '--ip', '127.0.0.1', '--port', '0', '--inspector-port', '0'];
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' };
  try {
    // A Worker that starts would keep `wrangler dev` running: the timeout ends it (and the test fails).
    const { stdout, stderr } = await run(join(pkgDir, 'node_modules/.bin/wrangler'), args, {
      cwd: dir,
      env,
      timeout: budget(150_000),
    });
    return `exited 0: ${stdout}${stderr}`;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return `exited ${String(e.code)}: ${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

describe('a db created at global scope, under wrangler dev', () => {
  it(
    'starts, answers every request on a connection of its own, and closes each one',
    async () => {
      const app = `anypg_global_${Math.random().toString(36).slice(2, 8)}`;
      const url = await serve('module-db.js', app);
      const pids = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const res = await fetch(url);
        const body = (await res.json()) as { pid: number; backend: string; opened: number };
        expect(res.status, JSON.stringify(body)).toBe(200);
        expect(body.backend).toBe('hyperdrive');
        expect(body.opened).toBe(i + 1); // one connection per request
        pids.add(body.pid);
      }
      expect(pids.size).toBe(20);
      // Nobody closes the db: anypg closes each request's connection after it, in its waitUntil.
      await until('no session of the app open', async () => (await backendsNamed(app)).length === 0);
    },
    budget(180_000),
  );

  it(
    'a query at global scope stops the start with a ConfigurationError that says where to run it',
    async () => {
      const out = await devFailure('top-level-query.js');
      expect(out).toMatch(/^exited 1:/);
      expect(out).toMatch(/ConfigurationError: A query ran at the Worker's global scope.*inside fetch\(\)/);
    },
    budget(180_000),
  );

  it(
    "the control: reading the binding's properties at global scope is what workerd refuses",
    async () => {
      const out = await devFailure('binding-at-global-scope.js');
      expect(out).toMatch(/^exited 1:/);
      expect(out).toMatch(/Disallowed operation called within global scope/);
    },
    budget(180_000),
  );
});

describe('the load, on a global-scope db under wrangler dev', () => {
  const SEQUENTIAL = 1000;
  const CONCURRENT = 100;
  const table = `ws_load_${Math.random().toString(36).slice(2, 8)}`;
  const app = `anypg_wsload_${Math.random().toString(36).slice(2, 8)}`;
  let url: string;

  it.each(['hyperdrive', 'neon-http'])(
    `%s: ${SEQUENTIAL} sequential and ${CONCURRENT} concurrent requests, each with a statement, a transaction and a batch`,
    async (backend) => {
      if (!url) {
        const neon = await startNeonEndpoint({ upstream: databaseUrl(), limits: { idleTimeoutMs: 500 } });
        cleanups.push(() => neon.close());
        await admin((c) => c.query(`create table ${table} (id serial primary key, name text not null)`));
        cleanups.push(() => admin((c) => c.query(`drop table if exists ${table}`)));
        url = (
          await serve('load.js', app, { TABLE: table, NEON_URL: databaseUrl(), NEON_CONFIG: { ...neon.neonConfig } })
        ).replace(/\/$/, '');
      }
      const moduleApp = `${app}_module_${backend.replace('-', '_')}`;
      type Answer = { status: number; ok: boolean; sessions?: string[]; error?: string };
      let n = 0;
      const one = async (): Promise<Answer> => {
        const res = await fetch(`${url}/${backend}/module`, { method: 'POST', body: JSON.stringify({ n: n++ }) });
        const body = (await res.json()) as { ok: boolean; sessions?: string[]; error?: string };
        return { status: res.status, ...body };
      };
      const answers: Answer[] = [];
      for (let i = 0; i < SEQUENTIAL; i++) answers.push(await one());
      answers.push(...(await Promise.all(Array.from({ length: CONCURRENT }, one))));

      expect(answers.filter((a) => a.status !== 200 || !a.ok).slice(0, 3)).toEqual([]);
      // Hyperdrive: each request on one session of its own; neon-http: each transaction on its own.
      const own = (a: Answer) => (backend === 'hyperdrive' ? a.sessions! : a.sessions!.slice(1));
      if (backend === 'hyperdrive') expect(answers.filter((a) => new Set(a.sessions).size !== 1)).toEqual([]);
      const sessions = answers.flatMap((a) => [...new Set(own(a))]);
      expect(new Set(sessions).size).toBe(sessions.length); // no session served two requests
      // Nobody closes the module-scope db: every connection closes after its request anyway.
      await until('no session of the module-scope db open', async () => (await backendsNamed(moduleApp)).length === 0, {
        timeoutMs: 30_000,
      });
    },
    budget(600_000),
  );
});
