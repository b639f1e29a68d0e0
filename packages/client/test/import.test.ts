// Importing anypg does nothing but define things: no environment read, no connection, and no
// `pg`, AWS SDK or Neon driver loaded until a path that needs them runs. Checked on the built
// package (turbo builds it before the tests) in a fresh Node process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const probe = fileURLToPath(new URL('./fixtures/import-probe.mjs', import.meta.url));
const entry = new URL('../dist/node.js', import.meta.url).href;

function importReport(): { resolved: string[]; envReads: string[]; importMs: number; createDb: boolean } {
  return JSON.parse(execFileSync(process.execPath, [probe, entry], { encoding: 'utf8' }));
}

describe('importing the Node entry', () => {
  const report = importReport();

  it('exports createDb', () => {
    expect(report.createDb).toBe(true);
  });

  it('reads no environment variable', () => {
    // Node's own module loader reads these two for every module it loads; they are not ours.
    const nodeInternal = new Set(['NODE_V8_COVERAGE', 'WATCH_REPORT_DEPENDENCIES']);
    expect(report.envReads.filter((k) => !nodeInternal.has(k))).toEqual([]);
    expect(report.resolved.length).toBeGreaterThan(10); // the probe saw the import happen
  });

  it('loads neither pg, nor the AWS SDK, nor the Neon driver', () => {
    const heavy = report.resolved.filter((u) =>
      /\/node_modules\/(\.pnpm\/)?(pg|pg-pool|@aws-sdk|@neondatabase)[@/+]/.test(u),
    );
    expect(heavy).toEqual([]);
    // ...while drizzle itself is loaded (the probe would be vacuous otherwise).
    expect(report.resolved.some((u) => u.includes('drizzle-orm'))).toBe(true);
  });
});
