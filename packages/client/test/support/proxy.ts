// A TCP proxy between the client and PostgreSQL, for tests that need to see or break the wire:
// it counts round trips (a client->server flight answered by a server->client flight), can kill a
// connection right after forwarding the client's next bytes (the statement reached the server,
// the answer never reaches the client), and can refuse new connections.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TestProxy {
  port: number;
  /** Round trips seen on all connections since the last reset. */
  roundTrips(): number;
  resetCounts(): void;
  /** Connections accepted so far. */
  connections(): number;
  /** The next client->server chunk on any connection is forwarded, then both sockets are destroyed. */
  killAfterNextClientChunk(): void;
  /**
   * The server's next answer on any connection is dropped and both sockets destroyed: the request
   * certainly ran (it was answered), the client never learns how. Unlike killAfterNextClientChunk,
   * this cannot cut an HTTP request between its headers and its body.
   */
  killOnNextAnswer(): void;
  /** Refuse (immediately close) new connections while true. */
  refuse(on: boolean): void;
  /**
   * While true, a blackhole: bytes from clients are swallowed (never forwarded) and new connections
   * are accepted but never connected upstream, as a dead network path or a hung server looks.
   */
  blackhole(on: boolean): void;
  /** Logins the server refused (an ErrorResponse before the first ReadyForQuery), since the start. */
  refusedLogins(): number;
  /** Destroy every open connection now. */
  dropAll(): void;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /**
   * Forward the client's bytes in pieces of at most this many bytes, one piece per event-loop turn,
   * as a real network delivers a large write in segments (a pooler then reads part of a pipeline).
   */
  segmentBytes?: number;
  /** Never keep the process alive (a proxy that lives as long as the test run). */
  unref?: boolean;
}

export async function startProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
  options: ProxyOptions = {},
): Promise<TestProxy> {
  let trips = 0;
  let accepted = 0;
  let killNext = false;
  let killAnswer = false;
  let refusing = false;
  let swallowing = false;
  let refused = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted++;
    if (swallowing) {
      // Accepted, never answered: only the client's own timeout ends it.
      open.add(client);
      client.on('data', () => undefined);
      client.on('error', () => client.destroy());
      client.on('close', () => open.delete(client));
      return;
    }
    const upstream = connect(targetPort, targetHost);
    if (options.unref) {
      client.unref();
      upstream.unref();
    }
    open.add(client);
    open.add(upstream);
    // A round trip: the client sends, then the server answers. Count each change of direction
    // from client->server to server->client.
    let lastDirection: 'up' | 'down' | undefined;
    // Until the login completes, read the server's message types: 'E' before 'Z' is a refusal.
    let login: Buffer | undefined = Buffer.alloc(0);
    // Segments still to forward, in order (segmentBytes only).
    let pending = Promise.resolve();
    const forward = (chunk: Buffer) => {
      const size = options.segmentBytes;
      if (!size || chunk.length <= size) {
        pending = pending.then(() => {
          if (!upstream.destroyed) upstream.write(chunk);
        });
        return;
      }
      for (let i = 0; i < chunk.length; i += size) {
        const piece = chunk.subarray(i, i + size);
        pending = pending.then(
          () =>
            new Promise<void>((resolve) =>
              setImmediate(() => {
                if (!upstream.destroyed) upstream.write(piece);
                resolve();
              }),
            ),
        );
      }
    };
    client.on('data', (chunk) => {
      if (swallowing) return;
      lastDirection = 'up';
      // In pieces only after the login (PgBouncer 1.18 refuses a startup packet in pieces).
      if (options.segmentBytes && login === undefined) forward(chunk);
      else upstream.write(chunk);
      if (killNext) {
        killNext = false;
        // Let the bytes reach the server, then cut the client off before any answer arrives.
        upstream.once('drain', () => undefined);
        setImmediate(() => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
    upstream.on('data', (chunk) => {
      // An HTTP upstream (the Neon or Data API endpoint) has no PostgreSQL login to read.
      if (login?.length === 0 && chunk.subarray(0, 5).toString('latin1') === 'HTTP/') login = undefined;
      if (killAnswer && login === undefined) {
        killAnswer = false;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (login) {
        login = Buffer.concat([login, chunk]);
        while (login && login.length >= 5) {
          const type = String.fromCharCode(login[0]!);
          const len = login.readInt32BE(1);
          if (type === 'E') refused++;
          if (type === 'E' || type === 'Z') login = undefined;
          else if (login.length >= 1 + len) login = login.subarray(1 + len);
          else break;
        }
      }
      if (lastDirection === 'up') trips++;
      lastDirection = 'down';
      if (!client.destroyed) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  if (options.unref) server.unref();
  const port = (server.address() as { port: number }).port;
  return {
    port,
    roundTrips: () => trips,
    resetCounts: () => {
      trips = 0;
    },
    connections: () => accepted,
    killAfterNextClientChunk: () => {
      killNext = true;
    },
    killOnNextAnswer: () => {
      killAnswer = true;
    },
    refuse: (on) => {
      refusing = on;
    },
    blackhole: (on) => {
      swallowing = on;
    },
    refusedLogins: () => refused,
    dropAll: () => {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
