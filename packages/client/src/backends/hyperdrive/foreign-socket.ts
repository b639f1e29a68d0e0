// pg over workerd's sockets never learns that a write failed: pg-cloudflare hands the error to the
// write's callback, and pg passes none. A socket used from another request than the one that
// opened it fails every write that way ("Cannot perform I/O on behalf of a different request"),
// before a byte leaves; the statement would then wait for an answer until the query timeout (35 s
// by default). anypg's request scoping (runtime/request-scope.ts) never lets a request reach
// another's connection; this is the second line, for a runtime where it cannot tell requests
// apart: such a write fails the statement at once with a ConfigurationError that says what to do,
// and the connection is dropped. Nothing was sent, so nothing can have taken effect.
import type pg from 'pg';
import { ConfigurationError } from '../../errors.js';
import { isForeignRequestError } from '../../runtime/request-context.js';
import { connectionOf } from '../pg/pool.js';

type WriteCallback = (err?: unknown) => void;

interface WritableSocket {
  write(data: unknown, encoding?: unknown, callback?: WriteCallback): boolean;
  emit(event: string, ...args: unknown[]): boolean;
}

/** Makes a failed write on the client's socket an error event of the connection (pg then fails the statement). */
export function surfaceForeignWrites(client: pg.Client): void {
  const socket = connectionOf(client) as unknown as WritableSocket | undefined;
  if (!socket || typeof socket.write !== 'function') return;
  const write = socket.write.bind(socket);
  let reported = false;
  socket.write = (data, encoding, callback) => {
    const cb = typeof encoding === 'function' ? (encoding as WriteCallback) : callback;
    const enc = typeof encoding === 'function' ? undefined : encoding;
    return write(data, enc ?? 'utf8', (err) => {
      if (err && !reported && isForeignRequestError(err)) {
        reported = true;
        socket.emit('error', foreignConnectionError(err));
      }
      cb?.(err);
    });
  };
}

export function foreignConnectionError(cause: unknown): ConfigurationError {
  const err = new ConfigurationError(
    'scope',
    'This connection was opened by another Workers request, and workerd refuses I/O across requests: the statement was not sent. This runtime cannot tell requests apart, so create the db inside fetch() (one per request) and close it with ctx.waitUntil(db.$close()).',
  );
  (err as { cause?: unknown }).cause = cause;
  return err;
}
