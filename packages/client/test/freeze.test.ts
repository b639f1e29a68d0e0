// Freeze-safety in a real child process stopped with SIGSTOP, as Lambda freezes a container between
// invocations: timers do not run and the socket is not serviced while the server (or a NAT) drops it.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, backendsNamed, databaseUrl, uniqueName } from './support/db.js';

const fixture = fileURLToPath(new URL('./fixtures/frozen-container.mjs', import.meta.url));
const entry = new URL('../dist/node.js', import.meta.url).href;

interface Reply {
  ok: boolean;
  result?: unknown;
  code?: string;
  stats: Record<string, number | string>;
  crash?: string;
}

class Container {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly replies: Reply[] = [];
  private waiting: ((r: Reply) => void) | undefined;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [fixture, entry], { env: { ...process.env, ...env } });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(reply);
      } else this.replies.push(reply);
    });
  }

  invoke(op: string): Promise<Reply> {
    this.child.stdin.write(`${op}\n`);
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  freeze() {
    this.child.kill('SIGSTOP');
  }
  thaw() {
    this.child.kill('SIGCONT');
  }
  async close() {
    this.child.kill('SIGCONT');
    this.child.stdin.end();
    await new Promise((r) => this.child.once('exit', r));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const table = uniqueName('frz');

beforeAll(() => admin((c) => c.query(`create table ${table} (id serial primary key, v text)`)));
afterAll(() => admin((c) => c.query(`drop table ${table}`)));

describe('a container frozen with SIGSTOP', () => {
  it('survives the server killing its connection during the freeze; the write after it lands once', async () => {
    const fn = uniqueName('fn');
    const c = new Container({ TEST_DATABASE_URL: databaseUrl(), FUNCTION_NAME: fn });
    try {
      const first = await c.invoke('pid');
      expect(first.ok).toBe(true);
      c.freeze();
      await admin((a) => a.query('select pg_terminate_backend($1)', [first.result]));
      await sleep(100);
      c.thaw();
      const second = await c.invoke(`insert ${table}`);
      expect(second).toMatchObject({ ok: true, result: 1 });
      expect(second.stats).toMatchObject({ opened: 2, staleReplaced: 1, retries: 0, outcomeUnknown: 0 });
      const third = await c.invoke('pid');
      expect(third.result).not.toBe(first.result);
      expect(await backendsNamed(fn)).toEqual([third.result]);
      const rows = await admin((a) => a.query(`select count(*)::int as n from ${table} where v = 'after-freeze'`));
      expect(rows.rows[0].n).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('does not reuse a connection idle longer than idleTimeoutMs, even though no timer ran while frozen', async () => {
    const fn = uniqueName('fn');
    const c = new Container({ TEST_DATABASE_URL: databaseUrl(), FUNCTION_NAME: fn, IDLE_TIMEOUT_MS: '300' });
    try {
      const first = await c.invoke('pid');
      c.freeze();
      await sleep(600);
      // While frozen, the idle timer could not close the connection: the server still has it.
      expect(await backendsNamed(fn)).toEqual([first.result]);
      c.thaw();
      const second = await c.invoke('pid');
      expect(second.ok).toBe(true);
      expect(second.result).not.toBe(first.result);
      // Closed either by the overdue idle timer that fires at thaw or by the age check at checkout,
      // whichever runs first; never used.
      expect(second.stats).toMatchObject({ opened: 2, retries: 0 });
      await sleep(100);
      expect(await backendsNamed(fn)).toEqual([second.result]);
    } finally {
      await c.close();
    }
  });

  it('reuses its one connection across warm invocations with freezes in between', async () => {
    const fn = uniqueName('fn');
    const c = new Container({ TEST_DATABASE_URL: databaseUrl(), FUNCTION_NAME: fn });
    try {
      const pids = new Set<unknown>();
      for (let i = 0; i < 20; i++) {
        const r = await c.invoke('pid');
        expect(r.ok).toBe(true);
        pids.add(r.result);
        c.freeze();
        await sleep(5);
        c.thaw();
      }
      expect(pids.size).toBe(1);
      expect(await backendsNamed(fn)).toHaveLength(1);
    } finally {
      await c.close();
    }
  });
});
