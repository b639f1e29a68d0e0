// Benchmark (not a test): what anypg adds to a Worker bundle. Three Workers doing the same query
// (test/workers/bundle/*.js), bundled by esbuild as Wrangler would (ESM, platform neutral, the
// `workerd` condition), minified, then gzipped:
//   (a) drizzle's neon-http driver + neon(), no anypg   (the baseline)
//   (b) the same on anypg/http                          (target: at most 4 KiB over (a))
//   (c) the same on anypg under edge conditions         (adds neon-ws and Hyperdrive)
// Then anypg's own modules, by minified bytes each (esbuild's metafile), and the Node entry's
// import time against raw pg + drizzle (bench/import-cost.mjs; BENCH_SKIP_IMPORT=1 skips it).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const TARGET_KIB = 4;
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const workers = {
  a: ['drizzle-orm/neon-http + neon()', 'drizzle-neon-http.js'],
  b: ['anypg/http', 'anypg-http.js'],
  c: ['anypg (edge entry)', 'anypg-edge.js'],
};

async function measure(file) {
  const result = await esbuild.build({
    entryPoints: [`test/workers/bundle/${file}`],
    absWorkingDir: pkgDir,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    metafile: true,
    write: false,
    logLevel: 'warning',
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
for (const [key, [, file]] of Object.entries(workers)) sizes[key] = await measure(file);

console.log(
  'Worker bundle sizes (esbuild, minified, ESM, conditions workerd/worker/browser; gzip at the default level)',
);
console.log('    worker                                   minified B     gzip B   gzip KiB');
for (const [key, [label]] of Object.entries(workers)) {
  const s = sizes[key];
  console.log(
    `(${key}) ${label.padEnd(38)} ${String(s.raw).padStart(12)} ${String(s.gzip).padStart(10)} ${kib(s.gzip).padStart(10)}`,
  );
}
const overHttp = sizes.b.gzip - sizes.a.gzip;
const overEdge = sizes.c.gzip - sizes.a.gzip;
console.log('');
console.log(
  `(b)-(a) anypg/http over raw drizzle neon-http: ${kib(overHttp)} KiB gzip (target <= ${TARGET_KIB} KiB: ${overHttp <= TARGET_KIB * 1024 ? 'met' : 'NOT met'})`,
);
console.log(`(c)-(a) anypg edge entry over raw drizzle neon-http: ${kib(overEdge)} KiB gzip`);

for (const key of ['b', 'c']) {
  const { ours } = sizes[key];
  const total = ours.reduce((n, [, b]) => n + b, 0);
  console.log('');
  console.log(`anypg's own modules in (${key}) ${workers[key][0]}: ${total} B minified (before gzip)`);
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
