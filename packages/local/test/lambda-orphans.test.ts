// No container outlives its owner, even when the owner is killed with SIGKILL while the container
// is frozen (a frozen process cannot notice anything: its guardian must end it). The owner is a
// separate Node process that uses the BUILT package (dist/), as a user's test runner would.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const OWNER = fileURLToPath(new URL('./fixtures/lambda/owner.mjs', import.meta.url));

function stat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

const running = (pid: number) => {
  const s = stat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
};

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

const owners: ChildProcess[] = [];
afterAll(() => {
  for (const o of owners) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
});

describe('no orphans', () => {
  it('kills a frozen container when its owner process is SIGKILLed', async () => {
    // turbo runs `build` before `test`; run `pnpm build` first when calling vitest by hand.
    expect(existsSync(DIST), `${DIST} is missing: run pnpm build first`).toBe(true);
    const owner = spawn(process.execPath, [OWNER], { stdio: ['ignore', 'pipe', 'inherit'] });
    owners.push(owner);
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      owner.stdout!.setEncoding('utf8');
      owner.stdout!.on('data', (chunk: string) => {
        out += chunk;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      owner.once('exit', (code) => reject(new Error(`the owner exited early (code ${code})`)));
    });
    const { pid, count, frozen } = JSON.parse(line) as { pid: number; count: number; frozen: boolean };
    expect(count).toBe(1);
    expect(frozen).toBe(true);
    // The container is really stopped, every thread of it.
    const states = readdirSync(`/proc/${pid}/task`).map((tid) => {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
    });
    expect(states.every((s) => s === 'T')).toBe(true);
    const guardian = stat(pid)!.ppid;
    expect(stat(guardian)!.ppid).toBe(owner.pid);

    owner.kill('SIGKILL');
    await until('the frozen container to be gone', () => !running(pid));
    await until('its guardian to be gone', () => !running(guardian));
    expect(running(pid)).toBe(false);
  });
});
