// `wrangler types` checked against the code: the bindings wrangler.jsonc declares, typed by wrangler
// itself (offline), must give the worker's fetch handler every binding it reads, with a type it
// accepts. The code declares its own Env (src/), so a binding renamed in wrangler.jsonc would
// otherwise only show up as a missing binding at run time, after a deploy.
//
// Each check generates the binding types into a temporary folder (`wrangler types
// --include-runtime=false`: the runtime types come from @cloudflare/workers-types, which the repo
// already has) and typechecks the worker's code (src/index.ts and what it imports) with them and a
// small file of assertions. `wrangler deploy --dry-run` stays in the package's build, which `pnpm
// test` runs first.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { budget } from '@anypg/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const APP = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(APP, 'wrangler.jsonc');
const WRANGLER = join(dirname(require.resolve('wrangler/package.json')), 'bin/wrangler.js');
const TSC = join(dirname(require.resolve('typescript/package.json')), 'bin/tsc');
const WORKERS_TYPES = join(dirname(require.resolve('@cloudflare/workers-types/package.json')), 'index.d.ts');
const BASE_TSCONFIG = fileURLToPath(new URL('../../../../tsconfig.base.json', import.meta.url));

// What the code must get. `Cloudflare.Env` holds the bindings of the top level and of every named
// environment (a binding absent from some of them is optional there); `Cloudflare.LocalEnv` is
// `env.local`, what `wrangler dev --env local` and the tests run. DATABASE_URL is a secret at the
// top level (`wrangler secret put`), so only it may be missing from some environment.
const ASSERTIONS = `
import type worker from ${JSON.stringify(join(APP, 'src/index.js'))};

/** What the worker reads: the env its fetch handler takes. */
type CodeEnv = Parameters<typeof worker.fetch>[1];
/** Bindings the deployed worker gets from \`wrangler secret put\`, not from wrangler.jsonc. */
type Secrets = 'DATABASE_URL';

/** Why a generated env does not give the code what it reads (never, when it does). */
type Problems<Generated, MayBeAbsent extends PropertyKey> = {
  [K in keyof CodeEnv & string]-?: K extends keyof Generated
    ? NonNullable<Generated[K]> extends NonNullable<CodeEnv[K]>
      ? {} extends Pick<Generated, K>
        ? K extends MayBeAbsent
          ? never
          : \`\${K}: declared only in some environments of wrangler.jsonc\`
        : never
      : \`\${K}: wrangler.jsonc binds a type the code does not accept\`
    : \`\${K}: the code reads it, wrangler.jsonc does not declare it\`;
}[keyof CodeEnv & string];

type Ok<P> = [P] extends [never] ? 'ok' : P;

export const everyEnvironment: Ok<Problems<Cloudflare.Env, Secrets>> = 'ok';
export const local: Ok<Problems<Cloudflare.LocalEnv, never>> = 'ok';
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'worker-demo-types-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of wrangler.jsonc with `edit` applied, in a folder of its own; returns its path. */
function editedConfig(name: string, edit: (text: string) => string): string {
  const text = readFileSync(CONFIG, 'utf8').replace(
    '"main": "src/index.ts"',
    `"main": ${JSON.stringify(join(APP, 'src/index.ts'))}`,
  );
  const edited = edit(text);
  expect(edited, 'the edit changed nothing').not.toBe(text);
  const path = join(dir, `${name}.jsonc`);
  writeFileSync(path, edited);
  return path;
}

/** Generates the binding types of `config` and typechecks the worker's code with them. */
async function check(name: string, config: string): Promise<{ ok: boolean; output: string }> {
  const out = join(dir, name);
  mkdirSync(out);
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
  await run(
    process.execPath,
    [WRANGLER, 'types', join(out, 'env.d.ts'), '-c', config, '--include-runtime=false', '--include-main-module=false'],
    { cwd: dir, env },
  );
  writeFileSync(join(out, 'check.mts'), ASSERTIONS);
  writeFileSync(
    join(out, 'tsconfig.json'),
    JSON.stringify({
      extends: BASE_TSCONFIG,
      // The workers runtime's globals instead of the DOM's; Node's come in through pg's types.
      compilerOptions: { noEmit: true, lib: ['ES2023'], types: [] },
      files: ['env.d.ts', 'check.mts', WORKERS_TYPES],
    }),
  );
  try {
    const { stdout } = await run(process.execPath, [TSC, '-p', join(out, 'tsconfig.json')], { cwd: out });
    return { ok: true, output: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (e.code !== 1) throw err; // tsc exits 1 on type errors; anything else is a broken run
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('wrangler types, checked against the worker code', () => {
  it(
    'wrangler.jsonc gives the fetch handler every binding it reads, in every environment',
    async () => {
      const { ok, output } = await check('as-is', CONFIG);
      expect(output).toBe('');
      expect(ok).toBe(true);
    },
    budget(180_000),
  );

  it(
    'fails when a binding is renamed in wrangler.jsonc (HYPERDRIVE -> DB everywhere)',
    async () => {
      const config = editedConfig('renamed', (t) => t.replaceAll('"binding": "HYPERDRIVE"', '"binding": "DB"'));
      const { ok, output } = await check('renamed', config);
      expect(ok).toBe(false);
      expect(output).toContain('HYPERDRIVE: the code reads it, wrangler.jsonc does not declare it');
    },
    budget(180_000),
  );

  it(
    'fails when only the deployed top level renames it (env.local still has HYPERDRIVE)',
    async () => {
      const config = editedConfig('renamed-top-level', (t) => t.replace('"binding": "HYPERDRIVE"', '"binding": "DB"'));
      const { ok, output } = await check('renamed-top-level', config);
      expect(ok).toBe(false);
      expect(output).toContain('HYPERDRIVE: declared only in some environments of wrangler.jsonc');
      expect(output).not.toContain('does not declare it');
    },
    budget(180_000),
  );
});
