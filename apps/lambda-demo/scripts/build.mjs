// Bundles the function for Lambda with esbuild: dist/handler.mjs (the handler, ESM, Node 24) plus
// lazily loaded chunks, and dist/migrate.mjs (the migration command, one file).
//
// - Splitting: anypg loads pg or the AWS SDK with import() only on the path that uses it; as
//   separate chunks, a container on the pg path never parses the Data API client and vice versa.
// - The createRequire banner: pg and the AWS SDK are CommonJS and call require('node:...'); an ESM
//   bundle has no `require`, so esbuild's shim would throw "Dynamic require of ... is not supported".
// - mainFields module first: the AWS SDK ships ESM (dist-es) next to CommonJS; as its own chunk, a
//   CommonJS module only has a default export, and anypg reads the SDK's named exports.
// - pg-native: pg's optional native binding, never used here (and not installed).

import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

const banner = {
  js: "import { createRequire as __lambdaDemoCreateRequire } from 'node:module'; const require = __lambdaDemoCreateRequire(import.meta.url);",
};
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: true,
  keepNames: true, // error names in logs stay readable
  sourcemap: true,
  legalComments: 'none',
  mainFields: ['module', 'main'],
  external: ['pg-native'],
  banner,
  logLevel: 'warning',
};

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

await build({
  ...common,
  entryPoints: { handler: 'src/handler.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
});
await build({
  ...common,
  entryPoints: { migrate: 'src/migrate.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
});

// Sizes: what Lambda loads at init is handler.mjs; the chunks load on the path that needs them.
const files = [];
async function walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path);
    else if (entry.name.endsWith('.mjs')) files.push(path);
  }
}
await walk(dist);
files.sort();
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
let total = 0;
for (const file of files) {
  const { size } = await stat(file);
  total += size;
  const gz = gzipSync(readFileSync(file)).length;
  console.log(`  ${relative(root, file).padEnd(40)} ${kib(size).padStart(10)}  gzip ${kib(gz).padStart(9)}`);
}
console.log(`  ${'total'.padEnd(40)} ${kib(total).padStart(10)}`);
