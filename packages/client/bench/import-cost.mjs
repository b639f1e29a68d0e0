// Benchmark (not a test): what importing anypg's Node entry costs, against importing raw pg +
// drizzle's node-postgres driver. Each sample is a fresh Node process; samples alternate.
import { execFileSync } from 'node:child_process';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const here = new URL('.', import.meta.url);
const cases = {
  'pg + drizzle-orm/node-postgres': `await import('pg'); await import('drizzle-orm/node-postgres');`,
  'anypg (node entry)': `await import(${JSON.stringify(new URL('../dist/node.js', here).href)});`,
  'anypg + pg (as after the first query)': `await import(${JSON.stringify(new URL('../dist/node.js', here).href)}); await import('pg');`,
};

function sample(code) {
  const script = `const m0 = process.memoryUsage().rss; const t = performance.now(); ${code} const ms = performance.now() - t; global.gc?.(); console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss - m0, heap: process.memoryUsage().heapUsed }));`;
  return JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      cwd: new URL('..', here),
      encoding: 'utf8',
    }),
  );
}

const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < SAMPLES; i++) for (const [name, code] of Object.entries(cases)) results[name].push(sample(code));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = results['pg + drizzle-orm/node-postgres'];
const baseMs = median(base.map((r) => r.ms));
const baseHeap = median(base.map((r) => r.heap));
console.log(`import cost, ${SAMPLES} fresh processes per case (median)`);
console.log('case                                      import ms   / baseline   heap MB   heap delta MB');
for (const [name, rs] of Object.entries(results)) {
  const ms = median(rs.map((r) => r.ms));
  const heap = median(rs.map((r) => r.heap));
  console.log(
    `${name.padEnd(40)} ${ms.toFixed(1).padStart(10)} ${(ms / baseMs).toFixed(3).padStart(12)} ${(heap / 2 ** 20).toFixed(2).padStart(9)} ${((heap - baseHeap) / 2 ** 20).toFixed(2).padStart(15)}`,
  );
}
