// Applies the SQL migrations drizzle-kit generated (migrations/*.sql, in the order of
// migrations/meta/_journal.json) through anypg, so the same command works wherever the function's
// database is: a URL (pg, through RDS Proxy or not) or the RDS Data API (ARNs in the environment).
//
// Each migration runs in its own transaction with its bookkeeping row, so it is applied entirely or
// not at all; a transaction-scoped advisory lock makes concurrent runs (two deploys) wait for each
// other; applied migrations are skipped, so running it again is harmless. A migration file that
// changed after it was applied is an error: write a new migration instead.
//
//   DATABASE_URL=postgresql://... node dist/migrate.mjs
//   ANYPG_DATA_API_RESOURCE_ARN=... ANYPG_DATA_API_SECRET_ARN=... node dist/migrate.mjs
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AnypgError, createDb } from 'anypg';
import { sql } from 'drizzle-orm';

/** Where applied migrations are recorded. */
export const MIGRATIONS_TABLE = 'anypg_migrations';
/** drizzle-kit's separator between statements (the Data API runs one statement per call). */
const BREAKPOINT = '--> statement-breakpoint';
/** Any constant works: it only has to be the same for every run of this migrator. */
const LOCK_KEY = 'anypg-lambda-demo-migrations';

export interface Migration {
  name: string;
  statements: string[];
  /** sha256 of the file (line endings normalised), to notice a migration edited after it ran. */
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

export interface MigrateOptions {
  /** Default: DATABASE_URL, or the Data API settings, from `env`. */
  url?: string;
  env?: Record<string, string | undefined>;
  /** Default: this app's migrations folder. */
  dir?: string;
  log?: (line: string) => void;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** The app's migrations folder, found from this module (src/ or dist/, one level below the app). */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL('../migrations/', import.meta.url));
}

export async function readMigrations(dir: string): Promise<Migration[]> {
  let journal: { entries?: { idx: number; tag: string }[] };
  try {
    journal = JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8'));
  } catch (err) {
    throw new MigrationError(
      `Cannot read ${join(dir, 'meta', '_journal.json')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): run drizzle-kit generate first.`,
    );
  }
  const entries = [...(journal.entries ?? [])].sort((a, b) => a.idx - b.idx);
  return Promise.all(
    entries.map(async ({ tag }) => {
      let text: string;
      try {
        text = (await readFile(join(dir, `${tag}.sql`), 'utf8')).replace(/\r\n/g, '\n');
      } catch {
        throw new MigrationError(`The journal lists ${tag}, but ${tag}.sql is missing from ${dir}.`);
      }
      const statements = text
        .split(BREAKPOINT)
        .map((s) => s.trim())
        .filter((s) => s !== '');
      return { name: tag, statements, checksum: createHash('sha256').update(text).digest('hex') };
    }),
  );
}

type MigrationDb = Pick<ReturnType<typeof createDb>, 'transaction'>;

export async function applyMigrations(
  db: MigrationDb,
  migrations: Migration[],
  log: (line: string) => void = () => {},
): Promise<MigrateResult> {
  const result: MigrateResult = { applied: [], skipped: [] };
  for (const m of migrations) {
    const applied = await db.transaction(async (tx) => {
      // Concurrent migrators queue here; the lock ends with the transaction. (Selected through a
      // subquery: the Data API cannot return a value of type void.)
      await tx.execute(sql`select true as locked from (select pg_advisory_xact_lock(hashtext(${LOCK_KEY}))) l`);
      await tx.execute(
        sql.raw(
          `create table if not exists ${MIGRATIONS_TABLE} (name text primary key, checksum text not null, applied_at timestamptz not null default now())`,
        ),
      );
      const found = await tx.execute(
        sql`select checksum from ${sql.identifier(MIGRATIONS_TABLE)} where name = ${m.name}`,
      );
      const row = found.rows[0] as { checksum: string } | undefined;
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(
            `Migration ${m.name} was changed after it was applied. Restore the file and put the change in a new migration (drizzle-kit generate).`,
          );
        }
        return false;
      }
      for (const statement of m.statements) await tx.execute(sql.raw(statement));
      await tx.execute(
        sql`insert into ${sql.identifier(MIGRATIONS_TABLE)} (name, checksum) values (${m.name}, ${m.checksum})`,
      );
      return true;
    });
    (applied ? result.applied : result.skipped).push(m.name);
    if (applied) log(`applied ${m.name}`);
  }
  return result;
}

/** Reads the migrations and applies the missing ones with a database handle of its own. */
export async function migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(options.dir ?? defaultMigrationsDir());
  const db = createDb({
    ...(options.url && { url: options.url }),
    env: options.env ?? process.env,
    applicationName: 'lambda-demo-migrate',
    pool: { max: 1 },
  });
  try {
    return await applyMigrations(db, migrations, options.log);
  } finally {
    await db.$close();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  try {
    const { applied, skipped } = await migrate({ log: (line) => console.log(line) });
    console.log(
      `migrations: ${applied.length} applied, ${skipped.length} already applied (${Date.now() - started} ms)`,
    );
  } catch (err) {
    // anypg's and ours never contain the password; say which kind of failure it was.
    const code = err instanceof AnypgError ? ` [${err.code}]` : '';
    console.error(`migrate failed${code}: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

/** True when this module is the script node was started with (node dist/migrate.mjs), not an import. */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) await main();
