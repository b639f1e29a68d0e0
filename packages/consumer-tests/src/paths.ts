// Where things are: the repository, the packages under test, and the cached tools folder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const fixturesDir = join(packageDir, 'fixtures');
export const clientDir = join(repoRoot, 'packages/client');
export const localDir = join(repoRoot, 'packages/local');
/** Runtimes installed from npm once and kept between runs (the repo's gitignored .toolchain/). */
export const toolsDir = join(repoRoot, '.toolchain/consumer-runtimes');
/**
 * The command line of a tool this package pins (esbuild, wrangler, publint...): its own bin file,
 * not pnpm's shim in node_modules/.bin, which sets NODE_PATH to the workspace's store.
 */
export function tool(pkg: string, binName = pkg.replace(/^@[^/]+\//, '')): [string, ...string[]] {
  // A direct devDependency of this package: pnpm links it into our node_modules (reading the
  // manifest from there works for packages whose exports hide package.json).
  const root = join(packageDir, 'node_modules', pkg);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    bin?: string | Record<string, string>;
  };
  const rel = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[binName];
  if (!rel) throw new Error(`${pkg} has no bin named ${binName}`);
  const file = join(root, rel);
  // esbuild's install step replaces its JS launcher with the native binary.
  const native = readFileSync(file)
    .subarray(0, 4)
    .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return native ? [file] : [process.execPath, file];
}
