#!/usr/bin/env node
// The notes function running locally, as Lambda runs it, with no Docker and no AWS:
// PostgreSQL (DATABASE_URL's, or an embedded one), the migrations, the bundled handler in a
// container process that is frozen between invocations, and an API Gateway (HTTP API) in front.
//
//   node scripts/local.mjs [--port N] [--data-api]      (after `pnpm build`)
//   curl -s localhost:PORT/notes
//
// --data-api runs the same bundle on the RDS Data API path instead: a local Data API endpoint in
// front of the same PostgreSQL, and the function configured with ARNs instead of a URL.
//
// startLambdaDemo() is the same, for a script that drives the demo (the repo's `pnpm demo`).
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDataApiEndpoint, startGateway, startLambda, startPostgres } from '@anypg/local';

const HANDLER = fileURLToPath(new URL('../dist/handler.mjs', import.meta.url));
const MIGRATE = fileURLToPath(new URL('../dist/migrate.mjs', import.meta.url));

/**
 * Starts the function and its gateway on a database.
 *
 * @param {object} options
 * @param {string} options.databaseUrl  PostgreSQL URL (the upstream of the Data API endpoint with `dataApi`).
 * @param {boolean | { endpoint: string, resourceArn: string, secretArn: string, database?: string }} [options.dataApi]
 *   true: start a local Data API endpoint in front of databaseUrl; an object: use that endpoint.
 * @param {boolean} [options.migrate]  apply the migrations first (default true).
 * @param {number} [options.port]  the gateway's port (default: a free one).
 * @param {string} [options.functionName]  also the application_name of its database connection.
 * @param {Record<string, string>} [options.env]  more environment for the function.
 * @param {(line: string) => void} [options.onLog]  the function's log lines (default: dropped).
 * @returns {Promise<{ url: string, backend: 'pg' | 'data-api', functionName: string,
 *   lambda: import('@anypg/local').LocalLambda, close: () => Promise<void> }>}
 */
export async function startLambdaDemo(options) {
  const { databaseUrl } = options;
  if (typeof databaseUrl !== 'string') throw new Error('startLambdaDemo needs { databaseUrl }.');
  for (const file of [HANDLER, MIGRATE]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: build the app first (pnpm --filter @anypg/lambda-demo build).`);
    }
  }
  const cleanups = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    cleanups.length = 0;
  };
  try {
    if (options.migrate !== false) {
      const { migrate } = await import(MIGRATE);
      await migrate({ url: databaseUrl });
    }
    const functionName = options.functionName ?? (options.dataApi ? 'notes-data-api' : 'notes');
    let env;
    if (options.dataApi) {
      let api = options.dataApi;
      if (api === true) {
        const endpoint = await startDataApiEndpoint({ upstream: databaseUrl });
        cleanups.push(() => endpoint.close());
        api = endpoint;
      }
      env = {
        ANYPG_DATA_API_RESOURCE_ARN: api.resourceArn,
        ANYPG_DATA_API_SECRET_ARN: api.secretArn,
        ANYPG_DATA_API_DATABASE: api.database ?? new URL(databaseUrl).pathname.slice(1),
        // The AWS SDK reads its endpoint for the service from here; the keys are placeholders
        // the local endpoint accepts (it does not check signatures).
        AWS_ENDPOINT_URL_RDS_DATA: api.endpoint,
        AWS_ACCESS_KEY_ID: 'anypg-local',
        AWS_SECRET_ACCESS_KEY: 'anypg-local',
      };
    } else {
      env = { DATABASE_URL: databaseUrl };
    }
    const lambda = await startLambda({
      handler: `${HANDLER}#handler`,
      functionName,
      env: { ...env, ...options.env },
      timeoutMs: 10_000,
      memoryMb: 256,
      ...(options.onLog && { onLog: options.onLog }),
    });
    cleanups.push(() => lambda.close());
    const gateway = await startGateway({ lambda, ...(options.port && { port: options.port }) });
    cleanups.push(() => gateway.close());
    return { url: gateway.url, backend: options.dataApi ? 'data-api' : 'pg', functionName, lambda, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'data-api': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node scripts/local.mjs [--port N] [--data-api] [--quiet]\nUses DATABASE_URL if set.');
    return;
  }
  const port = values.port ? Number(values.port) : undefined;
  if (values.port && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new Error(`--port must be a port number (1-65535), got ${values.port}.`);
  }
  let databaseUrl = process.env.DATABASE_URL;
  let postgres;
  if (!databaseUrl) {
    process.stdout.write('starting PostgreSQL... ');
    postgres = await startPostgres();
    databaseUrl = postgres.url;
    console.log(`on port ${postgres.port}`);
  }
  let demo;
  const stop = async () => {
    await demo?.close();
    await postgres?.stop();
  };
  try {
    process.stdout.write('migrating and starting the function... ');
    demo = await startLambdaDemo({
      databaseUrl,
      dataApi: values['data-api'],
      port,
      onLog: values.quiet ? undefined : (line) => console.log(`  | ${line}`),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  console.log(`ready (${demo.backend})`);
  console.log(`\nnotes API: ${demo.url}/notes`);
  console.log(`  curl -s ${demo.url}/notes`);
  console.log(
    `  curl -s -X POST ${demo.url}/notes -H 'content-type: application/json' -d '{"title":"hello","body":"from Lambda"}'`,
  );
  console.log('\nCtrl-C stops everything.');
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log('\nstopping...');
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

function isMain() {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((err) => {
    console.error(`\nlambda-demo: ${err?.message ?? err}`);
    process.exit(1);
  });
}
