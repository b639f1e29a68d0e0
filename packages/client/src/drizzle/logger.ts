// What `logger: true` logs. drizzle's DefaultLogger prints every parameter value
// (`Query: ... -- params: ["alice@example.com","s3cret"]`), and values are where passwords, tokens
// and personal data travel: anypg's default prints the statement and how many parameters it has,
// never their values. A drizzle Logger passed as `logger` gets the values, as in drizzle (that is
// the user's explicit choice: `new DefaultLogger()` from drizzle-orm restores drizzle's output).
import type { Logger } from 'drizzle-orm/logger';
import { ConfigurationError } from '../errors.js';

export class StatementLogger implements Logger {
  constructor(private readonly write: (line: string) => void = (line) => console.log(line)) {}

  logQuery(query: string, params: unknown[]): void {
    const n = params.length;
    this.write(`Query: ${query}${n > 0 ? ` -- ${n} param${n === 1 ? '' : 's'} (values not logged)` : ''}`);
  }
}

/** The Logger for createDb's `logger` option. */
export function loggerFrom(option: boolean | Logger | undefined): Logger | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return new StatementLogger();
  if (typeof option !== 'object' || option === null || typeof option.logQuery !== 'function') {
    throw new ConfigurationError(
      'logger',
      'logger must be true, false, or a drizzle Logger (an object with logQuery(query, params)).',
    );
  }
  return option;
}
