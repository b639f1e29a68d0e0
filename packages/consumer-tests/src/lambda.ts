// Bundling a Lambda handler the way the client README says (esbuild, one file, ESM or CommonJS),
// and the database-side view used to check what it did.
import { join } from 'node:path';
import pg from 'pg';
import { run } from './exec.js';
import { tool } from './paths.js';

/** The README's esbuild commands ("Bundling for AWS Lambda"), word for word. */
export const ESBUILD_ARGS = {
  esm: [
    'src/handler.ts',
    '--bundle',
    '--platform=node',
    '--target=node22',
    '--format=esm',
    '--outfile=dist/index.mjs',
    '--external:pg-native',
    "--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  ],
  cjs: [
    'src/handler.ts',
    '--bundle',
    '--platform=node',
    '--target=node22',
    '--format=cjs',
    '--outfile=dist/index.cjs',
    '--external:pg-native',
  ],
} as const;

/** Bundles the project's src/handler.ts; returns the bundle's path. */
export async function bundleHandler(projectDir: string, format: 'esm' | 'cjs'): Promise<string> {
  const [command, ...pre] = tool('esbuild');
  await run(command, [...pre, ...ESBUILD_ARGS[format], '--log-level=warning'], { cwd: projectDir, timeoutMs: 120_000 });
  return join(projectDir, format === 'esm' ? 'dist/index.mjs' : 'dist/index.cjs');
}

/** Server-side sessions whose application_name is `name` (the function's name, anypg's default on Lambda). */
export async function sessionsNamed(databaseUrl: string, name: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [name]);
    return r.rows.map((row) => row.pid);
  } finally {
    await c.end();
  }
}
