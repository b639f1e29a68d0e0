// AWS Lambda on the RDS Data API, as a user builds it: `anypg drizzle-orm @aws-sdk/client-rds-data`
// installed from npm (no pg), the handler bundled by esbuild, configured only by the environment
// block that `anypg-local data-api` prints, run in @anypg/local's Lambda runtime.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startUntil } from '../src/exec.js';
import { bundleHandler } from '../src/lambda.js';
import { fixturesDir } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { importLocal, localCli } from '../src/stack.js';

let project: Project;
let bundle: string;
let printed: Record<string, string>;
let stopEndpoint: (() => Promise<void>) | undefined;

/** The KEY=value lines after "in the environment:" in what the CLI printed. */
function envBlock(output: string): Record<string, string> {
  const after = output.slice(output.indexOf('in the environment:'));
  const env: Record<string, string> = {};
  for (const line of after.split('\n').slice(1)) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
    else if (Object.keys(env).length > 0) break;
  }
  return env;
}

beforeAll(async () => {
  project = await createProject('lambda-data-api', {
    dependencies: {
      anypg: `file:${inject('tarballs').anypg}`,
      'drizzle-orm': DEPS['drizzle-orm'],
      '@aws-sdk/client-rds-data': DEPS['@aws-sdk/client-rds-data'],
    },
    copy: [[join(fixturesDir, 'lambda/src'), 'src']],
  });
  bundle = await bundleHandler(project.dir, 'esm');
  const cli = await startUntil(
    process.execPath,
    [localCli(inject('stackDir')), 'data-api', '--upstream', inject('databaseUrl')],
    'Ctrl-C stops it.',
    { cwd: project.dir },
  );
  stopEndpoint = cli.stop;
  printed = envBlock(cli.output);
});

afterAll(async () => {
  await stopEndpoint?.();
  project?.remove();
});

it('prints an environment block with the endpoint, the region, credentials and the ARNs', () => {
  expect(Object.keys(printed)).toEqual(
    expect.arrayContaining(['AWS_ENDPOINT_URL_RDS_DATA', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']),
  );
  expect(Object.keys(printed)).toEqual(
    expect.arrayContaining(['ANYPG_DATA_API_RESOURCE_ARN', 'ANYPG_DATA_API_SECRET_ARN', 'ANYPG_DATA_API_DATABASE']),
  );
});

it('runs on the Data API from that block alone, and reports pg (not installed) as a ConfigurationError', async () => {
  const { AWS_REGION: region, ...env } = printed;
  const local = await importLocal(inject('stackDir'));
  // Lambda sets AWS_REGION itself (a function's configuration may not): it is the runtime's region.
  await using lambda = await local.startLambda({
    handler: bundle,
    functionName: 'consumer-data-api',
    env,
    ...(region && { region }),
  });
  for (let i = 0; i < 3; i++) {
    const r = await lambda.invoke({});
    expect(r.error).toBeUndefined();
    expect(r.payload).toMatchObject({ answer: 42, backend: 'data-api', runtime: 'aws-lambda' });
  }
  const missing = await lambda.invoke({ backend: 'pg', calls: 6 });
  const { errors, circuit } = missing.payload as { errors: Array<Record<string, unknown>>; circuit: string };
  expect(errors).toHaveLength(6);
  for (const e of errors) {
    expect(e).toMatchObject({ name: 'ConfigurationError', code: 'CONFIGURATION', retryable: false });
    expect(e.message).toContain('needs the package pg, which is not installed: npm install pg');
  }
  // Six failed calls, and the circuit breaker never saw a connection failure.
  expect(circuit).toBe('closed');
});
