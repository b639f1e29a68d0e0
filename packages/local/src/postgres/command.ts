// `anypg-local postgres`: a PostgreSQL server until Ctrl-C.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { startPostgres } from './server.js';

export const postgresCommand: Command = {
  summary: 'a local PostgreSQL (embedded PostgreSQL 18), ephemeral unless --data is given',
  usage: `usage: anypg-local postgres [--port N] [--host ADDR] [--data DIR] [--password PW] [--set name=value]...

  --port      port to listen on (default: a free one)
  --host      address to listen on (default 127.0.0.1)
  --data      keep the cluster in DIR (default: a temp folder removed at exit)
  --password  superuser password (default: a random one, printed in DATABASE_URL; a --data
              cluster keeps the one it got first)
  --set       a server setting, repeatable: --set max_connections=50`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        data: { type: 'string' },
        password: { type: 'string' },
        set: { type: 'string', multiple: true },
      },
    });
    const settings: Record<string, string> = {};
    for (const kv of values.set ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new TypeError(`--set takes name=value, got ${JSON.stringify(kv)}`);
      settings[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new TypeError(`--port must be a port number, got ${JSON.stringify(values.port)}`);
    }
    const pg = await startPostgres({
      ...(port !== undefined && { port }),
      ...(values.host !== undefined && { host: values.host }),
      ...(values.data !== undefined && { dataDir: values.data }),
      ...(values.password !== undefined && { password: values.password }),
      settings,
    });
    console.log(`PostgreSQL ${pg.persistent ? `(data in ${pg.dataDir})` : '(ephemeral)'} is ready.\n`);
    console.log(`  DATABASE_URL=${pg.url}\n`);
    console.log('Ctrl-C stops it.');
    return { close: () => pg.stop() };
  },
};
