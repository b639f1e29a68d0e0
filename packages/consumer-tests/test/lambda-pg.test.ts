// AWS Lambda on pg, as a user builds it: only `anypg drizzle-orm pg` installed from npm (anypg from
// its tarball), the handler bundled by esbuild into one ESM file and one CommonJS file, each run in
// @anypg/local's Lambda runtime (a real child process frozen with SIGSTOP between invocations).

import { join } from 'node:path';
import { until } from '@anypg/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bundleHandler, sessionsNamed } from '../src/lambda.js';
import { fixturesDir } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { importLocal } from '../src/stack.js';

let project: Project;
const bundles: Record<string, string> = {};

beforeAll(async () => {
  project = await createProject('lambda-pg', {
    dependencies: { anypg: `file:${inject('tarballs').anypg}`, 'drizzle-orm': DEPS['drizzle-orm'], pg: DEPS.pg },
    copy: [[join(fixturesDir, 'lambda/src'), 'src']],
  });
  // Both bundles build although neither the Neon driver nor the AWS SDK is installed.
  bundles.esm = await bundleHandler(project.dir, 'esm');
  bundles.cjs = await bundleHandler(project.dir, 'cjs');
});

afterAll(() => project?.remove());

interface Answer {
  answer: number;
  pid: number;
  backend: string;
  runtime: string;
}

describe.each(['esm', 'cjs'])('a Lambda on pg, %s bundle', (format) => {
  async function start(functionName: string, url: string) {
    const local = await importLocal(inject('stackDir'));
    return local.startLambda({ handler: bundles[format]!, functionName, env: { DATABASE_URL: url } });
  }

  it('serves warm invocations on one connection, detected as aws-lambda on pg', async () => {
    const name = `consumer-warm-${format}`;
    await using lambda = await start(name, inject('databaseUrl'));
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await lambda.invoke({});
      expect(r.error).toBeUndefined();
      answers.push(r.payload as Answer);
    }
    expect(answers.map((a) => a.answer)).toEqual([42, 42, 42, 42, 42]);
    expect(answers[0]).toMatchObject({ backend: 'pg', runtime: 'aws-lambda' });
    expect(new Set(answers.map((a) => a.pid)).size).toBe(1);
    expect(await sessionsNamed(inject('databaseUrl'), name)).toEqual([answers[0]!.pid]);
    expect(lambda.coldStarts).toBe(1);
    // The runtime freezes once it asks for the next event, just after the answer: wait for it.
    await until('the container to freeze after the last invocation', () => lambda.frozen);
    expect(lambda.freezes).toBeGreaterThanOrEqual(5);
  });

  it('answers after a freeze longer than idle_session_timeout, on a new connection', async () => {
    const name = `consumer-freeze-${format}`;
    const url = new URL(inject('databaseUrl'));
    // The server ends a session idle for 1 s; anypg sends startup options from the URL.
    url.searchParams.set('options', '-c idle_session_timeout=1000');
    await using lambda = await start(name, url.toString());
    const first = (await lambda.invoke({})).payload as Answer;
    expect(first.answer).toBe(42);
    // The container is frozen now. Wait for what the freeze stands for: the server dropping the
    // idle connection (its session gone from pg_stat_activity), not for a time.
    await until('the container to freeze', () => lambda.frozen);
    const thaws = lambda.thaws;
    await until('the server to end the idle session', async () => {
      return !(await sessionsNamed(inject('databaseUrl'), name)).includes(first.pid);
    });
    // Still frozen: nothing ran in the container while the server dropped its connection.
    expect(lambda.frozen).toBe(true);
    expect(lambda.thaws).toBe(thaws);
    const after = await lambda.invoke({});
    expect(after.error).toBeUndefined();
    const second = after.payload as Answer;
    expect(second.answer).toBe(42);
    expect(second.pid).not.toBe(first.pid);
    expect(lambda.coldStarts).toBe(1);
  });

  it('reports a backend whose driver is not installed as a ConfigurationError, not retryable, circuit closed', async () => {
    await using lambda = await start(`consumer-missing-${format}`, inject('databaseUrl'));
    for (const [backend, pkg] of [
      ['neon-http', '@neondatabase/serverless'],
      ['data-api', '@aws-sdk/client-rds-data'],
    ] as const) {
      const r = await lambda.invoke({ backend, calls: 6 });
      expect(r.error).toBeUndefined();
      const { errors } = r.payload as { errors: Array<Record<string, unknown>> };
      expect(errors).toHaveLength(6);
      for (const e of errors) {
        expect(e).toMatchObject({ name: 'ConfigurationError', code: 'CONFIGURATION', retryable: false });
        expect(e.message).toContain(`needs the package ${pkg}, which is not installed: npm install ${pkg}`);
      }
    }
  });
});
