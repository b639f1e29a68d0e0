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
  /** Refuse (immediately close) new connections while true. */
  refuse(on: boolean): void;
  /** Destroy every open connection now. */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TestProxy> {
  let trips = 0;
  let accepted = 0;
  let killNext = false;
  let refusing = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect(targetPort, targetHost);
    open.add(client);
    open.add(upstream);
    // A round trip: the client sends, then the server answers. Count each change of direction
    // from client->server to server->client.
    let lastDirection: 'up' | 'down' | undefined;
    client.on('data', (chunk) => {
      lastDirection = 'up';
      upstream.write(chunk);
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
    refuse: (on) => {
      refusing = on;
    },
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
