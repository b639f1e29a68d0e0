// Errors as the unmodified SDK recognises them, the limits, the auto-pause switch, credentials by
// secretArn, and secrets kept out of logs and messages.
import { inspect } from 'node:util';
import {
  AccessDeniedException,
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  DatabaseNotFoundException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ExecuteSqlCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  ForbiddenException,
  HttpEndpointNotEnabledException,
  InternalServerErrorException,
  InvalidResourceStateException,
  InvalidSecretException,
  NotFoundException,
  RDSDataClient,
  RDSDataServiceException,
  SecretsErrorException,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from '@aws-sdk/client-rds-data';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type DataApiEndpoint,
  type DataApiEndpointOptions,
  freePort,
  LocalError,
  sqlStateOf,
  startDataApiEndpoint,
} from '../src/index.js';

const SCHEMA = `dataapi_errors_${process.pid}`;
const ROLE = `dataapi_role_${process.pid}`;
const ROLE_PASSWORD = `pw-${process.pid}-S3cret!`;
const DATABASE = `dataapi_db_${process.pid}`;

let url: string;
let direct: pg.Client;
const started: DataApiEndpoint[] = [];
const clients: RDSDataClient[] = [];

async function start(options: Partial<DataApiEndpointOptions> = {}) {
  const endpoint = await startDataApiEndpoint({ upstream: url, ...options });
  started.push(endpoint);
  const client = new RDSDataClient(endpoint.clientConfig);
  clients.push(client);
  const exec = (input: Partial<ExecuteStatementCommandInput>) =>
    client.send(
      new ExecuteStatementCommand({
        resourceArn: endpoint.resourceArn,
        secretArn: endpoint.secretArn,
        sql: 'select 1',
        ...input,
      }),
    );
  return { endpoint, client, exec };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & Record<string, any>,
  );

/** Waits (bounded) until `check` returns true; returns whether it did. */
async function eventually(check: () => Promise<boolean>, tries = 100, everyMs = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

let main: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  url = inject('databaseUrl');
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);
  await direct.query(`create table ${SCHEMA}.u (id int primary key, v text)`);
  await direct.query(`drop role if exists ${ROLE}`);
  await direct.query(`create role ${ROLE} login password '${ROLE_PASSWORD}'`);
  await direct.query(`grant usage on schema ${SCHEMA} to ${ROLE}`);
  await direct.query(`drop database if exists ${DATABASE}`);
  await direct.query(`create database ${DATABASE}`);
  main = await start();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(started.map((e) => e.close()));
  await direct.query(`drop schema if exists ${SCHEMA} cascade`);
  await direct.query(`drop database if exists ${DATABASE}`);
  await direct.query(`drop role if exists ${ROLE}`);
  await direct.end();
});

describe('DatabaseErrorException', () => {
  it("carries the server's message in AWS's layout with the SQLSTATE at the end, and is not retried", async () => {
    const err = await failure(main.exec({ sql: 'select * from nope_table' }));
    expect(err).toBeInstanceOf(DatabaseErrorException);
    expect(err!.message).toBe('ERROR: relation "nope_table" does not exist; Position: 15; SQLState: 42P01');
    expect(err!.$metadata.httpStatusCode).toBe(400);
    expect(err!.$metadata.attempts).toBe(1);
    expect(sqlStateOf(err!.message)).toBe('42P01');
  });

  it('includes the hint and the detail', async () => {
    const hint = await failure(main.exec({ sql: "select 1 = 'x'::text" }));
    expect(hint!.message).toBe(
      'ERROR: operator does not exist: integer = text; Hint: No operator matches the given name and argument types. You might need to add explicit type casts.; Position: 10; SQLState: 42883',
    );
    await main.exec({ sql: `insert into ${SCHEMA}.u values (1, 'a')` });
    const dup = await failure(main.exec({ sql: `insert into ${SCHEMA}.u values (1, 'b')` }));
    expect(dup).toBeInstanceOf(DatabaseErrorException);
    expect(dup!.message).toBe(
      'ERROR: duplicate key value violates unique constraint "u_pkey"; Detail: Key (id)=(1) already exists.; SQLState: 23505',
    );
  });

  it('points Position at the caller’s SQL, not the translated one', async () => {
    const sql = 'select :a_long_parameter_name::int + no_such_column';
    const err = await failure(
      main.exec({ sql, parameters: [{ name: 'a_long_parameter_name', value: { longValue: 1 } }] }),
    );
    expect(err!.message).toMatch(/column "no_such_column" does not exist/);
    expect(err!.message).toContain(`Position: ${sql.indexOf('no_such_column') + 1};`);
  });

  it('can use the JDBC newline layout and leave out the detail', async () => {
    const { exec } = await start({ errorMessages: { layout: 'newline', detail: false } });
    const err = await failure(exec({ sql: 'select * from nope_table' }));
    expect(err!.message).toBe('ERROR: relation "nope_table" does not exist\n  Position: 15; SQLState: 42P01');
    const dup = await failure(exec({ sql: `insert into ${SCHEMA}.u values (1, 'b')` }));
    expect(dup!.message).toBe('ERROR: duplicate key value violates unique constraint "u_pkey"; SQLState: 23505');
  });
});

