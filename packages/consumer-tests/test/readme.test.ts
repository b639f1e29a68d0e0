// The READMEs' TypeScript, extracted from README.md and packages/client/README.md, type-checked as a
// user's project would check it: anypg (and @anypg/local) from the tarballs, the drivers and types
// the README names, strict tsc --noEmit under moduleResolution nodenext and bundler. A block whose
// first line names a file (`// schema.ts: ...`) is that file; Workers blocks (first line mentions
// Cloudflare Workers) are checked with the Workers types. Also: the README's esbuild commands are
// the ones the Lambda consumer tests run, and its .dev.vars settings are the local endpoint's.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exec } from '../src/exec.js';
import { ESBUILD_ARGS } from '../src/lambda.js';
import { clientDir, repoRoot } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { type CodeBlock, codeBlocks, shellWords } from '../src/readme.js';

const blocks = [
  ...codeBlocks(join(repoRoot, 'README.md'), 'README.md'),
  ...codeBlocks(join(clientDir, 'README.md'), 'packages/client/README.md'),
];
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const isWorker = (b: CodeBlock) => /Cloudflare Workers/.test(b.code.split('\n')[0] ?? '');

let project: Project;
/** Which snippet file came from which README line, for the failure message. */
const origin = new Map<string, string>();

beforeAll(async () => {
  const { anypg, local } = inject('tarballs');
  project = await createProject('readme', {
    dependencies: {
      anypg: `file:${anypg}`,
      '@anypg/local': `file:${local}`,
      'drizzle-orm': DEPS['drizzle-orm'],
      pg: DEPS.pg,
      '@neondatabase/serverless': DEPS['@neondatabase/serverless'],
      '@aws-sdk/client-rds-data': DEPS['@aws-sdk/client-rds-data'],
      // The tracing examples' packages.
      '@opentelemetry/api': '1.9.1',
      '@microlabs/otel-cf-workers': '1.0.0-rc.52', // 0.9.1's types export nothing under nodenext
    },
    devDependencies: {
      typescript: '7.0.2',
      '@types/node': '24.19.2',
      '@types/pg': '8.23.1',
      '@types/aws-lambda': '8.10.164',
      '@cloudflare/workers-types': '5.20261117.1',
    },
  });
  tsBlocks.forEach((b, i) => {
    const named = /^\/\/ ([\w.-]+\.ts)\b/.exec(b.code)?.[1];
    // The schema is imported by the others as ./schema.js: it keeps its name.
    const file = named === 'schema.ts' ? 'schema.ts' : `${isWorker(b) ? 'workers' : 'node'}/snippet-${i + 1}.ts`;
    project.write(
      file,
      b.code.replaceAll("from './schema.js'", file === 'schema.ts' ? "from './schema.js'" : "from '../schema.js'"),
    );
    origin.set(file, b.where);
  });
  const common = {
    strict: true,
    target: 'ES2023',
    noEmit: true,
    skipLibCheck: true,
    isolatedModules: true,
    verbatimModuleSyntax: false,
  };
  const node = { include: ['schema.ts', 'node/*.ts'], lib: ['ES2023'], types: ['node'] };
  const workers = {
    include: ['schema.ts', 'workers/*.ts'],
    lib: ['ES2023'],
    types: ['@cloudflare/workers-types', 'node'],
  };
  for (const [program, settings] of Object.entries({ node, workers })) {
    for (const [resolution, module] of [
      ['nodenext', 'nodenext'],
      ['bundler', 'preserve'],
    ]) {
      project.write(
        `tsconfig.${program}.${resolution}.json`,
        JSON.stringify({
          compilerOptions: {
            ...common,
            lib: settings.lib,
            types: settings.types,
            module,
            moduleResolution: resolution,
          },
          include: settings.include,
        }),
      );
    }
  }
});

afterAll(() => project?.remove());

it('finds the snippets: a schema, Lambda, Workers and Node ones', () => {
  expect(tsBlocks.length).toBeGreaterThanOrEqual(6);
  expect(tsBlocks.filter(isWorker).length).toBeGreaterThanOrEqual(2);
  expect(tsBlocks.some((b) => b.code.startsWith('// schema.ts'))).toBe(true);
});

describe.each(['node', 'workers'])('the %s snippets', (program) => {
  it.each(['nodenext', 'bundler'])('type-check under strict tsc, moduleResolution %s', async (resolution) => {
    const tsc = join(project.dir, 'node_modules/typescript/bin/tsc');
    const r = await exec(process.execPath, [tsc, '-p', `tsconfig.${program}.${resolution}.json`, '--pretty', 'false'], {
      cwd: project.dir,
      timeoutMs: 180_000,
    });
    // Name the README line of each error's file.
    const report = r.stdout.replace(/^([\w/.-]+\.ts)\(/gm, (_, f: string) => `${origin.get(f) ?? f} (${f})(`);
    expect(report + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

it('catches what the old snippets did wrong (the control): an implicit any, an extensionless import', async () => {
  project.write(
    'control/bad.ts',
    "import * as schema from '../schema';\nexport const pick = (row) => row;\nexport { schema };\n",
  );
  project.write(
    'tsconfig.control.json',
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        types: [],
      },
      include: ['control/*.ts'],
    }),
  );
  const tsc = join(project.dir, 'node_modules/typescript/bin/tsc');
  const r = await exec(process.execPath, [tsc, '-p', 'tsconfig.control.json', '--pretty', 'false'], {
    cwd: project.dir,
  });
  expect(r.code).not.toBe(0);
  expect(r.stdout).toMatch(/TS7006/); // parameter implicitly has an 'any' type
  expect(r.stdout).toMatch(/TS2834|TS2835/); // relative import paths need an extension under nodenext
});

it('gives the esbuild commands the Lambda consumer tests run, word for word', () => {
  const sh = blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.code.split('\n'));
  const commands = sh.filter((l) => l.startsWith('esbuild ')).map(shellWords);
  expect(commands).toEqual([
    ['esbuild', ...ESBUILD_ARGS.esm],
    ['esbuild', ...ESBUILD_ARGS.cjs],
  ]);
});

it('gives the local Neon endpoint settings that anypg-local prints, all four', () => {
  const line = blocks.flatMap((b) => b.code.split('\n')).find((l) => l.startsWith('NEON_LOCAL='));
  const settings = JSON.parse(line!.slice('NEON_LOCAL='.length)) as Record<string, unknown>;
  expect(Object.keys(settings).sort()).toEqual(Object.keys(inject('neonConfig')).sort());
  expect(settings).toMatchObject({ useSecureWebSocket: false, pipelineConnect: false });
});
