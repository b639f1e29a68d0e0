// `anypg-local neon`: a Neon-compatible endpoint until Ctrl-C, in front of --upstream or of an
// embedded PostgreSQL it starts itself.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { GUARD_FLAGS, GUARD_USAGE, guardOptions } from '../guard/cli-options.js';
import { startPostgres } from '../postgres/server.js';
import { startNeonEndpoint } from './server.js';

export const neonCommand: Command = {
  summary: 'a Neon-compatible HTTP + WebSocket endpoint in front of a PostgreSQL (embedded unless --upstream)',
  usage: `usage: anypg-local neon [--port N] [--host ADDR] [--upstream URL] [--allow-origin ORIGIN]... [--allow-host NAME]...

  --port      port for HTTP (/sql) and WebSocket (/v2) (default: a free one)
  --host      address to listen on (default 127.0.0.1)
  --upstream  the PostgreSQL to route to, postgresql://HOST:PORT (credentials in it are ignored:
              each request's connection string brings its own; any auth method works).
              Default: start an embedded PostgreSQL (random superuser password, printed).
${GUARD_USAGE}

Prints the neonConfig lines to paste into your code.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        upstream: { type: 'string' },
        ...GUARD_FLAGS,
      },
    });
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new TypeError(`--port must be a port number, got ${JSON.stringify(values.port)}`);
    }
    const pg = values.upstream === undefined ? await startPostgres() : undefined;
    try {
      const endpoint = await startNeonEndpoint({
        upstream: values.upstream ?? pg!.url,
        ...(port !== undefined && { port }),
        ...(values.host !== undefined && { host: values.host }),
        ...guardOptions(values),
      });
      console.log(
        `Neon endpoint on ${endpoint.httpUrl} -> PostgreSQL at ${endpoint.upstream.host}:${endpoint.upstream.port}\n`,
      );
      if (pg) console.log(`  DATABASE_URL=${pg.url}\n`);
      else console.log('  Use your DATABASE_URL as it is: user, password and database come from it.\n');
      console.log(`${endpoint.snippet()}\n`);
      console.log('Ctrl-C stops it.');
      return {
        async close() {
          await endpoint.close();
          await pg?.stop();
        },
      };
    } catch (err) {
      await pg?.stop();
      throw err;
    }
  },
};
