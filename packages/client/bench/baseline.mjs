// The baseline for the benchmarks' "before" figures: anypg's client as a git ref has it (default
// main, or BENCH_BASELINE_REF), compiled into a scratch folder outside the repository with this
// checkout's compiler and dependencies, so that one run measures both builds side by side.
// BENCH_BASELINE=none skips it; BENCH_BASELINE=<path to a dist/node.js> uses that build instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const repoDir = join(pkgDir, '..', '..');

/** The baseline's Node entry as a file URL, with the commit it was built from; undefined when skipped. */
export function baselineEntry() {
  const given = process.env.BENCH_BASELINE;
  if (given === 'none') return undefined;
  if (given) return { url: pathToFileURL(given).href, label: 'baseline' };
  const ref = process.env.BENCH_BASELINE_REF ?? 'main';
  let commit;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: repoDir, encoding: 'utf8' }).trim();
  } catch {
    console.error(`[bench] no git ref ${ref}: running without a baseline`);
    return undefined;
  }
  const dir = join(tmpdir(), `anypg-bench-baseline-${commit}`);
  const entry = join(dir, 'packages/client/dist/node.js');
  if (!existsSync(entry)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // The sources of that commit only; dependencies and the compiler are this checkout's.
    const archive = execFileSync('git', ['archive', commit, 'tsconfig.base.json', 'packages/client'], {
      cwd: repoDir,
      maxBuffer: 256 * 1024 * 1024,
    });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(join(repoDir, 'node_modules'), join(dir, 'node_modules'));
    rmSync(join(dir, 'packages/client/node_modules'), { recursive: true, force: true });
    symlinkSync(join(pkgDir, 'node_modules'), join(dir, 'packages/client/node_modules'));
    const tsc = join(repoDir, 'node_modules/.bin/tsc');
    execFileSync(tsc, ['-p', join(dir, 'packages/client/tsconfig.build.json')], { stdio: 'inherit' });
  }
  return { url: pathToFileURL(entry).href, label: `${ref} (${commit})` };
}
