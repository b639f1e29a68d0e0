// Freeze-safety in a real child process stopped with SIGSTOP, as Lambda freezes a container between
// invocations: timers do not run and the socket is not serviced while the server (or a NAT) drops it.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from '@anypg/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, backendsNamed, databaseUrl, serverPort, uniqueName } from './support/db.js';

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

/**
 * Whether the kernel has received the server's FIN for the client socket on local port `port`
 * (TCP state CLOSE_WAIT, 08 in /proc/net/tcp). The kernel does this even while the process that
 * owns the socket is stopped, which is exactly the state a thawed container wakes up in.
 */
function peerClosed(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const remote = serverPort().toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, rem, state] = line.trim().split(/\s+/);
      if (local?.endsWith(`:${hex}`) && rem?.endsWith(`:${remote}`) && state === '08') return true;
    }
  }
  return false;
}

/** The pool yields to the event loop before judging a connection idle at least this long (pool.ts). */
const YIELD_AFTER_IDLE_MS = 100;
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
      const lastUsed = Date.now();
      const [{ client_port: port }] = (
        await admin((a) => a.query('select client_port from pg_stat_activity where pid = $1', [first.result]))
      ).rows;
      c.freeze();
      await admin((a) => a.query('select pg_terminate_backend($1)', [first.result]));
      // Thaw once the server's FIN has reached the frozen container's socket, after a freeze long
      // enough to count as one (a connection reused within a moment is judged without a yield).
      await until("the server's FIN to reach the frozen container", () => peerClosed(port));
      await sleep(Math.max(0, lastUsed + YIELD_AFTER_IDLE_MS + 10 - Date.now()));
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

  it('checks the connection before a pipelined invocation (Promise.all) sends anything after a thaw', async () => {
    const fn = uniqueName('fn');
    const c = new Container({ TEST_DATABASE_URL: databaseUrl(), FUNCTION_NAME: fn });
    try {
      const first = await c.invoke('pid');
      const lastUsed = Date.now();
      const [{ client_port: port }] = (
        await admin((a) => a.query('select client_port from pg_stat_activity where pid = $1', [first.result]))
      ).rows;
      c.freeze();
      await admin((a) => a.query('select pg_terminate_backend($1)', [first.result]));
      await until("the server's FIN to reach the frozen container", () => peerClosed(port));
      await sleep(Math.max(0, lastUsed + YIELD_AFTER_IDLE_MS + 10 - Date.now()));
      c.thaw();
      const second = await c.invoke(`many ${table}`);
      expect(second.ok).toBe(true);
      const { inserted, pids } = second.result as { inserted: number; pids: number[] };
      expect(inserted).toBe(1);
      // All three went out on one new connection; none was sent on the dead one.
      expect(new Set(pids).size).toBe(1);
      expect(pids[0]).not.toBe(first.result);
      expect(second.stats).toMatchObject({ opened: 2, staleReplaced: 1, retries: 0, outcomeUnknown: 0 });
      const rows = await admin((a) => a.query(`select count(*)::int as n from ${table} where v = 'after-freeze-many'`));
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
      await until('the old connection to be gone from the server', async () => {
        const pids = await backendsNamed(fn);
        return pids.length === 1 && pids[0] === second.result;
      });
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
