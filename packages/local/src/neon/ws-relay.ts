// The WebSocket side of the endpoint, for the Neon driver's `Pool` and `Client`: each WebSocket is
// a byte-for-byte tunnel to one TCP connection to the configured PostgreSQL. The driver speaks the
// plain PostgreSQL v3 protocol inside binary frames, not aligned to messages, so the relay adds
// no framing of its own. The `?address=host:port` the driver appends is ignored: the relay never
// connects anywhere but its upstream, whatever a client asks for.
//
// The relay watches the server's side of the stream (message headers only) for two things: the
// session's cancel key and whether the session is idle. With them, a tunnel that closes while a
// query runs (a client gone, or the endpoint shutting down) cancels that query instead of leaving
// it running with nobody to read the result.
import { connect, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { type BackendKey, sendCancel } from './cancel.js';
import type { Upstream } from './upstream.js';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
// Stop reading from PostgreSQL while this much is queued toward a slow WebSocket client.
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

export class WsRelay {
  private readonly tunnels = new Set<Tunnel>();

  constructor(private readonly upstream: Upstream) {}

  /** Opens the tunnel for an accepted WebSocket. */
  accept(ws: WebSocket): void {
    const tunnel = new Tunnel(ws, this.upstream, () => this.tunnels.delete(tunnel));
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
  private readonly tcp: Socket;
  private readonly watcher = new ServerStreamWatcher();
  private firstClientChunk = true;
  private queued = 0;
  private closed = false;
  private terminated = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly upstream: Upstream,
    private readonly onClosed: () => void,
  ) {
    this.tcp = connect({ host: upstream.host, port: upstream.port });
    this.tcp.setNoDelay(true);

    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        // The driver only sends binary frames; text would be a client speaking something else.
        ws.close(1003, 'binary frames only: this endpoint tunnels the PostgreSQL protocol');
        return;
      }
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.fromClient(chunk);
    });
    ws.on('close', () => this.clientClosed());
    ws.on('error', () => this.clientClosed());

    this.tcp.on('data', (chunk: Buffer) => this.fromServer(chunk));
    this.tcp.on('drain', () => ws.resume());
    this.tcp.on('end', () => this.serverClosed(1000, ''));
    this.tcp.on('error', (err: NodeJS.ErrnoException) => {
      const reason = this.tcp.connecting
        ? `cannot reach PostgreSQL at ${upstream.host}:${upstream.port} (${err.code ?? 'error'})`
        : `PostgreSQL connection failed (${err.code ?? 'error'})`;
      this.serverClosed(1011, reason.slice(0, 120));
    });
    this.tcp.on('close', () => this.serverClosed(1000, ''));
  }

  private fromClient(chunk: Buffer) {
    if (this.firstClientChunk) {
      this.firstClientChunk = false;
      // An SSLRequest/GSSENCRequest is answered with one byte, before any message.
      if (chunk.length >= 8 && chunk.readInt32BE(0) === 8) {
        const code = chunk.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) this.watcher.expectNegotiationByte = true;
      }
    }
    this.watcher.idle = false;
    // A chunk that ends with Terminate ('X', length 4) is a client saying goodbye: nothing runs.
    this.terminated = chunk.length >= 5 && chunk.subarray(-5).equals(TERMINATE);
    if (!this.tcp.write(chunk)) this.ws.pause();
  }

  private fromServer(chunk: Buffer) {
    this.watcher.feed(chunk);
    this.queued += chunk.length;
    this.ws.send(chunk, { binary: true }, () => {
      this.queued -= chunk.length;
      if (this.queued < LOW_WATER && this.tcp.isPaused()) this.tcp.resume();
    });
    if (this.queued > HIGH_WATER) this.tcp.pause();
  }

  /** The client closed the WebSocket: cancel a query still running, then end the TCP side. */
  private clientClosed() {
    if (this.closed) return;
    this.closed = true;
    this.cancelIfBusy();
    this.tcp.end();
    // A server that never closes its side (it should, at EOF) does not keep the socket forever.
    setTimeout(() => this.tcp.destroy(), 5000).unref();
    this.onClosed();
  }

  /** PostgreSQL closed (or failed): close the WebSocket after what was already queued to it. */
  private serverClosed(code: number, reason: string) {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, reason);
    }
    if (!this.closed) {
      this.closed = true;
      this.tcp.destroy();
      this.onClosed();
    }
  }

  private cancelIfBusy(): Promise<void> {
    const key = this.watcher.key;
    // `idle` is a good guess, not a proof: a pipelined query sent before the login finished is not
    // seen as running. Cancelling an idle session would be harmless but costs the server a fork.
    if (!key || this.terminated || this.watcher.idle || this.watcher.encrypted) return Promise.resolve();
    return sendCancel(this.upstream, key);
  }

  async shutdown(): Promise<void> {
    await this.cancelIfBusy();
    this.closed = true;
    this.tcp.destroy();
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1001, 'the Neon endpoint is closing');
    // A client that does not answer the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 1000).unref();
    this.onClosed();
  }
}

/**
 * Follows PostgreSQL's messages to the client by their headers (type byte, int32 length) without
 * copying them: it keeps BackendKeyData (the cancel key) and notes ReadyForQuery (idle). If the
 * session switches to TLS inside the tunnel, it stops: the bytes are opaque from then on.
 */
class ServerStreamWatcher {
  expectNegotiationByte = false;
  encrypted = false;
  idle = false;
  key: BackendKey | undefined;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private type = 0;
  private body: Buffer[] = [];

  feed(chunk: Buffer) {
    let i = 0;
    while (i < chunk.length && !this.encrypted) {
      if (this.expectNegotiationByte) {
        this.expectNegotiationByte = false;
        if (chunk[i] !== 0x4e /* N: no encryption, messages follow */) this.encrypted = true;
        i++;
        continue;
      }
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
