// Cancelling a running statement: PostgreSQL's CancelRequest, sent on a separate short-lived
// connection (the protocol has no in-band cancel). The server answers nothing and closes the
// connection once it has passed the cancel on; the running statement fails with SQLSTATE 57014 if
// the cancel arrived in time.
//
// The request is written and then the server's close is awaited, as libpq does: no half-close
// (FIN) right after the packet. PgBouncer 1.18 takes that FIN for the client going away while it is
// still forwarding the cancel, and exits ("FATAL ... disconnect_client(): bad client state"),
// taking every client connection with it. Resolves once the server closed (the cancel was handed
// over), or after 2 s.
import { connect } from 'node:net';

const CANCEL_REQUEST_CODE = 80877102;

export function sendCancel(host: string, port: number, processID: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host);
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(2000, done);
    socket.once('error', done);
    socket.once('close', done);
    socket.once('connect', () => {
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      msg.writeInt32BE(processID, 8);
      msg.writeInt32BE(secretKey, 12);
      socket.write(msg);
    });
  });
}
