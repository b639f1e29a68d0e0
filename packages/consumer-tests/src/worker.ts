// A Worker as a user ships it: `wrangler deploy --dry-run` bundles it (what `wrangler deploy` would
// upload), and the bundle runs in workerd through Miniflare.
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { convertV4MiniflareOptions, Miniflare, type V4MiniflareOptions } from 'miniflare';
import { run } from './exec.js';
import { tool } from './paths.js';

export interface WorkerBundle {
  script: string;
  /** The npm packages in the bundle, from wrangler's metafile. */
  packages: string[];
}

/** The npm package a bundled file belongs to (the name after its last node_modules/). */
function packageOf(file: string): string | undefined {
  const i = file.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  const [first, second] = file.slice(i + 'node_modules/'.length).split('/');
  return first?.startsWith('@') ? `${first}/${second}` : first;
}

export async function wranglerBuild(projectDir: string, config: string, outDir: string): Promise<WorkerBundle> {
  const [command, ...pre] = tool('wrangler');
  const meta = join(projectDir, outDir, 'meta.json');
  const r = await run(
    command,
    [...pre, 'deploy', '--dry-run', '--outdir', outDir, '--metafile', meta, '--config', config],
    { cwd: projectDir, timeoutMs: 180_000 },
  );
  if (!/--dry-run: exiting now/.test(r.stdout)) throw new Error(`wrangler did not finish its dry run:\n${r.stdout}`);
  const { inputs, outputs } = JSON.parse(readFileSync(meta, 'utf8')) as {
    inputs: Record<string, unknown>;
    outputs: Record<string, { entryPoint?: string }>;
  };
  const packages = [
    ...new Set(
      Object.keys(inputs)
        .map(packageOf)
        .filter((p): p is string => !!p),
    ),
  ].sort();
  // The entry's output is named after the config's `main` (src/http.ts gives http.js).
  const entry = Object.entries(outputs).find(([file, o]) => o.entryPoint && file.endsWith('.js'));
  if (!entry) throw new Error(`wrangler's metafile names no entry output: ${Object.keys(outputs).join(', ')}`);
  return { script: join(projectDir, outDir, basename(entry[0])), packages };
}

/** Runs a bundled Worker in workerd; the caller disposes it. */
export async function startWorker(script: string, options: Partial<V4MiniflareOptions> = {}): Promise<Miniflare> {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      scriptPath: script,
      // Module names are paths relative to this: the bundle lives outside the current directory.
      modulesRoot: dirname(script),
      compatibilityDate: '2026-11-01',
      compatibilityFlags: ['nodejs_compat'],
      ...options,
    } as V4MiniflareOptions),
  );
  await mf.ready;
  return mf;
}
