// `anypg-local lambda <handler-file>`: a warm, freezing Lambda container behind a local API
// Gateway (HTTP API, payload 2.0) until Ctrl-C, so `curl http://127.0.0.1:PORT/...` reaches the
// handler as it would on AWS.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { LocalError } from '../errors.js';
import { GUARD_FLAGS, GUARD_USAGE, guardOptions } from '../guard/cli-options.js';
import { assertPortFree } from '../ports.js';
import { startGateway } from './gateway.js';
import { startLambda } from './runner.js';

export const lambdaCommand: Command = {
  summary: 'run a Lambda handler in a warm container that freezes between requests, behind an API Gateway',
  usage: `usage: anypg-local lambda <handler-file>[#export] [--port N] [--host ADDR] [--env K=V]... [--no-freeze]
                          [--timeout SECONDS] [--memory MB] [--name NAME] [--region REGION] [--inherit-env]
                          [--allow-origin ORIGIN]... [--allow-host NAME]...

  <handler-file>  the built handler (.js, .mjs or .cjs); #export picks the export (default handler)
  --port          gateway port (default: a free one)
  --host          gateway address (default 127.0.0.1)
  --env           a function environment variable, repeatable: --env DATABASE_URL=postgresql://...
  --no-freeze     do not SIGSTOP the container between requests
  --timeout       function timeout in seconds (default 30)
  --memory        memory size in MB (default 128; the V8 heap gets 90 % of it)
  --name          function name (default local-function)
  --region        AWS_REGION and AWS_DEFAULT_REGION of the function (default us-east-1; Lambda sets
                  these itself, so --env refuses them)
  --inherit-env   pass this shell's environment to the function too (Lambda does not)
${GUARD_USAGE}`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        env: { type: 'string', multiple: true },
        'no-freeze': { type: 'boolean' },
        timeout: { type: 'string' },
        memory: { type: 'string' },
        name: { type: 'string' },
        region: { type: 'string' },
        'inherit-env': { type: 'boolean' },
        ...GUARD_FLAGS,
      },
    });
    const [handler, ...extra] = positionals;
    if (!handler || extra.length > 0) {
      throw new TypeError(
        `lambda takes one handler file, e.g. anypg-local lambda dist/index.js (got ${positionals.length}).`,
      );
    }
    const env: Record<string, string> = {};
    for (const kv of values.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new TypeError(`--env takes NAME=value, got ${JSON.stringify(kv.slice(0, 40))}`);
      const name = kv.slice(0, eq);
      if (name === 'AWS_REGION' || name === 'AWS_DEFAULT_REGION') {
        throw new TypeError(`--env ${name} is Lambda's own variable: use --region ${kv.slice(eq + 1)} instead.`);
      }
      env[name] = kv.slice(eq + 1);
    }
    if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(values.region)) {
      throw new TypeError(`--region must be an AWS region such as us-east-1, got ${JSON.stringify(values.region)}`);
    }
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new TypeError(`--port must be a port number, got ${JSON.stringify(values.port)}`);
    }
    const number = (v: string | undefined, name: string) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!(n > 0)) throw new TypeError(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
      return n;
    };
    const timeout = number(values.timeout, 'timeout');
    const memory = number(values.memory, 'memory');

    // Fail on a taken port before starting a container.
    if (port !== undefined) await assertPortFree(port, values.host ?? '127.0.0.1', 'The local API Gateway');
    const lambda = await startLambda({
      handler,
      env,
      freeze: !values['no-freeze'],
      inheritEnv: values['inherit-env'] === true,
      ...(timeout !== undefined && { timeoutMs: timeout * 1000 }),
      ...(memory !== undefined && { memoryMb: memory }),
      ...(values.name !== undefined && { functionName: values.name }),
      ...(values.region !== undefined && { region: values.region }),
      onLog: (line, stream) => (stream === 'stderr' ? console.error(line) : console.log(line)),
    });
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    try {
      gateway = await startGateway({
        lambda,
        ...(port !== undefined && { port }),
        ...(values.host !== undefined && { host: values.host }),
        ...guardOptions(values),
        onLog: (line) => console.log(line),
      });
    } catch (err) {
      await lambda.close();
      throw err instanceof LocalError ? err : new LocalError('START_FAILED', String(err), { cause: err });
    }
    console.log(
      `\nLambda ${lambda.functionName} (${handler}) is running in pid ${lambda.pid ?? '-'}, ` +
        `${values['no-freeze'] ? 'not frozen' : 'frozen'} between requests.\n`,
    );
    console.log(`  ${gateway.url}\n`);
    console.log('Ctrl-C stops it.');
    return {
      async close() {
        await gateway.close();
        await lambda.close();
      },
    };
  },
};
