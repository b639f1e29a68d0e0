// Tests that run a package's build (dist/) as a user would must never run against an old one. A
// suite's global setup calls this: when a source file is newer than the build, it builds first.
// (`pnpm test` builds before testing anyway; this covers `vitest` run straight after an edit.)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** Newest modification time of the files under `path` (0 when it is missing). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const t = newest(join(path, entry));
    if (t > latest) latest = t;
  }
  return latest;
}

export interface FreshBuildOptions {
  /** What the build is made from, relative to the package. Default `['src']`. */
  sources?: string[];
  /** The build command and its arguments, run in the package. Default: tsc -p tsconfig.build.json. */
  build?: [command: string, ...args: string[]];
}

/** Whether `<packageDir>/dist` is missing or older than a file of its sources. */
export function isBuildStale(packageDir: string, options: FreshBuildOptions = {}): boolean {
  let built = 0;
  const dist = join(packageDir, 'dist');
  if (existsSync(dist)) {
    // The newest output file: one build rewrites every output.
    for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) built = Math.max(built, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  const sources = (options.sources ?? ['src']).map((s) => resolve(packageDir, s));
  return built === 0 || Math.max(...sources.map(newest)) > built;
}

/** Builds the package when its dist/ is missing or older than its sources. */
export function ensureFreshBuild(packageDir: string, options: FreshBuildOptions = {}): void {
  if (!isBuildStale(packageDir, options)) return;
  const typescript = () => createRequire(join(packageDir, 'package.json')).resolve('typescript/package.json');
  const [command, ...args] = options.build ?? [
    process.execPath,
    join(dirname(typescript()), 'bin', 'tsc'),
    '-p',
    'tsconfig.build.json',
  ];
  execFileSync(command, args, { cwd: packageDir, stdio: 'inherit' });
  if (isBuildStale(packageDir, options)) {
    throw new Error(`Building ${packageDir} did not refresh its dist/ folder: check its build script.`);
  }
}
