#!/usr/bin/env node
// anypg-local: run the local stand-ins from a shell. Each subcommand prints what to paste into
// your code, then runs until Ctrl-C, and stops every process it started on the way out.
import { parseArgs } from 'node:util';
import { dataApiCommand } from './data-api/command.js';
import { LocalError } from './errors.js';
import { lambdaCommand } from './lambda/command.js';
import { neonCommand } from './neon/command.js';
import { pgbouncerCommand } from './pgbouncer/command.js';
import { postgresCommand } from './postgres/command.js';

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<{ close(): Promise<void> }>;
}

const commands: Record<string, Command> = {
  postgres: postgresCommand,
  lambda: lambdaCommand,
  neon: neonCommand,
  'data-api': dataApiCommand,
  pgbouncer: pgbouncerCommand,
};

function help(): string {
  const lines = ['usage: anypg-local <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'anypg-local <command> --help shows its options.');
  return lines.join('\n');
}

async function main() {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    console.log(help());
    return;
  }
  const command = commands[name];
  if (!command) {
    console.error(`anypg-local: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    process.exitCode = 2;
    return;
  }
  if (parseArgs({ args: rest, strict: false }).values.help) {
    console.log(command.usage);
    return;
  }
  // Listen for Ctrl-C before starting: a signal that comes while the command starts (or right
  // after it printed its settings) still stops everything it started.
  const started = command.run(rest);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    const running = await started.catch(() => undefined);
    await running?.close();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  await started;
}

main().catch((err: unknown) => {
  console.error(`anypg-local: ${err instanceof LocalError || err instanceof TypeError ? err.message : String(err)}`);
  process.exit(1);
});
