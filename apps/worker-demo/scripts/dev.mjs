// `pnpm --filter @anypg/worker-demo dev`: the worker in workerd (wrangler's dev server) with the
// local stand-ins behind it: an embedded PostgreSQL (or DATABASE_URL's server), the notes table,
// and @anypg/local's Neon endpoint for the neon-http path. Ctrl-C stops everything.
//
//   PORT=8787 (default)   where the worker listens
//   DATABASE_URL=...      use this PostgreSQL instead of starting one (it needs a password)
import { startNeonEndpoint, startPostgres } from '@anypg/local';
import { applyMigrations, assertPortFree, startWorkerDemo } from './local.mjs';

const port = Number(process.env.PORT ?? 8787);
const step = (what) => process.stdout.write(`${what}... `);
const done = (extra = '') => process.stdout.write(`done${extra}\n`);

const stops = [];
async function stopAll() {
  for (const stop of stops.reverse()) await stop().catch((err) => console.error(err.message));
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping...');
    await stopAll();
    console.log('Stopped.');
    process.exit(0);
  });
}

try {
  // Before anything starts: a taken port should not cost a PostgreSQL start and stop.
  await assertPortFree(port);
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    step('Starting PostgreSQL');
    const pg = await startPostgres();
    stops.push(() => pg.stop());
    databaseUrl = pg.url;
    done(` (port ${pg.port})`);
  }
  step('Creating the notes table');
  await applyMigrations(databaseUrl);
  done();
  step('Starting the Neon endpoint');
  const neon = await startNeonEndpoint({ upstream: databaseUrl });
  stops.push(() => neon.close());
  done(` (${neon.httpUrl})`);
  step('Starting the worker in workerd');
  const demo = await startWorkerDemo({ databaseUrl, neon: neon.neonConfig, port });
  stops.push(() => demo.close());
  done();
  console.log(`
worker-demo is running at ${demo.url}

  curl ${demo.url}/health
  curl -X POST ${demo.url}/notes -H 'content-type: application/json' -d '{"title":"Hello","body":"from workerd"}'
  curl '${demo.url}/notes?limit=10'
  curl '${demo.url}/notes?backend=neon-http'      # the neon-http path instead of Hyperdrive

Ctrl-C stops the worker, the Neon endpoint and PostgreSQL.`);
} catch (err) {
  console.error(`\nworker-demo dev failed: ${err?.message ?? err}`);
  await stopAll();
  process.exit(1);
}
