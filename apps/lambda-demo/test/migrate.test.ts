// The migrations: drizzle-kit's files are up to date with the schema, and the migrate command
// (dist/migrate.mjs, anypg underneath) applies them in order, once, atomically, and safely when two
// deploys run it at the same time.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_TABLE, MigrationError, migrate, readMigrations } from '../src/migrate.js';
import { APP_DIR, adminQuery, emptyDatabase, freshDatabase, runMigrate, urlFor } from './support/db.js';

const run = promisify(execFile);
const MIGRATIONS = join(APP_DIR, 'migrations');
const temps: string[] = [];

function tempCopyOfMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-demo-migrations-'));
  temps.push(dir);
  cpSync(MIGRATIONS, dir, { recursive: true });
  return dir;
}

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const applied = (db: string) =>
  adminQuery<{ name: string }>(`select name from ${MIGRATIONS_TABLE} order by applied_at, name`, [], db);

describe('migrations', () => {
  it('are what drizzle-kit generates from src/schema.ts (nothing left to generate)', async () => {
    const out = tempCopyOfMigrations();
    const { stdout } = await run(
      process.execPath,
      [
        join(APP_DIR, 'node_modules/drizzle-kit/bin.cjs'),
        'generate',
        '--dialect=postgresql',
        '--schema=./src/schema.ts',
        // drizzle-kit puts './' in front of the folder: give it relative to the app.
        `--out=${relative(APP_DIR, out)}`,
      ],
      { cwd: APP_DIR },
    );
    expect(stdout).toContain('No schema changes');
    expect((await readMigrations(out)).map((m) => m.name)).toEqual(
      (await readMigrations(MIGRATIONS)).map((m) => m.name),
    );
  });

  it('are read in journal order, split at drizzle-kit statement breakpoints', async () => {
    const migrations = await readMigrations(MIGRATIONS);
    expect(migrations.map((m) => m.name)).toEqual(['0000_notes', '0001_length_checks']);
    expect(migrations[1]!.statements).toHaveLength(2);
    for (const m of migrations) for (const s of m.statements) expect(s).not.toContain('statement-breakpoint');
  });

  it('are applied by the migrate command, then skipped when it runs again', async () => {
    const { name, url } = await freshDatabase('migrate_twice'); // runs the command once
    expect((await applied(name)).map((r) => r.name)).toEqual(['0000_notes', '0001_length_checks']);
    // The second migration is there: the database refuses an empty title.
    await expect(adminQuery(`insert into notes (title) values ('')`, [], name)).rejects.toMatchObject({
      code: '23514',
      constraint: 'notes_title_length',
    });
    const again = await runMigrate({ DATABASE_URL: url });
    expect(again.stdout).toMatch(/0 applied, 2 already applied/);
    expect(again.stdout).not.toContain('applied 0000');
    expect(await applied(name)).toHaveLength(2);
  });

  it('runs each migration once when several migrators start together', async () => {
    const { name, url } = await emptyDatabase('migrate_race');
    const outputs = await Promise.all([1, 2, 3].map(() => runMigrate({ DATABASE_URL: url })));
    const appliedLines = outputs.flatMap((o) => o.stdout.split('\n').filter((l) => l.startsWith('applied ')));
    expect(appliedLines.sort()).toEqual(['applied 0000_notes', 'applied 0001_length_checks']);
    expect(await applied(name)).toHaveLength(2);
  });

  it('rolls back a failing migration entirely, and names it', async () => {
    const { name, url } = await freshDatabase('migrate_broken');
    const dir = tempCopyOfMigrations();
    const journal = JSON.parse(readFileSync(join(dir, 'meta/_journal.json'), 'utf8'));
    journal.entries.push({ idx: 2, version: '7', when: Date.now(), tag: '0002_broken', breakpoints: true });
    writeFileSync(join(dir, 'meta/_journal.json'), JSON.stringify(journal));
    writeFileSync(
      join(dir, '0002_broken.sql'),
      'CREATE TABLE "half_done" ("x" integer);--> statement-breakpoint\nSELECT * FROM "no_such_table";',
    );
    await expect(migrate({ url, dir })).rejects.toMatchObject({ code: 'DATABASE', sqlstate: '42P01' });
    expect(await applied(name)).toHaveLength(2);
    expect(await adminQuery(`select to_regclass('half_done') as t`, [], name)).toEqual([{ t: null }]);
  });

  it('fails with exit code 1 and a message without the password', async () => {
    const role = `${inject('runPrefix')}_role`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await adminQuery(`create role "${role}" login password '${password}'`);
    const url = new URL(urlFor('no_such_database'));
    url.username = role;
    url.password = password;
    const err = await runMigrate({ DATABASE_URL: url.toString() }).then(
      () => undefined,
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    expect(err).toMatchObject({ code: 1 });
    expect(err!.stderr).toMatch(/^migrate failed/);
    expect(err!.stderr).toContain('no_such_database');
    expect(err!.stderr + err!.stdout).not.toContain(password);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const { name, url } = await freshDatabase('migrate_edited');
    const dir = tempCopyOfMigrations();
    const file = join(dir, '0001_length_checks.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- an afterthought\n`);
    const err = await migrate({ url, dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain('0001_length_checks');
    expect(await applied(name)).toHaveLength(2);
  });
});
