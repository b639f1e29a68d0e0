// Run the worker-demo locally from Node, for the repo-wide demo and `pnpm dev`.
//
//   import { applyMigrations, startWorkerDemo } from './apps/worker-demo/scripts/local.mjs';
//   await applyMigrations(databaseUrl);
//   const demo = await startWorkerDemo({ databaseUrl, neon: endpoint.neonConfig });
//   await fetch(`${demo.url}/notes?backend=neon-http`);
//   await demo.close();
//
// The worker runs in workerd through wrangler's own dev server (unstable_startWorker), with the
// wrangler.jsonc `local` environment: the Hyperdrive binding becomes a pipe to `databaseUrl` (as
// `wrangler dev` does it; no pooling or caching locally) and the neon-http path goes to the local
// Neon endpoint. Nothing here needs the network.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const APP_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** Applies migrations/*.sql in name order (each file is idempotent). */
export async function applyMigrations(databaseUrl) {
  const dir = join(APP_DIR, 'migrations');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    // No parameters: the simple protocol, so a file may hold several statements.
    for (const file of files) await client.query(readFileSync(join(dir, file), 'utf8'));
  } finally {
    await client.end();
  }
}

/**
 * Starts the worker locally. `databaseUrl` is what the Hyperdrive binding and the neon-http path log
 * into (it needs a password: miniflare refuses a Hyperdrive connection string without one); `neon`
 * is a local Neon endpoint's settings (`startNeonEndpoint(...).neonConfig`), or omitted for the
 * Hyperdrive path only. Returns the URL it listens on and a close().
 */
export async function startWorkerDemo({
  databaseUrl,
  neon,
  port = 0,
  host = '127.0.0.1',
  backend = '',
  tracing = false,
} = {}) {
  if (typeof databaseUrl !== 'string' || databaseUrl === '') {
    throw new Error('startWorkerDemo needs { databaseUrl }: postgresql://user:password@host:port/database');
  }
  let parsed;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    // Never echo the string: it holds a password.
    throw new Error(
      'startWorkerDemo: databaseUrl is not a valid URL; give postgresql://user:password@host:port/database',
    );
  }
  if (!parsed.password) {
    throw new Error(
      'startWorkerDemo: the databaseUrl has no password; local Hyperdrive (miniflare) needs one. Set a password for the role and put it in the URL.',
    );
  }
  if (port !== 0) await assertPortFree(port, host);
  // Offline: no usage metrics, and no download of the `Request.cf` placeholder (wrangler would try
  // workers.cloudflare.com, fail, and fall back to a built-in one after a warning).
  process.env.WRANGLER_SEND_METRICS ??= 'false';
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
  const listenersBefore = new Map(SIGNALS.map((sig) => [sig, new Set(process.listeners(sig))]));
  const { unstable_startWorker } = await import('wrangler');
  const text = (value) => ({ type: 'plain_text', value });
  const worker = await unstable_startWorker({
    config: join(APP_DIR, 'wrangler.jsonc'),
    env: 'local',
    // tracing: the entry with OpenTelemetry, whose answers carry their spans (x-anypg-trace).
    ...(tracing && { entrypoint: join(APP_DIR, 'src/traced.ts') }),
    bindings: {
      HYPERDRIVE: {
        type: 'hyperdrive',
        id: '00000000000000000000000000000000',
        localConnectionString: databaseUrl,
      },
      DATABASE_URL: text(databaseUrl),
      BACKEND: text(backend),
      NEON_FETCH_ENDPOINT: text(neon?.fetchEndpoint ?? ''),
      NEON_WS_PROXY: text(neon?.wsProxy ?? ''),
    },
    dev: {
      server: { hostname: host, port },
      inspector: false,
      watch: false,
      logLevel: process.env.WORKER_DEMO_LOG ?? 'error',
    },
  });
  await worker.ready;
  const restoreSignals = deferSignalHandlers(listenersBefore);
  const url = (await worker.url).toString().replace(/\/$/, '');
  let closing;
  return {
    url,
    close: () => {
      closing ??= worker.dispose().finally(restoreSignals);
      return closing;
    },
  };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Miniflare (inside wrangler) answers SIGINT, SIGTERM and SIGHUP by killing workerd and exiting the
 * whole process at once (exit code 130/143/129), so a caller's own Ctrl-C handler never gets to
 * stop its other servers. The handlers added while the worker started run only when nobody else
 * listens for the signal (then the process behaves as before); a caller with its own handler stops
 * things itself, calling close(). Miniflare's 'exit' hook stays: workerd never outlives the process.
 */
function deferSignalHandlers(before) {
  const wrappers = [];
  for (const sig of SIGNALS) {
    const added = process.listeners(sig).filter((l) => !before.get(sig).has(l));
    if (added.length === 0) continue;
    for (const l of added) process.removeListener(sig, l);
    const wrapper = (...args) => {
      if (process.listenerCount(sig) > 1) return;
      for (const l of added) l(...args);
    };
    process.on(sig, wrapper);
    wrappers.push([sig, wrapper]);
  }
  return () => {
    for (const [sig, wrapper] of wrappers) process.removeListener(sig, wrapper);
  };
}

/** Rejects with a clear message when something listens on host:port already. */
export function assertPortFree(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `worker-demo: port ${port} on ${host} is already in use. Stop what runs there, or pick another port (PORT=...).`,
            )
          : err,
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
