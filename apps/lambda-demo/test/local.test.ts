// scripts/local.mjs: the function running locally for `pnpm dev` and `pnpm demo`, as a function
// another script calls and as a command stopped with Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '@anypg/local';
import { afterAll, describe, expect, it } from 'vitest';
import { startLambdaDemo } from '../scripts/local.mjs';
import { APP_DIR, backendsOf, emptyDatabase } from './support/db.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('startLambdaDemo', () => {
  it('migrates, serves the API over pg, and stops everything on close()', async () => {
    const db = await emptyDatabase('local_pg');
    const demo = await startLambdaDemo({ databaseUrl: db.url, functionName: 'notes-local-pg' });
    expect(demo.backend).toBe('pg');
    const created = await fetch(`${demo.url}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'from startLambdaDemo' }),
    });
    expect(created.status).toBe(201);
    expect(await backendsOf(db.name, 'notes-local-pg')).toHaveLength(1);
    await demo.close();
    await expect(fetch(`${demo.url}/notes`)).rejects.toThrow();
    expect(demo.lambda.pid).toBeUndefined();
  });

  it('serves the same API over a Data API endpoint it starts itself', async () => {
    const db = await emptyDatabase('local_data_api');
    const demo = await startLambdaDemo({ databaseUrl: db.url, dataApi: true, functionName: 'notes-local-da' });
    try {
      expect(demo.backend).toBe('data-api');
      const r = await fetch(`${demo.url}/notes?limit=1`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ items: [], nextCursor: null });
      expect(await backendsOf(db.name, 'notes-local-da')).toEqual([]);
    } finally {
      await demo.close();
    }
  });
});

describe('node scripts/local.mjs', () => {
  it('prints the URL, serves it, and exits 0 on Ctrl-C (SIGINT)', async () => {
    const db = await emptyDatabase('local_cli');
    const port = await freePort();
    const child = spawn(process.execPath, ['scripts/local.mjs', '--port', String(port), '--quiet'], {
      cwd: APP_DIR,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (let i = 0; i < 200 && !out.includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain(`http://127.0.0.1:${port}/notes`);
    expect((await fetch(`http://127.0.0.1:${port}/notes`)).status).toBe(200);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/notes`)).rejects.toThrow();
  });

  it('refuses a bad --port with a clear message', async () => {
    const child = spawn(process.execPath, ['scripts/local.mjs', '--port', 'eighty'], {
      cwd: APP_DIR,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'postgresql://nobody@127.0.0.1:9/none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
    });
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(1);
    expect(err).toContain('--port must be a port number');
  });
});
