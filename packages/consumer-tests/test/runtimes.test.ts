// The runtimes the README names, each on the packed package installed with npm (`anypg
// drizzle-orm pg @neondatabase/serverless`): Node 22.12 (the oldest supported) and 24, Bun, Deno
// (npm: specifiers resolved from node_modules, as Netlify Edge and Deno Deploy projects do) and
// Vercel's edge-runtime VM (a bundle built with the edge-light condition). Each reports what it
// detected and its default backend, and runs the conformance corpus's type queries through
// neon-http, plus pg where the runtime has TCP; drizzle's node-postgres driver in Node is the
// oracle (anypg's execute() gives what it gives: date and time types as text).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { EdgeRuntime } from 'edge-runtime';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SETUP_SQL, TYPE_CASES, typeQuery } from '../../client/test/conformance/corpus.js';
import { accepted } from '../../client/test/conformance/differences.js';
import { tag } from '../../client/test/workers/tagged.js';
import { run, userEnv } from '../src/exec.js';
import { tool } from '../src/paths.js';
import { type CorpusResult, type ProbeInput, type ProbeOutput, probeOutput, probeSource } from '../src/probe.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { VERSIONS } from '../src/runtimes.js';

// pg parses timestamp (without time zone) in the process's zone: every runtime and the oracle run in UTC.
process.env.TZ = 'UTC';

let project: Project;
let oracle: CorpusResult[];
const statements = TYPE_CASES.map(typeQuery);

beforeAll(async () => {
  project = await createProject('runtimes', {
    dependencies: {
      anypg: `file:${inject('tarballs').anypg}`,
      'drizzle-orm': DEPS['drizzle-orm'],
      pg: DEPS.pg,
      '@neondatabase/serverless': DEPS['@neondatabase/serverless'],
    },
  });
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  try {
    for (const s of SETUP_SQL) await client.query(s);
    oracle = [];
    const db = drizzle(client);
    for (const q of statements) {
      const r = (await db.execute(sql.raw(q))) as unknown as pg.QueryResult;
      oracle.push({ rows: tag(r.rows), oids: r.fields.map((f) => f.dataTypeID) });
    }
  } finally {
    await client.end();
  }
});

afterAll(() => project?.remove());

const input = (tcp: boolean): ProbeInput => ({
  url: inject('databaseUrl'),
  neonConfig: { ...inject('neonConfig') },
  statements,
  tcp,
});

/** Type cases whose answer differs from the oracle's (none is accepted for neon-http or pg). */
function mismatches(backend: string, got: CorpusResult[] | undefined): string[] {
  expect(got, `${backend} ran`).toBeDefined();
  return TYPE_CASES.flatMap((c, i) =>
    JSON.stringify(got![i]) === JSON.stringify(oracle[i]) || accepted(backend, c.name)
      ? []
      : [`${c.name}: got ${JSON.stringify(got![i])}, pg in Node gives ${JSON.stringify(oracle[i])}`],
  );
}

const env = () => userEnv({ TZ: 'UTC', NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1' });

const RUNTIMES: Array<{
  name: string;
  runtime: string;
  tcp: boolean;
  run: () => Promise<ProbeOutput>;
}> = [
  {
    name: `Node ${VERSIONS.node22}`,
    runtime: 'node',
    tcp: true,
    run: async () => {
      const file = project.write('probe.mjs', probeSource(input(true), { finish: 'stdout' }));
      const r = await run(inject('runtimes').node22, [file], { cwd: project.dir, env: env() });
      return probeOutput(r.stdout);
    },
  },
  {
    name: `Node ${process.versions.node}`,
    runtime: 'node',
    tcp: true,
    run: async () => {
      const file = project.write('probe.mjs', probeSource(input(true), { finish: 'stdout' }));
      return probeOutput((await run(process.execPath, [file], { cwd: project.dir, env: env() })).stdout);
    },
  },
  {
    name: `Bun ${VERSIONS.bun}`,
    runtime: 'bun',
    tcp: true,
    run: async () => {
      const file = project.write('probe.mjs', probeSource(input(true), { finish: 'stdout' }));
      return probeOutput((await run(inject('runtimes').bun, [file], { cwd: project.dir, env: env() })).stdout);
    },
  },
  {
    name: `Deno ${VERSIONS.deno}`,
    runtime: 'deno',
    tcp: true,
    run: async () => {
      const specifiers = { anypg: 'npm:anypg', 'drizzle-orm': 'npm:drizzle-orm' };
      const file = project.write('probe-deno.mjs', probeSource(input(true), { specifiers, finish: 'stdout' }));
      const r = await run(
        inject('runtimes').deno,
        ['run', '--allow-all', '--node-modules-dir=manual', '--no-lock', file],
        { cwd: project.dir, env: { ...env(), DENO_DIR: join(project.dir, '.deno') } },
      );
      return probeOutput(r.stdout);
    },
  },
  {
    name: 'edge-runtime (Vercel Edge)',
    runtime: 'edge-light',
    tcp: false,
    run: async () => {
      project.write('probe-edge.mjs', probeSource(input(false), { finish: 'global' }));
      // As Vercel builds an Edge Function: one bundle, the edge-light export condition first.
      const [command, ...pre] = tool('esbuild');
      await run(
        command,
        [
          ...pre,
          'probe-edge.mjs',
          '--bundle',
          '--format=iife',
          '--platform=neutral',
          '--main-fields=module,main',
          '--conditions=edge-light,worker,browser',
          '--outfile=dist/probe-edge.js',
          '--log-level=warning',
        ],
        { cwd: project.dir },
      );
      const code = readFileSync(join(project.dir, 'dist/probe-edge.js'), 'utf8');
      const vm = new EdgeRuntime({ initialCode: code });
      const json = (await vm.evaluate<Promise<string>>('globalThis.__probe')) as string;
      return JSON.parse(json) as ProbeOutput;
    },
  },
];

describe.each(RUNTIMES)('$name', ({ runtime, tcp, run: probe }) => {
  let out: ProbeOutput;
  beforeAll(async () => {
    out = await probe();
  });

  it(`is detected as ${runtime}, with ${tcp ? 'pg' : 'neon-http'} as the default backend`, () => {
    expect(out.runtime).toBe(runtime);
    expect(out.defaultBackend).toBe(tcp ? 'pg' : 'neon-http');
  });

  it("returns the corpus through neon-http as drizzle's node-postgres driver in Node does", () => {
    expect(mismatches('neon-http', out.neonHttp)).toEqual([]);
  });

  // The edge VM has no TCP: no pg there (the bundle test proves the edge build does not carry it).
  if (tcp) {
    it("returns the corpus through pg as drizzle's node-postgres driver in Node does", () => {
      expect(mismatches('pg', out.pg)).toEqual([]);
    });
  } else {
    it("refuses backend: 'pg' at createDb, naming why", () => {
      expect(out.pgRefused).toMatch(/Backend pg .* is not in this build of anypg|needs TCP sockets/);
    });
  }
});
