// Benchmark (not a test): what anypg adds to a Worker bundle. The same query in five Workers
// (test/workers/bundle/*.js), bundled by esbuild as wrangler does (ESM, platform neutral, the
// `workerd` condition first), minified, then gzipped; each anypg shape next to its raw drizzle
// equivalent:
//   neon-http:  (a) drizzle-orm/neon-http + neon()    vs (b) anypg/http and (c) anypg (edge entry)
//   Hyperdrive: (d) drizzle-orm/node-postgres + pg    vs (e) anypg/hyperdrive, and (f) anypg (edge
//               entry), bundled as a project without the Neon driver installed bundles it (anypg's
//               import() of the driver is left in place, as esbuild does for a missing package)
// The budget for each shape is 4 KiB gzip over its baseline. Then anypg's own modules in each
// bundle by minified bytes (esbuild's metafile): where a budget is not met, that is the account of
// what the bytes buy. BENCH_SKIP_IMPORT=1 skips the import-time figures (bench/import-cost.mjs).
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const BUDGET_KIB = 4;
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const workers = {
  a: { label: 'drizzle-orm/neon-http + neon()', file: 'drizzle-neon-http.js' },
  b: { label: 'anypg/http (neon-http)', file: 'anypg-http.js', baseline: 'a' },
  c: { label: 'anypg (edge entry, neon-http)', file: 'anypg-edge.js', baseline: 'a' },
  d: { label: 'drizzle-orm/node-postgres + pg', file: 'drizzle-pg.js' },
  e: { label: 'anypg/hyperdrive', file: 'anypg-hyperdrive.js', baseline: 'd' },
  f: { label: 'anypg (edge entry, Hyperdrive)', file: 'anypg-edge-hyperdrive.js', baseline: 'd', noNeon: true },
};

async function measure({ file, noNeon }) {
  const result = await esbuild.build({
    entryPoints: [`test/workers/bundle/${file}`],
    absWorkingDir: pkgDir,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    // What a Worker with nodejs_compat provides (pg imports these), and pg's optional native binding.
    external: [
      'node:*',
      'cloudflare:*',
      ...builtinModules,
      'pg-native',
      ...(noNeon ? ['@neondatabase/serverless'] : []),
    ],
    metafile: true,
    write: false,
    logLevel: 'error',
  });
  const code = result.outputFiles[0].contents;
  const [output] = Object.values(result.metafile.outputs);
  // anypg's own modules: the package's dist files (reached through the package's self-reference).
  const ours = Object.entries(output.inputs)
    .filter(([path]) => !path.includes('node_modules/') && path.includes('dist/'))
    .map(([path, { bytesInOutput }]) => [path.replace(/^.*?dist\//, ''), bytesInOutput])
    .sort((x, y) => y[1] - x[1]);
  return { raw: code.length, gzip: gzipSync(code).length, ours };
}

const kib = (bytes) => (bytes / 1024).toFixed(2);
const sizes = {};
for (const [key, worker] of Object.entries(workers)) sizes[key] = await measure(worker);

console.log(
  'Worker bundle sizes (esbuild, minified, ESM, conditions workerd/worker/browser; gzip at the default level)',
);
console.log(
  '    worker                                    minified B     gzip B   gzip KiB   over baseline      budget',
);
for (const [key, { label, baseline }] of Object.entries(workers)) {
  const s = sizes[key];
  let over = '';
  let verdict = '(baseline)';
  if (baseline) {
    const d = s.gzip - sizes[baseline].gzip;
    over = `(${key})-(${baseline}) ${kib(d)} KiB`;
    verdict = d <= BUDGET_KIB * 1024 ? `<= ${BUDGET_KIB} KiB: met` : `<= ${BUDGET_KIB} KiB: NOT met`;
  }
  console.log(
    `(${key}) ${label.padEnd(39)} ${String(s.raw).padStart(12)} ${String(s.gzip).padStart(10)} ${kib(s.gzip).padStart(10)}   ${over.padEnd(18)} ${verdict}`,
  );
}

for (const key of ['b', 'c', 'e', 'f']) {
  const { ours } = sizes[key];
  const total = ours.reduce((n, [, b]) => n + b, 0);
  console.log('');
  console.log(`anypg's own modules in (${key}) ${workers[key].label}: ${total} B minified (before gzip)`);
  for (const [path, bytes] of ours) {
    console.log(
      `  ${path.padEnd(44)} ${String(bytes).padStart(7)} B ${((bytes / total) * 100).toFixed(1).padStart(5)} %`,
    );
  }
}

if (process.env.BENCH_SKIP_IMPORT !== '1') {
  console.log('');
  // Same numbers as `node bench/import-cost.mjs` (target: the Node entry within 10% of raw pg + drizzle).
  execFileSync(process.execPath, [fileURLToPath(new URL('./import-cost.mjs', import.meta.url))], { stdio: 'inherit' });
}
