// The tests that run inside workerd (test/workers/*.test.ts), with @cloudflare/vitest-plugin: the
// test files and the test Worker (test/workers/app.ts) run in one workerd isolate under miniflare.
// PostgreSQL and the Neon endpoint run in Node (test/workers/global-setup.ts); their addresses
// reach the Worker as bindings. `pnpm test` runs this after the Node tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { budget } from '@anypg/testkit';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
import { startProxy, type TestProxy } from './test/support/proxy.js';
import { errorFields, tag } from './test/workers/tagged.js';

// pg inside workerd: Vite would pick pg-protocol's ESM build (which pg's CommonJS cannot require)
// and pg-cloudflare's `default` condition (an empty module); point both at the CommonJS builds.
// workerd's clock is always UTC, and pg parses date and timestamp (without time zone) in the local
// zone: the Node-side oracle has to be in the same zone as the Worker it is compared with.
process.env.TZ = 'UTC';

const require = createRequire(import.meta.url);
const fromPg = createRequire(require.resolve('pg'));
const pgProtocol = fromPg.resolve('pg-protocol/dist/index.js');
const pgCloudflare = join(dirname(fromPg.resolve('pg-cloudflare/package.json')), 'dist/index.js');

// pg's socket in workerd rejects a promise nobody awaits when a client without an 'error' listener
// is closed. One test provokes that on purpose (the control for "anypg leaves none") and says so
// first through ADMIN; exactly that many such rejections are let through, any other fails the run.
const BARE_PG_REJECTION = /This socket has been closed|Stream was cancelled/;
let expectedBarePgRejections = 0;

/**
 * A TCP proxy that counts round trips, between miniflare's local Hyperdrive and PostgreSQL: the
 * HYPERDRIVE_COUNTED binding goes through it. One for the run, started with the first config.
 */
let counting: Promise<TestProxy> | undefined;

/** ADMIN: a service binding served by Node, so tests can see what the server sees, not what the Worker says. */
function adminService(url: string, proxy: TestProxy) {
  return async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === '/round-trips') {
      const trips = proxy.roundTrips();
      proxy.resetCounts();
      return Response.json({ rows: [{ trips }] });
    }
    if (new URL(request.url).pathname === '/expect-bare-pg-rejection') {
      expectedBarePgRejections++;
      return Response.json({ rows: [] });
    }
    if (new URL(request.url).pathname === '/oracle') return oracle(url, request);
    const { sql, params } = (await request.json()) as { sql: string; params?: unknown[] };
    const client = new pg.Client({ connectionString: url, application_name: 'anypg-workers-admin' });
    try {
      await client.connect();
      // Several statements in one string (DDL) give one result each: answer with the last.
      const r = (await client.query(sql, params)) as pg.QueryResult | pg.QueryResult[];
      return Response.json({ rows: (Array.isArray(r) ? r.at(-1)! : r).rows });
    } catch (err) {
      return Response.json({ error: (err as Error).message }, { status: 500 });
    } finally {
      await client.end().catch(() => undefined);
    }
  };
}

/**
 * The conformance oracle: each statement through drizzle's node-postgres driver in Node (what
 * anypg's execute() gives by default), answered in the same tagged JSON the Worker uses (rows and
 * column type OIDs, or the error's fields: drizzle wraps pg's error in DrizzleQueryError's cause).
 */
async function oracle(url: string, request: Request): Promise<Response> {
  const { statements } = (await request.json()) as { statements: string[] };
  const client = new pg.Client({ connectionString: url, application_name: 'anypg-workers-oracle' });
  await client.connect();
  try {
    const db = drizzle(client);
    const out = [];
    for (const text of statements) {
      try {
        const r = (await db.execute(sql.raw(text))) as unknown as pg.QueryResult;
        out.push({ rows: tag(r.rows), oids: r.fields.map((f) => f.dataTypeID) });
      } catch (err) {
        out.push({ error: errorFields((err as { cause?: unknown }).cause ?? err) });
      }
    }
    return Response.json(out);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Each OpenTelemetry package the SDK pulls in, aliased to its CommonJS entry (resolved from its dependent). */
function otelCommonJs(): Record<string, string> {
  const aliases: Record<string, string> = {};
  const visit = (name: string, from: NodeJS.Require) => {
    if (aliases[name]) return;
    const entry = from.resolve(name);
    aliases[name] = entry;
    const marker = `node_modules/${name}/`;
    const pkgDir = entry.slice(0, entry.lastIndexOf(marker) + marker.length);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      if (dep.startsWith('@opentelemetry/')) visit(dep, createRequire(join(pkgDir, 'package.json')));
    }
  };
  for (const name of ['@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/context-async-hooks']) {
    visit(name, require);
  }
  return aliases;
}

// Time limits bound a failure, they are not targets: a busy machine gets more (see @anypg/testkit).
export default defineConfig({
  plugins: [
    cloudflareTest(async ({ inject }) => {
      const databaseUrl = inject('databaseUrl');
      const server = new URL(databaseUrl);
      counting ??= startProxy(Number(server.port || 5432), server.hostname, { unref: true });
      const proxy = await counting;
      const counted = new URL(databaseUrl);
      counted.hostname = '127.0.0.1';
      counted.port = String(proxy.port);
      return {
        wrangler: { configPath: './test/workers/wrangler.jsonc' },
        miniflare: {
          // HYPERDRIVE stays the first binding: detection picks the first one in env.
          hyperdrives: {
            HYPERDRIVE: databaseUrl,
            HYPERDRIVE_UNCACHED: databaseUrl,
            HYPERDRIVE_COUNTED: counted.toString(),
          },
          bindings: { NEON_URL: databaseUrl, NEON_CONFIG: { ...inject('neonConfig') } },
          serviceBindings: { ADMIN: adminService(databaseUrl, proxy) },
        },
      };
    }),
  ],
  resolve: {
    alias: {
      'pg-protocol': pgProtocol,
      'pg-cloudflare': pgCloudflare,
      // The telemetry test's OpenTelemetry packages: their ESM builds import extensionless paths,
      // which the workers pool cannot resolve; their CommonJS builds load (require() finds the rest).
      ...otelCommonJs(),
    },
  },
  test: {
    include: ['test/workers/**/*.test.ts'],
    globalSetup: ['./test/workers/global-setup.ts'],
    // One file at a time: the isolation test counts the server's sessions, which every file shares.
    fileParallelism: false,
    testTimeout: budget(60_000),
    onUnhandledError(error) {
      if (expectedBarePgRejections > 0 && BARE_PG_REJECTION.test(error.message ?? '')) {
        expectedBarePgRejections--;
        return false;
      }
    },
    hookTimeout: budget(60_000),
  },
});