describe('other error classes', () => {
  it('every modelled error type reaches the SDK as its own exception class', async () => {
    const client = new RDSDataClient({ ...main.endpoint.clientConfig, maxAttempts: 1 });
    clients.push(client);
    const classes: Array<[string, new (...args: any[]) => Error, number]> = [
      ['AccessDeniedException', AccessDeniedException, 403],
      ['BadRequestException', BadRequestException, 400],
      ['DatabaseErrorException', DatabaseErrorException, 400],
      ['DatabaseNotFoundException', DatabaseNotFoundException, 404],
      ['DatabaseResumingException', DatabaseResumingException, 400],
      ['DatabaseUnavailableException', DatabaseUnavailableException, 504],
      ['ForbiddenException', ForbiddenException, 403],
      ['HttpEndpointNotEnabledException', HttpEndpointNotEnabledException, 400],
      ['InternalServerErrorException', InternalServerErrorException, 500],
      ['InvalidResourceStateException', InvalidResourceStateException, 400],
      ['InvalidSecretException', InvalidSecretException, 400],
      ['NotFoundException', NotFoundException, 404],
      ['SecretsErrorException', SecretsErrorException, 400],
      ['ServiceUnavailableError', ServiceUnavailableError, 503],
      ['StatementTimeoutException', StatementTimeoutException, 400],
      ['TransactionNotFoundException', TransactionNotFoundException, 404],
      ['UnsupportedResultException', UnsupportedResultException, 400],
    ];
    for (const [type, cls, status] of classes) {
      main.endpoint.failNextCalls(1, { errorType: type as any, message: `injected ${type}` });
      const err = await failure(
        client.send(
          new ExecuteStatementCommand({
            resourceArn: main.endpoint.resourceArn,
            secretArn: main.endpoint.secretArn,
            sql: 'select 1',
          }),
        ),
      );
      expect(err, type).toBeInstanceOf(cls);
      expect(err, type).toBeInstanceOf(RDSDataServiceException);
      expect(err!.name).toBe(type);
      expect(err!.$metadata.httpStatusCode, type).toBe(status);
    }
    expect(main.endpoint.stats().pendingFailures).toBe(0);
  });

  it('BadRequestException for a malformed call, and for ExecuteSql (not on current clusters)', async () => {
    const noSql = await failure(main.exec({ sql: undefined as unknown as string }));
    expect(noSql).toBeInstanceOf(BadRequestException);
    expect(noSql!.message).toMatch(/sql/);
    const bad = await failure(
      main.exec({
        sql: 'select :d',
        parameters: [{ name: 'd', value: { stringValue: '2024/01/02' }, typeHint: 'DATE' }],
      }),
    );
    expect(bad).toBeInstanceOf(BadRequestException);
    const old = await failure(
      main.client.send(
        new ExecuteSqlCommand({
          dbClusterOrInstanceArn: main.endpoint.resourceArn,
          awsSecretStoreArn: main.endpoint.secretArn,
          sqlStatements: 'select 1',
        }),
      ),
    );
    expect(old).toBeInstanceOf(BadRequestException);
    expect(old!.message).toMatch(/ExecuteStatement/);
  });

  it('ValidationException (as AWS documents) for several statements and for the schema parameter', async () => {
    const multi = await failure(main.exec({ sql: 'select 1; select 2' }));
    expect(multi).toBeInstanceOf(RDSDataServiceException);
    expect(multi!.name).toBe('ValidationException');
    expect(multi!.message).toBe("Multistatements aren't supported.");
    expect(multi!.$metadata.attempts).toBe(1);
    expect((await main.exec({ sql: 'select 1;' })).records).toEqual([[{ longValue: 1 }]]);
    const schema = await failure(main.exec({ schema: 'public' }));
    expect(schema!.name).toBe('ValidationException');
    expect(schema!.message).toBe("The schema parameter isn't supported");
  });

  it('TransactionNotFoundException for an unknown id, or NotFoundException when configured', async () => {
    const unknown = await failure(main.exec({ transactionId: 'AQC5no-such-transaction' }));
    expect(unknown).toBeInstanceOf(TransactionNotFoundException);
    expect(unknown!.$metadata.httpStatusCode).toBe(404);
    const commit = await failure(
      main.client.send(
        new CommitTransactionCommand({
          resourceArn: main.endpoint.resourceArn,
          secretArn: main.endpoint.secretArn,
          transactionId: 'AQC5no-such-transaction',
        }),
      ),
    );
    expect(commit).toBeInstanceOf(TransactionNotFoundException);
    const other = await start({ transactionNotFound: 'NotFoundException' });
    expect(await failure(other.exec({ transactionId: 'nope' }))).toBeInstanceOf(NotFoundException);
  });

  it('DatabaseNotFoundException for a database that does not exist', async () => {
    const err = await failure(main.exec({ database: 'no_such_database_here' }));
    expect(err).toBeInstanceOf(DatabaseNotFoundException);
    expect(err!.$metadata.httpStatusCode).toBe(404);
  });

  it('DatabaseUnavailableException (5xx: the SDK retries it) when the upstream is down', async () => {
    const port = await freePort();
    const down = await start({ upstream: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres` });
    const err = await failure(down.exec({}));
    expect(err).toBeInstanceOf(DatabaseUnavailableException);
    expect(err!.$metadata.httpStatusCode).toBe(504);
    expect(err!.$metadata.attempts).toBe(3);
  });

  it('InternalServerErrorException without a message for an infinite timestamp, as observed on AWS', async () => {
    const err = await failure(main.exec({ sql: "select 'infinity'::timestamptz" }));
    expect(err).toBeInstanceOf(InternalServerErrorException);
    expect(err!.$metadata.attempts).toBe(3);
  });

  it('StatementTimeoutException with dbConnectionId; the statement is cancelled', async () => {
    const { exec } = await start({ statementTimeoutMs: 300 });
    const err = await failure(exec({ sql: `insert into ${SCHEMA}.u select 100, pg_sleep(3)::text` }));
    expect(err).toBeInstanceOf(StatementTimeoutException);
    const pid = (err as StatementTimeoutException).dbConnectionId!;
    expect(typeof pid).toBe('number');
    const busy = async () => {
      const r = await direct.query(
        `select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active'`,
        [pid],
      );
      return r.rows[0].n === 1;
    };
    // Cancelled: the backend goes idle long before pg_sleep(3) would have returned, and nothing was written.
    expect(await eventually(async () => !(await busy()), 20, 100)).toBe(true);
    const rows = await direct.query(`select count(*)::int as n from ${SCHEMA}.u where id = 100`);
    expect(rows.rows[0].n).toBe(0);
  });

  it('StatementTimeoutException with continueAfterTimeout: the statement runs to the end', async () => {
    const { exec } = await start({ statementTimeoutMs: 300 });
    const err = await failure(
      exec({ sql: `insert into ${SCHEMA}.u select 101, pg_sleep(1)::text`, continueAfterTimeout: true }),
    );
    expect(err).toBeInstanceOf(StatementTimeoutException);
    const written = async () =>
      (await direct.query(`select count(*)::int as n from ${SCHEMA}.u where id = 101`)).rows[0].n === 1;
    expect(await eventually(written, 50, 100)).toBe(true);
  });
});

