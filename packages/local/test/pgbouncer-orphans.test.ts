// No PgBouncer outlives its owner, even one killed with SIGKILL. The owner is a separate Node
// process using the BUILT package (dist/), as a user's test runner would: run `pnpm build` first
// when calling vitest by hand (turbo builds before tests).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject, it } from 'vitest';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('stops PgBouncer and removes its folder when the owner process is SIGKILLed', async () => {
  expect(existsSync(DIST), `${DIST} is missing: run pnpm build first`).toBe(true);
  const script = `
    import { startPgBouncer } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
    const b = await startPgBouncer({ upstream: process.env.UPSTREAM });
    console.log(JSON.stringify({ pid: b.pid }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UPSTREAM: inject('databaseUrl') },
  });
  const { pid } = await new Promise<{ pid: number }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    child.once('exit', (code) => reject(new Error(`the owner exited early (code ${code})`)));
  });
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  expect(args[0]).toMatch(/pgbouncer$/);
  const folder = dirname(args.at(-1)!);
  expect(existsSync(folder)).toBe(true);

  child.kill('SIGKILL');
  for (let i = 0; i < 300 && (alive(pid) || existsSync(folder)); i++) await new Promise((r) => setTimeout(r, 50));
  expect(alive(pid)).toBe(false);
  expect(existsSync(folder)).toBe(false);
});
