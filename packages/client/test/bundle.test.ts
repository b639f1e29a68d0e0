// Packaging: what an edge bundle of anypg contains, judged by the bundlers' own module lists
// (esbuild's metafile, wrangler's --metafile), never by searching the output text (the Neon driver
// mentions pg-pool in a bundled package.json string). And what the Node entry loads, in a fresh
// Node process. Runs on the built package (turbo builds it before the tests).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/db.js';

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const bundleDir = join(pkgDir, 'test/workers/bundle');

/** Packages that must never be in an edge bundle: pg and its parts, the AWS SDK. */
const FORBIDDEN = /^(pg|pg-pool|pg-cloudflare|pg-protocol|pg-native|@aws-sdk\/.+|@smithy\/.+)$/;

/** The npm package a bundled file belongs to (the name after its last node_modules/), or undefined for ours. */
function packageOf(file: string): string | undefined {
  const i = file.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  const [first, second] = file.slice(i + 'node_modules/'.length).split('/');
  return first?.startsWith('@') ? `${first}/${second}` : first;
}

interface Contents {
  packages: string[];
  /** anypg's own modules, relative to the package (dist/...). */
  anypg: string[];
  /** Imports left outside the bundle (node:* builtins, say). */
  external: string[];
  /** anypg's modules and the packages that put bytes in the output (a module tree-shaken to nothing is listed in `anypg` but not here). */
  emitted: string[];
}

function contentsOf(meta: esbuild.Metafile): Contents {
  const inputs = Object.keys(meta.inputs);
  const packages = [...new Set(inputs.map(packageOf).filter((p): p is string => !!p))].sort();
  const anypg = inputs
    .filter((f) => !f.includes('node_modules/'))
    .map((f) => f.replace(/^(\.\.\/)*/, '').replace(/^.*?(dist\/)/, '$1'))
    .filter((f) => f.startsWith('dist/'))
    .sort();
  const external = Object.values(meta.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external)
    .map((i) => i.path);
  const emitted = Object.values(meta.outputs)
    .flatMap((o) => Object.entries(o.inputs))
    .filter(([, i]) => i.bytesInOutput > 0)
    .map(([f]) => packageOf(f) ?? f.replace(/^(\.\.\/)*/, '').replace(/^.*?(dist\/)/, '$1'));
  return { packages, anypg, external, emitted: [...new Set(emitted)].sort() };
}

/** esbuild as a Worker bundler would run it: platform neutral, the given export conditions. */
async function bundle(entry: esbuild.BuildOptions, conditions: string[]): Promise<Contents> {
  const result = await esbuild.build({
    ...entry,
    absWorkingDir: pkgDir,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions,
    metafile: true,
    write: false,
    logLevel: 'silent',
    // A Worker with nodejs_compat has these; the edge entry must not need any of them (checked below).
    external: ['node:*', ...builtinModules],
  });
  return contentsOf(result.metafile);
}

const worker = (name: string) => ({ entryPoints: [join(bundleDir, name)] });

describe.each([['workerd'], ['worker'], ['browser'], ['edge-light'], []])(
  'esbuild, anypg under the conditions [%s]',
  (...conditions: string[]) => {
    it('gets the edge entry with no pg, no pg-pool, no pg-cloudflare, no AWS SDK and no Node builtin', async () => {
      const b = await bundle(worker('anypg-edge.js'), conditions);
      expect(b.packages.filter((p) => FORBIDDEN.test(p))).toEqual([]);
      expect(b.external).toEqual([]);
      // What it does contain: the edge entry (not the Node one), Hyperdrive's transport (which takes
      // pg from the caller), drizzle and the Neon driver.
      expect(b.anypg).toContain('dist/edge.js');
      expect(b.anypg).not.toContain('dist/node.js');
      expect(b.anypg).toContain('dist/backends/hyperdrive/factory.js');
      expect(b.packages).toEqual(expect.arrayContaining(['drizzle-orm', '@neondatabase/serverless']));
    });
  },
);

