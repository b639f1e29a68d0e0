// Which backend a createDb() call gets, and why. Explicit beats implicit:
//   1. the `backend` option;
//   2. the ANYPG_BACKEND environment variable;
//   3. what is configured: a Hyperdrive binding in `env`, Data API ARNs, the URL's host
//      (a Neon host on a runtime without TCP, a known pooler);
//   4. the runtime: a pg pool where TCP exists.
// A choice the runtime cannot honour fails here, naming the alternatives.
import { ConfigurationError } from '../errors.js';
import type { DetectedRuntime, RuntimeName } from '../runtime/detect.js';
import type { BackendName } from '../transport/info.js';

export const BACKENDS: readonly BackendName[] = ['pg', 'pg-pooler', 'neon-http', 'neon-ws', 'hyperdrive', 'data-api'];

/** Runtimes that can open raw TCP connections from a long-lived scope. */
const TCP_RUNTIMES: ReadonlySet<RuntimeName> = new Set(['node', 'aws-lambda', 'vercel', 'bun', 'deno']);

/** Which runtimes each backend can run on. */
const RUNS_ON: Record<BackendName, (r: RuntimeName) => boolean> = {
  pg: (r) => TCP_RUNTIMES.has(r),
  'pg-pooler': (r) => TCP_RUNTIMES.has(r),
  'neon-http': () => true,
  'neon-ws': () => true,
  hyperdrive: (r) => r === 'workerd' || TCP_RUNTIMES.has(r),
  'data-api': (r) => TCP_RUNTIMES.has(r),
};

export interface HyperdriveBinding {
  connectionString: string;
}

export interface Resolution {
  backend: BackendName;
  reason: string;
  /** The Hyperdrive binding's name, when one decided it. */
  binding?: string;
}

export interface ResolveInput {
  explicit: BackendName | undefined;
  env: Record<string, unknown>;
  runtime: DetectedRuntime;
  /** Hostname of the URL, if there is one. */
  host: string | undefined;
  /** The URL says it goes through a pooler (detected from its host or parameters). */
  pooler: { kind: string; evidence: string } | undefined;
  /** Data API settings were given (options or environment). */
  dataApi: boolean;
  /** A Neon-compatible endpoint was configured explicitly (e.g. a local one). */
  neonEndpoint: boolean;
  /** Backends this build contains. */
  available: readonly BackendName[];
  /** The Hyperdrive binding name asked for, if any. */
  hyperdriveBinding: string | undefined;
}

/**
 * A Hyperdrive binding, or an object shaped like one. workerd's binding is told by its class alone:
 * its properties are getters that throw at global scope ("Disallowed operation called within global
 * scope"), and a db may be created there (`import { env } from 'cloudflare:workers'`). Shape alone
 * would not do: `'connectionString' in fetcher` is true for a service binding (an RPC stub).
 */
export function isHyperdriveBinding(v: unknown): v is HyperdriveBinding {
  if (typeof v !== 'object' || v === null) return false;
  if (Object.prototype.toString.call(v) === '[object Hyperdrive]') return true;
  return typeof (v as HyperdriveBinding).connectionString === 'string' && 'host' in v && 'port' in v;
}

/** The first env entry that looks like a Hyperdrive binding (or the one named). */
export function findHyperdrive(env: Record<string, unknown>, name?: string): string | undefined {
  if (name) return isHyperdriveBinding(env[name]) ? name : undefined;
  for (const [key, value] of Object.entries(env)) if (isHyperdriveBinding(value)) return key;
  return undefined;
}

export function isNeonHost(host: string | undefined): boolean {
  return !!host && /\.neon\.(tech|build)$/i.test(host);
}

export function resolveBackend(input: ResolveInput): Resolution {
  const { runtime } = input;
  const where = `${runtime.name} (${runtime.evidence})`;
  const choose = (backend: BackendName, why: string, binding?: string): Resolution => {
    check(backend, why, input);
    return { backend, reason: why, ...(binding && { binding }) };
  };

  if (input.explicit) return choose(input.explicit, `backend: '${input.explicit}' was asked for`);
  const fromEnv = input.env.ANYPG_BACKEND;
  if (typeof fromEnv === 'string' && fromEnv !== '') {
    if (!BACKENDS.includes(fromEnv as BackendName)) {
      throw new ConfigurationError('ANYPG_BACKEND', `ANYPG_BACKEND must be one of ${BACKENDS.join(', ')}.`);
    }
    return choose(fromEnv as BackendName, `ANYPG_BACKEND is ${fromEnv}`);
  }
  const binding = findHyperdrive(input.env, input.hyperdriveBinding);
  if (binding) return choose('hyperdrive', `binding ${binding} found in env`, binding);
  if (input.hyperdriveBinding) {
    throw new ConfigurationError(
      'hyperdrive.binding',
      `No Hyperdrive binding named ${input.hyperdriveBinding} in env. Check the binding name in your wrangler config and pass the Worker's env to createDb({ env }).`,
    );
  }
  if (input.dataApi) return choose('data-api', 'Data API resource and secret ARNs are configured');
  const tcp = TCP_RUNTIMES.has(runtime.name);
  if (!tcp && (isNeonHost(input.host) || input.neonEndpoint)) {
    // A local URL with neon.fetchEndpoint is a Neon-compatible endpoint, not a Neon database.
    const what = isNeonHost(input.host)
      ? 'the URL is a Neon database'
      : 'neon.fetchEndpoint names a Neon-compatible endpoint';
    return choose('neon-http', `${where} has no TCP sockets; ${what}, reached over HTTP`);
  }
  if (tcp && input.pooler) {
    return choose('pg-pooler', `${where}: ${input.pooler.kind} detected (${input.pooler.evidence})`);
  }
  if (tcp) {
    return choose(
      'pg',
      runtime.name === 'aws-lambda'
        ? `${where}: a pg pool of one connection per container, reused by warm invocations`
        : `${where}: a pg pool`,
    );
  }
  throw new ConfigurationError(
    'backend',
    `${where} cannot open TCP connections, and nothing else is configured. Use a Neon database (neon-http over fetch), a Hyperdrive binding in a Cloudflare Worker (pass env), or the RDS Data API.`,
  );
}

function check(backend: BackendName, why: string, input: ResolveInput): void {
  if (!BACKENDS.includes(backend)) {
    throw new ConfigurationError('backend', `backend must be one of ${BACKENDS.join(', ')} (${why}).`);
  }
  if (!input.available.includes(backend)) {
    throw new ConfigurationError(
      'backend',
      `Backend ${backend} (${why}) is not in this build of anypg, which has ${input.available.join(', ')}. The edge build leaves out the TCP and AWS backends; on Node, import anypg's node entry.`,
    );
  }
  if (!RUNS_ON[backend](input.runtime.name)) {
    const alternatives = input.available.filter((b) => RUNS_ON[b](input.runtime.name));
    throw new ConfigurationError(
      'backend',
      `Backend ${backend} (${why}) needs TCP sockets, which ${input.runtime.name} does not have. Use one of: ${alternatives.join(', ')}.`,
    );
  }
}
