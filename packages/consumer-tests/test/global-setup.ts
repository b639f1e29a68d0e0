// Once per run: build if stale, pack both packages, install the runtimes (cached), install
// @anypg/local from its tarball and start the local stack from there: one PostgreSQL and one Neon
// endpoint for every consumer test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFreshBuild } from '@anypg/testkit';
import type { TestProject } from 'vitest/node';
import { packAll, type Tarballs } from '../src/pack.js';
import { clientDir, localDir } from '../src/paths.js';
import { createProject } from '../src/project.js';
import { ensureRuntimes, type Runtimes } from '../src/runtimes.js';
import { importLocal } from '../src/stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    neonConfig: {
      fetchEndpoint: string;
      wsProxy: string;
      useSecureWebSocket: false;
      pipelineConnect: 'password' | false;
    };
    tarballs: Tarballs;
    stackDir: string;
    runtimes: Runtimes;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[consumer-tests] ${line}\n`);
  // What is packed must be what the sources say.
  ensureFreshBuild(clientDir, { build: ['pnpm', 'run', 'build'] });
  ensureFreshBuild(localDir, { build: ['pnpm', 'run', 'build'] });
  const packDir = mkdtempSync(join(tmpdir(), 'anypg-consumer-pack-'));
  const closers: Array<() => Promise<void> | void> = [() => rmSync(packDir, { recursive: true, force: true })];
  const teardown = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const [tarballs, runtimes] = await Promise.all([packAll(packDir), ensureRuntimes(log)]);
    const stack = await createProject('stack', { dependencies: { '@anypg/local': `file:${tarballs.local}` } });
    closers.push(() => stack.remove());
    const local = await importLocal(stack.dir);
    const pg = await local.startPostgres({ settings: { max_connections: 200 } });
    closers.push(() => pg.stop());
    const neon = await local.startNeonEndpoint({ upstream: pg.url });
    closers.push(() => neon.close());
    project.provide('databaseUrl', pg.url);
    project.provide('neonConfig', { ...neon.neonConfig });
    project.provide('tarballs', tarballs);
    project.provide('stackDir', stack.dir);
    project.provide('runtimes', runtimes);
    log(`packed, runtimes ready, local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
