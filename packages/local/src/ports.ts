// Ports for local servers. Shared machines run other servers: never assume a port is free.
import { createServer } from 'node:net';
import { LocalError } from './errors.js';

/** A port that was free a moment ago on `host` (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Throws a PORT_IN_USE error that names the port and what to do, if something listens there. */
export function assertPortFree(port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(portInUse(port, host, what));
      else reject(err);
    });
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

export function portInUse(port: number, host: string, what: string): LocalError {
  return new LocalError(
    'PORT_IN_USE',
    `${what}: port ${port} on ${host} is already in use by another process. Choose another port, or leave the port out to pick a free one.`,
  );
}
