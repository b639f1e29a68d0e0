// A view of a transport whose every statement carries an auth token (`db.$withAuth`): Neon's
// per-request JWT, which its HTTP endpoint checks for row-level security.
import { ConfigurationError } from '../errors.js';
import type { Statement, Transport } from './contract.js';

export type AuthToken = NonNullable<Statement['authToken']>;

export function withAuthToken(t: Transport, token: AuthToken): Transport {
  const add = (s: Statement): Statement => ({ ...s, authToken: token });
  const view: Transport = {
    info: t.info,
    capabilities: t.capabilities,
    query: (s) => t.query(add(s)),
    transaction: () =>
      Promise.reject(
        new ConfigurationError(
          '$withAuth',
          'db.$withAuth(token).transaction() is not possible: Neon checks the auth token on HTTP requests only, and an interactive transaction runs on a WebSocket session, which authenticates with the connection string. Use batch() for atomic writes under the token, or a transaction on the database without $withAuth.',
        ),
      ),
    stats: () => t.stats(),
    close: () => t.close(),
  };
  if (t.batch) view.batch = (stmts) => t.batch!(stmts.map(add));
  if (t.client) view.client = () => t.client!();
  return view;
}
