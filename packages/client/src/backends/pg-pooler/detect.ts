// Is there a transaction-mode pooler between us and PostgreSQL? Told from the URL alone (no
// network, no environment): the host names the managed poolers publish, Prisma's `pgbouncer=true`
// convention, or what the caller said. Explicit always wins.
//
// Host patterns (from the providers' documentation and published connection strings):
//   RDS Proxy     <proxy>.proxy-<id>.<region>.rds.amazonaws.com
//                 <endpoint>.endpoint.proxy-<id>.<region>.rds.amazonaws.com  (custom endpoints)
//                 China: ...<region>.rds.amazonaws.com.cn
//   Supavisor     aws-0-<region>.pooler.supabase.com (also aws-1-...): port 6543 is transaction
//                 mode; port 5432 is session mode (one server connection per client, no pooling hazards)
//   Supabase      db.<ref>.supabase.co:6543 is the dedicated pooler, a PgBouncer in transaction mode
//   Neon          ep-<name>-<id>-pooler.<region>.aws.neon.tech: the first label ends in `-pooler`
//                 (Neon runs PgBouncer >= 1.22 there, with protocol-level prepared statements)
//   Hyperdrive    <id>.hyperdrive.local, the host a Worker's binding hands out
//   PgBouncer     anything, when the URL says `?pgbouncer=true` or the caller says so

export type PoolerKind = 'rds-proxy' | 'pgbouncer' | 'supavisor' | 'neon-pooler' | 'hyperdrive';

export interface PoolerDetection {
  /** undefined: no pooler known (a direct connection, or a pooler in session mode). */
  kind: PoolerKind | undefined;
  /** Why, in words, for `db.$backend.reason`. Never contains credentials (hosts and ports only). */
  evidence: string;
}

const KINDS: readonly PoolerKind[] = ['rds-proxy', 'pgbouncer', 'supavisor', 'neon-pooler', 'hyperdrive'];

// <name>[.endpoint].proxy-<id>.<region>.rds.amazonaws.com[.cn]; also rds.<region>.amazonaws.com[.cn].
const RDS_PROXY =
  /^[a-z0-9-]+\.(?:endpoint\.)?proxy-[a-z0-9]+\.(?:[a-z0-9-]+\.rds\.amazonaws\.com|rds\.[a-z0-9-]+\.amazonaws\.com)(?:\.cn)?$/;
const SUPAVISOR = /\.pooler\.supabase\.com$/;
const SUPABASE_DB = /^db\.[a-z0-9]+\.supabase\.co$/;
// Neon's own domains; Vercel Postgres hands out Neon hosts under vercel-storage.com.
const NEON_DOMAIN = /\.(?:neon\.tech|neon\.build|vercel-storage\.com)$/;

/**
 * The pooler a URL goes through. `explicit` (the `pooler` option) wins; `'none'` says there is
 * none whatever the host looks like.
 */
export function detectPooler(
  host: string,
  port: number,
  params: Record<string, string>,
  explicit?: PoolerKind | 'none',
): PoolerDetection {
  if (explicit === 'none') return { kind: undefined, evidence: 'pooler: none was asked for' };
  if (explicit !== undefined) {
    // Options may come from untyped config: check rather than trust.
    if (!KINDS.includes(explicit)) return { kind: undefined, evidence: `unknown pooler option ignored` };
    return { kind: explicit, evidence: `pooler: '${explicit}' was asked for` };
  }
  const h = host.toLowerCase().replace(/\.$/, '');
  if (RDS_PROXY.test(h)) return { kind: 'rds-proxy', evidence: `host ${h} is an RDS Proxy endpoint` };
  if (SUPAVISOR.test(h)) {
    if (port === 6543) return { kind: 'supavisor', evidence: `host ${h} port 6543 is Supavisor in transaction mode` };
    return {
      kind: undefined,
      evidence: `host ${h} port ${port} is Supavisor in session mode (one server connection per client)`,
    };
  }
  if (SUPABASE_DB.test(h) && port === 6543) {
    return { kind: 'pgbouncer', evidence: `host ${h} port 6543 is Supabase's dedicated PgBouncer` };
  }
  const first = h.split('.')[0] ?? '';
  if (first.endsWith('-pooler') && NEON_DOMAIN.test(h)) {
    return { kind: 'neon-pooler', evidence: `host ${h} is Neon's pooled endpoint (-pooler)` };
  }
  if (h.endsWith('.hyperdrive.local')) return { kind: 'hyperdrive', evidence: `host ${h} is a Hyperdrive binding` };
  const flag = params.pgbouncer?.toLowerCase();
  if (flag === 'true' || flag === '1') return { kind: 'pgbouncer', evidence: 'the URL says pgbouncer=true' };
  return { kind: undefined, evidence: `host ${h} is not a known pooler` };
}