describe('esbuild, other entries', () => {
  it('anypg/http holds neon-http only', async () => {
    const b = await bundle(worker('anypg-http.js'), ['workerd']);
    expect(b.packages.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    expect(b.external).toEqual([]);
    expect(b.anypg).toContain('dist/backends/neon-http/transport.js');
    expect(b.anypg.filter((f) => /backends\/(hyperdrive|neon-ws|pg|data-api)\//.test(f))).toEqual([]);
  });

  it('holds no telemetry code and no @opentelemetry package unless the Worker uses openTelemetry', async () => {
    const plain = await bundle(worker('anypg-edge.js'), ['workerd']);
    expect(plain.packages.filter((p) => p.startsWith('@opentelemetry/'))).toEqual([]);
    expect(plain.emitted.filter((f) => f.startsWith('dist/observe/otel/'))).toEqual([]);
    expect(plain.emitted).toContain('dist/observe/events.js'); // the control: emitted modules are listed
    // The control: a Worker that passes openTelemetry(api) gets both (and still not the Node lookup).
    const traced = await bundle(
      {
        stdin: {
          contents: `import * as otel from '@opentelemetry/api';
            import { createDb, openTelemetry } from 'anypg';
            export default { fetch: (r, env) => createDb({ env, telemetry: openTelemetry(otel) }).$ping().then((p) => Response.json(p)) };`,
          resolveDir: bundleDir,
          loader: 'js',
        },
      },
      ['workerd'],
    );
    expect(traced.emitted).toContain('@opentelemetry/api');
    expect(traced.emitted).toContain('dist/observe/otel/instrument.js');
    expect(traced.anypg).not.toContain('dist/observe/otel/node-api.js');
    expect(traced.packages.filter((p) => FORBIDDEN.test(p))).toEqual([]);
  });

  it('anypg/hyperdrive holds the hyperdrive backend only: no Neon code, and pg only from the caller', async () => {
    const b = await bundle(worker('anypg-hyperdrive.js'), ['workerd']);
    expect(b.anypg).toContain('dist/hyperdrive.js');
    expect(b.anypg).toContain('dist/backends/hyperdrive/factory.js');
    expect(b.anypg.filter((f) => /backends\/(neon|neon-http|neon-ws|data-api)\//.test(f))).toEqual([]);
    expect(b.packages).not.toContain('@neondatabase/serverless');
    expect(b.packages.filter((p) => /^@aws-sdk\/|^@smithy\//.test(p))).toEqual([]);
  });

  it('the check sees pg when a Worker does bundle it (the control)', async () => {
    const b = await bundle(
      { stdin: { contents: "import pg from 'pg'; export default pg;", resolveDir: pkgDir, loader: 'js' } },
      ['workerd'],
    );
    expect(b.packages.filter((p) => FORBIDDEN.test(p))).toEqual(
      expect.arrayContaining(['pg', 'pg-pool', 'pg-protocol', 'pg-cloudflare']),
    );
  });
});

describe('wrangler deploy --dry-run', () => {
  const out = mkdtempSync(join(tmpdir(), 'anypg-wrangler-'));
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(join(bundleDir, '.wrangler'), { recursive: true, force: true });
  });

  it('bundles a Worker importing anypg with no pg, no pg-pool, no pg-cloudflare and no AWS SDK', async () => {
    const wrangler = join(pkgDir, 'node_modules/.bin/wrangler');
    const meta = join(out, 'meta.json');
    const { stdout } = await run(
      wrangler,
      ['deploy', '--dry-run', '--outdir', out, '--metafile', meta, '-c', join(bundleDir, 'wrangler.jsonc')],
      { cwd: bundleDir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' }, timeout: 60_000 },
    );
    expect(stdout).toMatch(/--dry-run: exiting now/);
    const b = contentsOf(JSON.parse(readFileSync(meta, 'utf8')) as esbuild.Metafile);
    expect(b.packages.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    expect(b.anypg).toContain('dist/edge.js');
    expect(b.packages).toEqual(expect.arrayContaining(['drizzle-orm', '@neondatabase/serverless']));
  }, 60_000);
});

/**
 * A fresh Node process that imports the Node entry, does `scenario`, and reports every module URL
 * it resolved (a module-resolution hook, as in test/import.test.ts).
 */
async function nodeEntryLoads(scenario: string): Promise<{ resolved: string[]; result: unknown }> {
  const script = `
    import { registerHooks } from 'node:module';
    const resolved = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); resolved.push(r.url); return r; } });
    const { createDb } = await import(${JSON.stringify(new URL('../dist/node.js', import.meta.url).href)});
    const url = process.env.PROBE_DATABASE_URL;
    const result = await (async () => { ${scenario} })();
    process.stdout.write(JSON.stringify({ resolved, result }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: pkgDir,
    env: { ...process.env, PROBE_DATABASE_URL: databaseUrl() },
    timeout: 30_000,
  });
  return JSON.parse(stdout);
}

const loadedPackages = (resolved: string[]): string[] =>
  [...new Set(resolved.map((u) => packageOf(u.replace(/^file:\/\//, ''))))].filter((p): p is string => !!p).sort();

describe('the Node entry', () => {
  it('runs a pg query without loading the AWS SDK or the Neon driver', async () => {
    const { resolved, result } = await nodeEntryLoads(`
      const db = createDb({ url, env: {} });
      try { return { backend: db.$backend.backend, ping: (await db.$ping()).ok }; } finally { await db.$close(); }
    `);
    expect(result).toEqual({ backend: 'pg', ping: true });
    const packages = loadedPackages(resolved);
    expect(packages).toContain('pg'); // the query did load pg...
    expect(packages.filter((p) => /^(@aws-sdk|@smithy|@neondatabase)\//.test(p))).toEqual([]); // ...and nothing else
  });

  it('loads the Neon driver when neon-http is asked for, and still no AWS SDK or pg (the control)', async () => {
    const { resolved, result } = await nodeEntryLoads(`
      const db = createDb({ url, env: {}, backend: 'neon-http', neon: { fetchEndpoint: 'http://127.0.0.1:9/sql', timeoutMs: 2000 } });
      const failed = await db.$ping().then((r) => r.ok, () => false);
      return { backend: db.$backend.backend, failed: failed === false };
    `);
    expect(result).toEqual({ backend: 'neon-http', failed: true });
    const packages = loadedPackages(resolved);
    expect(packages).toContain('@neondatabase/serverless');
    expect(packages.filter((p) => /^(@aws-sdk|@smithy)\/|^pg$/.test(p))).toEqual([]);
  });
});
