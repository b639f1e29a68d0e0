// `anypg-local data-api`: an RDS Data API endpoint until Ctrl-C, in front of --upstream or of an
// embedded PostgreSQL started for it.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { GUARD_FLAGS, GUARD_USAGE, guardOptions } from '../guard/cli-options.js';
import { assertPortFree } from '../ports.js';
import { startPostgres } from '../postgres/server.js';
import { startDataApiEndpoint } from './server.js';

export const dataApiCommand: Command = {
  summary: 'an RDS Data API endpoint for @aws-sdk/client-rds-data, in front of any PostgreSQL',
  usage: `usage: anypg-local data-api [--port N] [--host ADDR] [--upstream URL] [--lenient] [--transaction-timeout MS]
                          [--allow-origin ORIGIN]... [--allow-host NAME]...

  --port                 port to listen on (default: a free one)
  --host                 address to listen on (default 127.0.0.1)
  --upstream             postgresql://user:password@host:port/db to run statements on
                         (default: an ephemeral embedded PostgreSQL started for this endpoint)
  --lenient              bind unhinted strings as unknown, accept array parameters, return any type
                         (default: strict, as AWS)
  --transaction-timeout  roll back a transaction unused for MS milliseconds (default 180000, as AWS)
${GUARD_USAGE}`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        upstream: { type: 'string' },
        lenient: { type: 'boolean' },
        'transaction-timeout': { type: 'string' },
        ...GUARD_FLAGS,
      },
    });
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new TypeError(`--port must be a port number, got ${JSON.stringify(values.port)}`);
    }
    const timeout = values['transaction-timeout'] === undefined ? undefined : Number(values['transaction-timeout']);
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
      throw new TypeError('--transaction-timeout must be a positive number of milliseconds');
    }
    // Fail on a taken port before starting a PostgreSQL for nothing.
    if (port !== undefined) await assertPortFree(port, values.host ?? '127.0.0.1', 'RDS Data API endpoint');
    const pg = values.upstream === undefined ? await startPostgres() : undefined;
    try {
      const endpoint = await startDataApiEndpoint({
        upstream: values.upstream ?? pg!.url,
        ...(port !== undefined && { port }),
        ...(values.host !== undefined && { host: values.host }),
        ...(values.lenient && { strict: false }),
        ...(timeout !== undefined && { transactionTimeoutMs: timeout }),
        ...guardOptions(values),
      });
      console.log(
        `RDS Data API endpoint on ${endpoint.url}, in front of ${pg ? 'an ephemeral embedded PostgreSQL' : 'the upstream PostgreSQL'}${values.lenient ? ' (lenient)' : ''}.\n`,
      );
      if (pg) console.log(`  DATABASE_URL=${pg.url}   (the embedded PostgreSQL, for migrations)\n`);
      console.log(`${endpoint.snippet()}\n`);
      console.log(
        `or, for code using anypg (createDb() reads these), in the environment:\n\n${endpoint.envSnippet()}\n`,
      );
      console.log(`a Lambda handler with that environment:\n\n${endpoint.lambdaCommand()}\n`);
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
