// `anypg-local pgbouncer`: a PgBouncer until Ctrl-C, in front of --upstream or of an embedded
// PostgreSQL it starts itself.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { startPostgres } from '../postgres/server.js';
import { type PoolMode, startPgBouncer } from './server.js';

export const pgbouncerCommand: Command = {
  summary: 'a PgBouncer (transaction mode) in front of a PostgreSQL (embedded unless --upstream)',
  usage: `usage: anypg-local pgbouncer [--upstream URL] [--port N] [--host ADDR] [--mode transaction|session|statement]
                           [--pool-size N] [--ignore-startup-parameters a,b]

  --upstream   the PostgreSQL to pool, postgresql://user:password@host:port/db; clients log in
               through PgBouncer with the same user and password. Default: start an embedded
               PostgreSQL.
  --port       port to listen on (default: a free one)
  --host       address to listen on (default 127.0.0.1)
  --mode       pool mode (default transaction)
  --pool-size  server connections per user and database (default 20)
  --ignore-startup-parameters
               startup parameters to accept and drop (e.g. statement_timeout); by default
               PgBouncer refuses clients that send them

Needs the pgbouncer executable (apt-get install -y pgbouncer), or ANYPG_PGBOUNCER_BIN.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        upstream: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        mode: { type: 'string' },
        'pool-size': { type: 'string' },
        'ignore-startup-parameters': { type: 'string' },
      },
    });
    const int = (name: string, v: string | undefined, max: number) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!(Number.isInteger(n) && n > 0 && n <= max))
        throw new TypeError(`--${name} must be a number from 1 to ${max}, got ${JSON.stringify(v)}`);
      return n;
    };
    const port = int('port', values.port, 65535);
    const poolSize = int('pool-size', values['pool-size'], 10_000);
    const mode = values.mode as PoolMode | undefined;
    if (mode !== undefined && !['transaction', 'session', 'statement'].includes(mode)) {
      throw new TypeError(`--mode must be transaction, session or statement, got ${JSON.stringify(mode)}`);
    }
    const pg = values.upstream === undefined ? await startPostgres() : undefined;
    try {
      const bouncer = await startPgBouncer({
        upstream: values.upstream ?? pg!.url,
        ...(port !== undefined && { port }),
        ...(values.host !== undefined && { host: values.host }),
        ...(mode !== undefined && { poolMode: mode }),
        ...(poolSize !== undefined && { defaultPoolSize: poolSize }),
        ...(values['ignore-startup-parameters'] !== undefined && {
          ignoreStartupParameters: values['ignore-startup-parameters'].split(',').filter(Boolean),
        }),
      });
      console.log(
        `PgBouncer (${bouncer.poolMode} mode) on ${bouncer.host}:${bouncer.port} -> PostgreSQL at ${bouncer.upstream.host}:${bouncer.upstream.port}\n`,
      );
      // The upstream URL came from the user (they know its password) or is our own local server.
      console.log(`  DATABASE_URL=${bouncer.url}\n`);
      if (pg) console.log(`  direct, without PgBouncer: ${pg.url}\n`);
      console.log(`Admin console (SHOW POOLS): psql ${bouncer.adminUrl}\n`);
      console.log('Ctrl-C stops it.');
      return {
        async close() {
          await bouncer.close();
          await pg?.stop();
        },
      };
    } catch (err) {
      await pg?.stop();
      throw err;
    }
  },
};