/** detectPooler for parsed connection parts, undefined when there is no pooler (createDb's shape). */
export function poolerOf(
  url: { host: string; port: number; params: Record<string, string> },
  explicit?: PoolerKind | 'none',
): { kind: PoolerKind; evidence: string } | undefined {
  const found = detectPooler(url.host, url.port, url.params, explicit);
  return found.kind === undefined ? undefined : { kind: found.kind, evidence: found.evidence };
}

/** What each pooler can keep, for the pg transport's settings. */
export interface PoolerTraits {
  /**
   * Protocol-level named prepared statements survive (the pooler tracks them per server connection).
   * RDS Proxy: they pin the session. PgBouncer: only >= 1.21 with max_prepared_statements, which a
   * client cannot see, so off. Supavisor: not in transaction mode. Neon (PgBouncer 1.22, configured)
   * and Hyperdrive: yes.
   */
  namedStatements: boolean;
  /**
   * Startup parameters besides application_name / client_encoding / DateStyle / TimeZone the pooler
   * accepts. PgBouncer refuses unknown ones (08P01 "unsupported startup parameter: statement_timeout"),
   * so statement_timeout and options must not be sent; set them on the role or database instead
   * (ALTER ROLE ... SET statement_timeout), or use SET LOCAL inside a transaction.
   */
  extraStartupParameters: boolean;
  /** The pooler passes a CancelRequest on. RDS Proxy does not (AWS: "doesn't support canceling a query"). */
  cancelRequests: boolean;
  /**
   * Statements of different callers may be pipelined (several Syncs in flight on one client
   * connection). PgBouncer 1.18 releases the server connection when it has answered every Sync it
   * has read, even while the next statement's first messages are already forwarded to it: with the
   * client's bytes arriving in pieces (any network but loopback), the rest of that statement then
   * goes to another server connection and the pieces left behind corrupt the session of whichever
   * client gets it next (observed: 22021 and 08P01 errors on other clients). Supavisor had the same
   * class of bug. One unit per round trip (a batch, BEGIN with the first statement) is safe: the
   * pooler holds the link until its single Sync is answered. Off for every pooler until one is
   * shown to be safe.
   */
  pipelining: boolean;
}

export const POOLER_TRAITS: Readonly<Record<PoolerKind, PoolerTraits>> = {
  // RDS Proxy refuses statement_timeout as a startup parameter (reported by users of pg, SQLAlchemy
  // and TypeORM; not observed here).
  'rds-proxy': { namedStatements: false, extraStartupParameters: false, cancelRequests: false, pipelining: false },
  // Observed with PgBouncer 1.18 (packages/local's PgBouncer tests).
  pgbouncer: { namedStatements: false, extraStartupParameters: false, cancelRequests: true, pipelining: false },
  // Supavisor, Neon's pooler and Hyperdrive: startup parameters not verified (inferred: be strict).
  supavisor: { namedStatements: false, extraStartupParameters: false, cancelRequests: true, pipelining: false },
  'neon-pooler': { namedStatements: true, extraStartupParameters: false, cancelRequests: true, pipelining: false },
  hyperdrive: { namedStatements: true, extraStartupParameters: false, cancelRequests: true, pipelining: false },
};

/** The AWS region in an RDS or RDS Proxy host name (for IAM signing), if it has one. */
export function regionFromRdsHost(host: string): string | undefined {
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  const rds = labels.lastIndexOf('rds');
  if (rds < 1 || !labels.includes('amazonaws')) return undefined;
  // <...>.<region>.rds.amazonaws.com[.cn], or <...>.rds.<region>.amazonaws.com.cn
  const before = labels[rds - 1]!;
  const after = labels[rds + 1]!;
  const region = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
  if (region.test(before)) return before;
  if (after && region.test(after)) return after;
  return undefined;
}
