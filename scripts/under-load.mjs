#!/usr/bin/env node
// Runs the README's test command several times in a row while CPU hogs keep every core busy, and
// prints how each run ended and how long it took. A suite that passes here holds on a busy CI
// machine; one that fails here would fail there some day.
//
//   node scripts/under-load.mjs          # 3 runs, one hog per core
//   node scripts/under-load.mjs 5 4      # 5 runs, 4 hogs
//
// Written for Node 20 like run.mjs (it calls run.mjs, which brings the toolchain).
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.argv[2] ?? 3);
const hogCount = Number(process.argv[3] ?? availableParallelism());

// A hog is a separate process spinning on one core at normal priority.
const hogs = Array.from({ length: hogCount }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const stopHogs = () => {
  for (const h of hogs) h.kill('SIGKILL');
};
process.on('exit', stopHogs);
process.on('SIGINT', () => process.exit(130));

const results = [];
for (let i = 1; i <= runs; i++) {
  const started = Date.now();
  process.stderr.write(`[under-load] run ${i}/${runs} with ${hogCount} CPU hog(s)\n`);
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'run.mjs'), 'test'], { cwd: root, stdio: 'inherit' });
  results.push({ run: i, status: r.status ?? 1, seconds: Math.round((Date.now() - started) / 1000) });
}
stopHogs();
for (const r of results) {
  process.stderr.write(
    `[under-load] run ${r.run}: ${r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`} in ${r.seconds} s\n`,
  );
}
process.exit(results.every((r) => r.status === 0) ? 0 : 1);
