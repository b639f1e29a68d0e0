// The README's test command on a machine without PgBouncer: `node scripts/run.mjs provision` runs
// the same step `test` runs first. PgBouncer is installed on this machine; ANYPG_TEST_HIDE_PGBOUNCER
// makes the script see it as missing, so both answers are exercised for real without uninstalling
// it: apt-get as root, and the one message for a user who cannot install it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec, userEnv } from '../src/exec.js';
import { repoRoot } from '../src/paths.js';

const isRoot = process.getuid?.() === 0;
const script = join(repoRoot, 'scripts/run.mjs');
const env = userEnv({ ANYPG_TEST_HIDE_PGBOUNCER: '1' });

describe.runIf(isRoot)('with PgBouncer missing (these need root: apt-get, and runuser to a user without it)', () => {
  it('as a user who cannot install it, prints one message saying what to install, and fails', async () => {
    const r = await exec('runuser', ['-u', 'nobody', '--', process.execPath, script, 'provision'], {
      cwd: repoRoot,
      env,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PgBouncer is needed by the tests');
    expect(r.stderr).toContain('installing it needs root or passwordless sudo');
    expect(r.stderr).toContain('sudo apt-get install -y pgbouncer');
    expect(r.stdout).toBe('');
  });

  it('as root, installs it with apt-get (here it is installed already: apt-get says so at once)', async () => {
    const r = await exec(process.execPath, [script, 'provision'], { cwd: repoRoot, env, timeoutMs: 300_000 });
    expect(r.stderr).toContain('installing it with apt-get install -y pgbouncer');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/PgBouncer: \/\S*pgbouncer \(installed now\)/);
  });
});

it('finds PgBouncer when it is there, and installs nothing', async () => {
  const r = await exec(process.execPath, [script, 'provision'], { cwd: repoRoot, env: userEnv() });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/PgBouncer: \/\S*pgbouncer\n/);
  expect(r.stderr).not.toContain('installing');
});
