// PostgreSQL's cancel protocol: a fresh TCP connection carrying one CancelRequest (the backend's
// process id and secret key). It needs no authentication and no privilege, unlike
// pg_cancel_backend(), and it cannot queue behind the query it cancels.
import { connect } from 'node:net';

const CANCEL_REQUEST_CODE = 80877102;

export interface BackendKey {
  processID: number;
  /** A 32-bit number (protocol 3.0, what pg reports) or the raw key bytes (any protocol version). */
  secretKey: number | Buffer;
}

/** Sends a CancelRequest; resolves when the server closed the connection (or after `timeoutMs`). */
export function sendCancel(upstream: { host: string; port: number }, key: BackendKey, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    let secret = key.secretKey;
    if (typeof secret === 'number') {
      secret = Buffer.alloc(4);
      secret.writeInt32BE(key.secretKey as number, 0);
    }
    const msg = Buffer.alloc(12 + secret.length);
    msg.writeInt32BE(msg.length, 0);
    msg.writeInt32BE(CANCEL_REQUEST_CODE, 4);
    msg.writeInt32BE(key.processID, 8);
    secret.copy(msg, 12);
    const socket = connect({ host: upstream.host, port: upstream.port });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('connect', () => socket.end(msg));
    // The server answers nothing: it closes the connection once it has read the request.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