describe('auto-pause: failNextCalls', () => {
  it('fails the next N calls with DatabaseResumingException, then works', async () => {
    const before = main.endpoint.stats().requests;
    main.endpoint.failNextCalls(2);
    for (let i = 0; i < 2; i++) {
      const err = await failure(main.exec({}));
      expect(err).toBeInstanceOf(DatabaseResumingException);
      expect(err!.message).toMatch(/is resuming after being auto-paused/);
      expect(err!.$metadata.attempts).toBe(1); // the SDK does not retry it: callers must
    }
    expect((await main.exec({ sql: 'select 7' })).records).toEqual([[{ longValue: 7 }]]);
    expect(main.endpoint.stats().requests - before).toBe(3);
  });

  it('has an HTTP control route for processes that cannot call the method', async () => {
    const res = await fetch(`${main.endpoint.url}/_anypg/fail-next-calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ pendingFailures: 1 });
    const err = await failure(
      main.client.send(
        new BeginTransactionCommand({ resourceArn: main.endpoint.resourceArn, secretArn: main.endpoint.secretArn }),
      ),
    );
    expect(err).toBeInstanceOf(DatabaseResumingException);
    const bad = await fetch(`${main.endpoint.url}/_anypg/fail-next-calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 1, errorType: 'NoSuchException' }),
    });
    expect(bad.status).toBe(400);
    expect(main.endpoint.stats().pendingFailures).toBe(0);
  });

  it('answers an unknown path with UnknownOperationException; needs a SigV4 header but does not check it', async () => {
    const unknown = await fetch(`${main.endpoint.url}/Nope`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    const body = JSON.stringify({ resourceArn: 'arn:x', secretArn: 'arn:y', sql: 'select 5 as five' });
    const unsigned = await fetch(`${main.endpoint.url}/Execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect((await unsigned.json()).message).toMatch(/AWS4-HMAC-SHA256/);
    // Any signature passes: the header is what a browser cannot send without a preflight.
    const fakeSigned = await fetch(`${main.endpoint.url}/Execute`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/rds-data/aws4_request, Signature=00',
      },
      body,
    });
    expect(fakeSigned.status).toBe(200);
    expect(await fakeSigned.json()).toEqual({
      records: [[{ longValue: 5 }]],
      numberOfRecordsUpdated: 0,
      generatedFields: [],
    });
  });
});

describe('limits', () => {
  it('refuses a response over 1 MiB and a row over 64 KB (defaults, as AWS)', async () => {
    const total = await failure(main.exec({ sql: "select repeat('x', 60000) from generate_series(1, 20)" }));
    expect(total).toBeInstanceOf(UnsupportedResultException);
    expect(total!.message).toMatch(/exceeds the size limit of 1048576 bytes/);
    const fits = await main.exec({ sql: "select repeat('x', 60000) from generate_series(1, 16)" });
    expect(fits.records).toHaveLength(16);
    const row = await failure(main.exec({ sql: "select repeat('x', 70000)" }));
    expect(row).toBeInstanceOf(UnsupportedResultException);
    expect(row!.message).toMatch(/row larger than the size limit of 65536 bytes/);
  });

  it('refuses a request over 4 MiB', async () => {
    const big = 'y'.repeat(4 * 1024 * 1024 + 10);
    const err = await failure(main.exec({ sql: `select length('${big}')` }));
    expect(err).toBeInstanceOf(BadRequestException);
    expect(err!.message).toMatch(/request exceeds the size limit/);
    const ok = await main.exec({ sql: `select length('${'y'.repeat(3 * 1024 * 1024)}')` });
    expect(ok.records![0]![0]!.longValue).toBe(3 * 1024 * 1024);
  });

  it('takes other limits, including the 10 MB one for JSON results', async () => {
    const { exec } = await start({
      limits: { maxResponseBytes: 2000, maxRowBytes: 0, maxJsonBytes: 500, maxRequestBytes: 1000 },
    });
    expect(await failure(exec({ sql: "select repeat('x', 3000)" }))).toBeInstanceOf(UnsupportedResultException);
    expect((await exec({ sql: "select repeat('x', 1500)" })).records).toHaveLength(1);
    expect(await failure(exec({ sql: "select repeat('x', 600)", formatRecordsAs: 'JSON' }))).toBeInstanceOf(
      BadRequestException,
    );
    expect(await failure(exec({ sql: `select '${'z'.repeat(1200)}'` }))).toBeInstanceOf(BadRequestException);
  });
});

describe('credentials, options and secrets', () => {
  it('runs as the role a configured secretArn maps to, in the database a call names', async () => {
    const secretArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:reader-XyZ123';
    const lines: string[] = [];
    const { endpoint, exec } = await start({
      credentials: { [secretArn]: { username: ROLE, password: ROLE_PASSWORD, dbname: DATABASE } },
      onLog: (l) => lines.push(l),
    });
    const whoami = 'select current_user::text, current_database()::text';
    const asDefault = await exec({ sql: whoami });
    expect(asDefault.records![0]![0]!.stringValue).toBe(new URL(url).username || 'postgres');
    const asRole = await exec({ sql: whoami, secretArn });
    expect(asRole.records![0]).toEqual([{ stringValue: ROLE }, { stringValue: DATABASE }]);
    const named = await exec({ sql: whoami, database: endpoint.database });
    expect(named.records![0]![1]!.stringValue).toBe(endpoint.database);

    // A wrong password in a secret: the error names the role, never the password.
    const wrongArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:wrong-AbC';
    const wrong = await start({ credentials: { [wrongArn]: { username: ROLE, password: 'not-the-password-123' } } });
    const err = await failure(wrong.exec({ secretArn: wrongArn }));
    expect(err).toBeInstanceOf(DatabaseErrorException);
    expect(err!.message).toMatch(/password authentication failed for user/);
    expect(err!.message).not.toContain('not-the-password-123');

    // Logs carry neither SQL nor secrets.
    await failure(exec({ sql: `select '${ROLE_PASSWORD}' from nope` }));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(line).not.toContain(ROLE_PASSWORD);
    expect(`${inspect(endpoint, { depth: 5 })} ${JSON.stringify(endpoint)}`).not.toContain(ROLE_PASSWORD);

    // Nor does an endpoint whose upstream URL holds the password.
    const roleUrl = new URL(url);
    roleUrl.username = ROLE;
    roleUrl.password = ROLE_PASSWORD;
    roleUrl.pathname = `/${DATABASE}`;
    const viaUrl = await start({ upstream: roleUrl.toString() });
    expect((await viaUrl.exec({ sql: whoami })).records![0]![0]!.stringValue).toBe(ROLE);
    const shown = `${inspect(viaUrl.endpoint, { depth: 5 })} ${JSON.stringify(viaUrl.endpoint)} ${viaUrl.endpoint.snippet()} ${viaUrl.endpoint.envSnippet()}`;
    expect(shown).not.toContain(ROLE_PASSWORD);
    expect(shown).toContain(DATABASE);
  });

  it('throws PORT_IN_USE for a taken port and BAD_OPTION for a bad upstream, without echoing it', async () => {
    const taken = main.endpoint.port;
    const err = await failure(startDataApiEndpoint({ upstream: url, port: taken }));
    expect(err).toBeInstanceOf(LocalError);
    expect((err as unknown as LocalError).code).toBe('PORT_IN_USE');
    const bad = await failure(startDataApiEndpoint({ upstream: 'postgresql://u:pa ss%zz@[bad' }));
    expect(bad).toBeInstanceOf(LocalError);
    expect((bad as unknown as LocalError).code).toBe('BAD_OPTION');
    expect(bad!.message).not.toContain('pa ss');
    const timeout = await failure(startDataApiEndpoint({ upstream: url, transactionTimeoutMs: -1 }));
    expect((timeout as unknown as LocalError).code).toBe('BAD_OPTION');
  });

  it('prints the three-line client setup and the environment variables the SDK reads', async () => {
    const lines = main.endpoint.snippet().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain(`new RDSDataClient({ endpoint: '${main.endpoint.url}', region: 'us-east-1'`);
    expect(lines[1]).toBe(`const resourceArn = '${main.endpoint.resourceArn}';`);
    expect(lines[2]).toContain(`const secretArn = '${main.endpoint.secretArn}';`);
    // AWS_ENDPOINT_URL_RDS_DATA really redirects the SDK.
    const env = Object.fromEntries(
      main.endpoint
        .envSnippet()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
    // The names anypg reads (createDb() with no options), and the SDK's.
    expect(Object.keys(env).sort()).toEqual([
      'ANYPG_DATA_API_DATABASE',
      'ANYPG_DATA_API_RESOURCE_ARN',
      'ANYPG_DATA_API_SECRET_ARN',
      'AWS_ACCESS_KEY_ID',
      'AWS_ENDPOINT_URL_RDS_DATA',
      'AWS_REGION',
      'AWS_SECRET_ACCESS_KEY',
    ]);
    expect(main.endpoint.env()).toEqual(env);
    // The lambda command takes the region as --region (Lambda sets AWS_REGION itself).
    const command = main.endpoint.lambdaCommand('dist/handler.mjs');
    expect(command.split(' \\\n  ')).toEqual([
      'anypg-local lambda dist/handler.mjs --region us-east-1',
      ...Object.entries(env)
        .filter(([k]) => k !== 'AWS_REGION')
        .map(([k, v]) => `--env ${k}=${v}`),
    ]);
    const saved = { ...process.env };
    try {
      Object.assign(process.env, env);
      const fromEnv = new RDSDataClient({});
      clients.push(fromEnv);
      const res = await fromEnv.send(
        new ExecuteStatementCommand({
          resourceArn: env.ANYPG_DATA_API_RESOURCE_ARN!,
          secretArn: env.ANYPG_DATA_API_SECRET_ARN!,
          database: env.ANYPG_DATA_API_DATABASE!,
          sql: 'select 42',
        }),
      );
      expect(res.records).toEqual([[{ longValue: 42 }]]);
    } finally {
      for (const k of Object.keys(env)) {
        if (k in saved) process.env[k] = saved[k];
        else delete process.env[k];
      }
    }
  });
});
