// What `anypg-local data-api` prints is exactly what a Lambda needs to reach it through anypg:
// - its environment block, alone, makes `createDb()` (a fresh process with that env and nothing
//   else: anypg's ANYPG_DATA_API_* variables, the AWS SDK's endpoint, region and credentials) use
//   the Data API and reach the endpoint, and the app's migrate command works with it;
// - the `anypg-local lambda` command line it prints runs the app's handler on the Data API, as is.
// Both CLIs are the built ones, run as a user runs them.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { budget } from '@anypg/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DIR, adminQuery, emptyDatabase, HANDLER, runMigrate } from './support/db.js';

const CLI = join(dirname(createRequire(import.meta.url).resolve('@anypg/local/package.json')), 'dist', 'cli.js');
const children: ChildProcess[] = [];

/** Starts the CLI and resolves with its output once `ready` matches it. */
function runCli(args: string[]): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`anypg-local ${args[0]} printed nothing ready:\n${out}\n${err}`)),
      budget(30_000),
    );
    const check = () => {
      if (out.includes('Ctrl-C stops it.')) {
        clearTimeout(timer);
        resolve({ child, out: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`anypg-local ${args[0]} exited (${code}):\n${out}\n${err}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

/** The text between a heading line and the next blank line. */
function section(out: string, heading: string): string {
  const start = out.indexOf(heading);
  if (start < 0) throw new Error(`no "${heading}" in:\n${out}`);
  return out
    .slice(start + heading.length)
    .trim()
    .split('\n\n')[0]!;
}

let db: { name: string; url: string };
let printed: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await emptyDatabase('printed_env');
  const { out } = await runCli(['data-api', '--upstream', db.url]);
  printed = out();
  env = Object.fromEntries(
    section(printed, 'in the environment:')
      .split('\n')
      .map((line) => {
        const eq = line.indexOf('=');
        return [line.slice(0, eq), line.slice(eq + 1)];
      }),
  );
});

afterAll(async () => {
  await Promise.all(children.map(stop));
});

describe('the environment block `anypg-local data-api` prints', () => {
  it("names what anypg and the AWS SDK read, and the upstream's database", () => {
    expect(Object.keys(env).sort()).toEqual([
      'ANYPG_DATA_API_DATABASE',
      'ANYPG_DATA_API_RESOURCE_ARN',
      'ANYPG_DATA_API_SECRET_ARN',
      'AWS_ACCESS_KEY_ID',
      'AWS_ENDPOINT_URL_RDS_DATA',
      'AWS_REGION',
      'AWS_SECRET_ACCESS_KEY',
    ]);
    expect(env.ANYPG_DATA_API_DATABASE).toBe(db.name);
    expect(env.AWS_ENDPOINT_URL_RDS_DATA).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it(
    'is all createDb() needs: a process with only that environment queries through the endpoint',
    async () => {
      const script = `
      import { createDb } from 'anypg';
      import { sql } from 'drizzle-orm';
      const db = createDb();
      const r = await db.execute(sql\`select current_database() as db, 41 + 1 as n\`);
      console.log(JSON.stringify({ backend: db.$backend.backend, rows: r.rows }));
      await db.$close();
    `;
      // Nothing but the printed block: no PATH, no HOME (so no ~/.aws), no DATABASE_URL.
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        env,
        cwd: APP_DIR,
      });
      expect(JSON.parse(stdout)).toEqual({ backend: 'data-api', rows: [{ db: db.name, n: 42 }] });
    },
    budget(60_000),
  ); // a cold Node process importing drizzle and the SDK: seconds on a busy machine

  it("makes the app's migrate command work through the Data API", async () => {
    const { stdout } = await runMigrate(env);
    expect(stdout).toMatch(/migrations: 2 applied/);
    expect(await adminQuery(`select count(*)::int as n from anypg_migrations`, [], db.name)).toEqual([{ n: 2 }]);
  });
});

describe('the `anypg-local lambda` command it prints', () => {
  it(
    'runs the handler on the Data API as printed (the region as --region)',
    async () => {
      const command = section(printed, 'a Lambda handler with that environment:').replaceAll(' \\\n  ', ' ');
      const [program, sub, handler, ...args] = command.split(' ');
      expect([program, sub, handler]).toEqual(['anypg-local', 'lambda', '<your-built-handler.mjs>']);
      expect(args.slice(0, 2)).toEqual(['--region', env.AWS_REGION]);
      const { out } = await runCli(['lambda', `${HANDLER}#handler`, ...args]);
      const base = out().match(/^ {2}(http:\/\/127\.0\.0\.1:\d+)$/m)?.[1];
      expect(base).toBeDefined();
      const created = await fetch(`${base}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'from the printed command' }),
      });
      expect(created.status).toBe(201);
      const list = (await (await fetch(`${base}/notes`)).json()) as { items: { title: string }[] };
      expect(list.items.map((n) => n.title)).toEqual(['from the printed command']);
      expect(await adminQuery(`select title from notes`, [], db.name)).toEqual([{ title: 'from the printed command' }]);
    },
    budget(60_000),
  );

  it('refuses --env AWS_REGION (Lambda sets it) and says to use --region', async () => {
    const { stderr, code } = await new Promise<{ stderr: string; code: number | null }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'lambda', HANDLER, '--env', 'AWS_REGION=eu-west-1'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.once('exit', (c) => resolve({ stderr, code: c }));
    });
    expect(code).toBe(1);
    expect(stderr).toContain('use --region eu-west-1');
  });
});
