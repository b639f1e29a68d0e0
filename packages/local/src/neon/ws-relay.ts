// The WebSocket side of the endpoint, for the Neon driver's `Pool` and `Client`. Each WebSocket
// is logged in by the endpoint itself, as Neon's proxy does (ws-login.ts), and from then on it is
// a byte-for-byte tunnel to one TCP connection to the configured PostgreSQL. The driver speaks the
// plain PostgreSQL v3 protocol inside binary frames, not aligned to messages, so the relay adds
// no framing of its own. The `?address=host:port` the driver appends is ignored: the relay never
// connects anywhere but its upstream, whatever a client asks for.
//
// The relay watches the server's side of the stream (message headers only) for two things: the
// session's cancel key and whether the session is idle. With them, a tunnel that closes while a
// query runs (a client gone, or the endpoint shutting down) cancels that query instead of leaving
// it running with nobody to read the result.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { type BackendKey, sendCancel } from './cancel.js';
import type { Upstream } from './upstream.js';
import { WsLogin } from './ws-login.js';

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
// Stop reading from PostgreSQL while this much is queued toward a slow WebSocket client.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

export class WsRelay {
  private readonly tunnels = new Set<Tunnel>();

  constructor(
    private readonly upstream: Upstream,
    /** How long a client may take to log in (the upstream's answers included). */
    private readonly loginTimeoutMs: number,
  ) {}

  /** Opens the tunnel for an accepted WebSocket. */
  accept(ws: WebSocket): void {
    const tunnel = new Tunnel(ws, this.upstream, this.loginTimeoutMs, () => this.tunnels.delete(tunnel));
    this.tunnels.add(tunnel);
  }

  get size(): number {
    return this.tunnels.size;
  }

  /** Cancels running queries and closes every tunnel (WebSocket code 1001, going away). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.tunnels].map((t) => t.shutdown()));
  }
}

class Tunnel {
  private tcp: Socket | undefined;
  private login: WsLogin | undefined;
  private readonly watcher = new ServerStreamWatcher();
  private queued = 0;
  private closed = false;
  private terminated = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly upstream: Upstream,
    loginTimeoutMs: number,
    private readonly onClosed: () => void,
  ) {
    this.login = new WsLogin(
      upstream,
      {
        send: (bytes) => {
          if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: true });
        },
        relay: (tcp, fromUpstream, fromClient) => this.startRelay(tcp, fromUpstream, fromClient),
        // PostgreSQL closes the connection after a refused login; so does Neon's relay (1000).
        end: () => this.serverClosed(1000, ''),
      },
      loginTimeoutMs,
    );

    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        // The driver only sends binary frames; text would be a client speaking something else.
        ws.close(1003, 'binary frames only: this endpoint tunnels the PostgreSQL protocol');
        return;
      }
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (this.login) this.login.push(chunk);
      else this.fromClient(chunk);
    });
    ws.on('close', () => this.clientClosed());
    ws.on('error', () => this.clientClosed());
  }

  /** The login succeeded: from here on, bytes both ways. */
  private startRelay(tcp: Socket, fromUpstream: Buffer, fromClient: Buffer) {
    this.login = undefined;
    this.tcp = tcp;
    if (this.closed) {
      tcp.destroy();
      return;
    }
    tcp.on('data', (chunk: Buffer) => this.fromServer(chunk));
    tcp.on('drain', () => this.ws.resume());
    tcp.on('end', () => this.serverClosed(1000, ''));
    tcp.on('error', (err: NodeJS.ErrnoException) => {
      this.serverClosed(1011, `PostgreSQL connection failed (${err.code ?? 'error'})`.slice(0, 120));
    });
    tcp.on('close', () => this.serverClosed(1000, ''));
    this.fromServer(fromUpstream);
    if (fromClient.length > 0) this.fromClient(fromClient);
    tcp.resume();
  }

  private fromClient(chunk: Buffer) {
    const tcp = this.tcp!;
    this.watcher.idle = false;
    // A chunk that ends with Terminate ('X', length 4) is a client saying goodbye: nothing runs.
    this.terminated = chunk.length >= 5 && chunk.subarray(-5).equals(TERMINATE);
    if (!tcp.write(chunk)) this.ws.pause();
  }

  private fromServer(chunk: Buffer) {
    const tcp = this.tcp!;
    this.watcher.feed(chunk);
    this.queued += chunk.length;
    this.ws.send(chunk, { binary: true }, () => {
      this.queued -= chunk.length;
      if (this.queued < LOW_WATER && tcp.isPaused()) tcp.resume();
    });
    if (this.queued > HIGH_WATER) tcp.pause();
  }

  /** The client closed the WebSocket: cancel a query still running, then end the TCP side. */
  private clientClosed() {
    if (this.closed) return;
    this.closed = true;
    this.login?.abort();
    const tcp = this.tcp;
    if (tcp) {
      this.cancelIfBusy();
      tcp.end();
      // A server that never closes its side (it should, at EOF) does not keep the socket forever.
      setTimeout(() => tcp.destroy(), 5000).unref();
    }
    this.onClosed();
  }

  /** PostgreSQL closed (or failed): close the WebSocket after what was already queued to it. */
  private serverClosed(code: number, reason: string) {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, reason);
    }
    if (!this.closed) {
      this.closed = true;
      this.login?.abort();
      this.tcp?.destroy();
      this.onClosed();
    }
  }

  private cancelIfBusy(): Promise<void> {
    const key = this.watcher.key;
    // `idle` is a good guess, not a proof: a pipelined query sent before the login finished is not
    // seen as running. Cancelling an idle session would be harmless but costs the server a fork.
    if (!key || this.terminated || this.watcher.idle) return Promise.resolve();
    return sendCancel(this.upstream, key);
  }

  async shutdown(): Promise<void> {
    await this.cancelIfBusy();
    this.closed = true;
    this.login?.abort();
    this.tcp?.destroy();
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1001, 'the Neon endpoint is closing');
    // A client that does not answer the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 1000).unref();
    this.onClosed();
  }
}

/**
 * Follows PostgreSQL's messages to the client by their headers (type byte, int32 length) without
 * copying them: it keeps BackendKeyData (the cancel key) and notes ReadyForQuery (idle). It is fed
 * from the upstream's AuthenticationOk on, a message boundary (the login answered what came before).
 */
class ServerStreamWatcher {
  idle = false;
  key: BackendKey | undefined;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private type = 0;
  private body: Buffer[] = [];

  feed(chunk: Buffer) {
    let i = 0;
    while (i < chunk.length) {
      if (this.headerFill < 5) {
        const n = Math.min(5 - this.headerFill, chunk.length - i);
        chunk.copy(this.header, this.headerFill, i, i + n);
        this.headerFill += n;
        i += n;
        if (this.headerFill === 5) {
          this.type = this.header[0]!;
          this.remaining = this.header.readInt32BE(1) - 4;
          this.body = [];
          if (this.remaining <= 0) this.finish();
        }
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - i);
      if (this.type === 0x4b /* K */) this.body.push(chunk.subarray(i, i + n));
      this.remaining -= n;
      i += n;
      if (this.remaining === 0) this.finish();
    }
  }

  private finish() {
    if (this.type === 0x4b /* K: BackendKeyData */) {
      const body = Buffer.concat(this.body);
      if (body.length >= 8) this.key = { processID: body.readInt32BE(0), secretKey: Buffer.from(body.subarray(4)) };
    } else if (this.type === 0x5a /* Z: ReadyForQuery */) {
      this.idle = true;
    }
    this.body = [];
    this.headerFill = 0;
    this.remaining = 0;
  }
}
