// The login of a WebSocket client, done the way Neon's proxy does it: the endpoint, not the
// database, asks the client for its password, always as cleartext (the tunnel is the trusted
// channel; on Neon it is WSS), and then logs in to the upstream itself with whatever the upstream
// asks for: SCRAM-SHA-256, md5 or a cleartext password. The driver's default pipelined login
// (`pipelineConnect: 'password'`: startup, password and first query sent without waiting) then
// works whatever the database's pg_hba says, and the client never runs SCRAM's key derivation.
//
// Order of events: the client's startup packet is passed to the upstream at once (same parameters,
// Neon's routing words dropped from `options`); when the upstream asks for a password, the client
// is asked for a cleartext one (unless it already sent it, pipelined), and the upstream's method
// is answered with it. From the upstream's AuthenticationOk on, everything is relayed byte for
// byte (ws-relay.ts), the client's pipelined messages first. An upstream that needs no password
// (trust) is never given one: a pipelined password message is then dropped.
//
// A wrong password is refused with Neon's error (SQLSTATE XX000, "password authentication failed
// for user 'name'"); other refusals of the upstream (no such database, pg_hba rejects) are passed
// to the client as PostgreSQL wrote them.
import { connect, type Socket } from 'node:net';
import { sendCancel } from './cancel.js';
import {
  authRequest,
  ByteQueue,
  CANCEL_REQUEST,
  errorResponse,
  GSSENC_REQUEST,
  MAX_AUTH_MESSAGE_BYTES,
  type Message,
  ProtocolError,
  parseErrorFields,
  parseStartupParams,
  passwordMessage,
  passwordOf,
  SSL_REQUEST,
  saslInitialResponse,
  saslResponse,
  startupMessage,
} from './pg-wire.js';
import { md5PasswordHash, SCRAM_SHA_256, ScramClient, ScramError } from './scram.js';
import { withoutNeonRouting } from './startup-options.js';
import type { Upstream } from './upstream.js';

const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
/** Client bytes held while the login runs (a pipelined first query); more is a misbehaving client. */
const MAX_HELD_BYTES = 1024 * 1024;

export interface LoginCallbacks {
  /** Bytes for the client (sent as binary frames). */
  send(bytes: Buffer): void;
  /** Logged in: relay from here. `fromUpstream` starts with AuthenticationOk; `fromClient` goes upstream first. */
  relay(tcp: Socket, fromUpstream: Buffer, fromClient: Buffer): void;
  /** The login ended without a session (an error was sent, or a cancel request was passed on): close. */
  end(): void;
}

export class WsLogin {
  private readonly fromClient = new ByteQueue();
  private readonly fromUpstream = new ByteQueue();
  private phase: 'startup' | 'auth' | 'done' = 'startup';
  private tcp: Socket | undefined;
  private user = '';
  private password: string | undefined;
  private askedClient = false;
  private waitingForPassword: ((password: string) => void) | undefined;
  private scram: ScramClient | undefined;
  private pumping = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly upstream: Upstream,
    private readonly callbacks: LoginCallbacks,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(
      () => this.fail({ severity: 'FATAL', code: '08006', message: `the login did not finish within ${timeoutMs} ms` }),
      timeoutMs,
    );
    this.timer.unref();
  }

  /** Bytes from the WebSocket client. */
  push(chunk: Buffer): void {
    if (this.phase === 'done') return;
    this.fromClient.push(chunk);
    if (this.fromClient.size > MAX_HELD_BYTES) {
      this.fail({ severity: 'FATAL', code: '08P01', message: 'too much data sent before the login finished' });
      return;
    }
    try {
      this.readClient();
    } catch (err) {
      this.failWith(err);
    }
  }

  /** The client went away: drop the upstream connection. */
  abort(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    clearTimeout(this.timer);
    this.tcp?.destroy();
  }

  private readClient() {
    while (this.phase === 'startup') {
      const packet = this.fromClient.nextStartup();
      if (!packet) return;
      if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
        // No TLS inside the tunnel (the driver's forceDisablePgSSL): "N", then the real startup.
        this.callbacks.send(Buffer.from('N'));
        continue;
      }
      if (packet.code === CANCEL_REQUEST && packet.raw.length >= 16) {
        // A cancel arrives on a WebSocket of its own: pass it to the upstream, then close.
        this.phase = 'done';
        clearTimeout(this.timer);
        const key = { processID: packet.raw.readInt32BE(8), secretKey: Buffer.from(packet.raw.subarray(12)) };
        void sendCancel(this.upstream, key).then(() => this.callbacks.end());
        return;
      }
      if (packet.code >> 16 !== 3) {
        const major = packet.code >> 16;
        const minor = packet.code & 0xffff;
        this.fail({ severity: 'FATAL', code: '0A000', message: `unsupported frontend protocol ${major}.${minor}` });
        return;
      }
      this.startUpstream(packet.code, parseStartupParams(packet.body));
    }
    if (this.phase === 'auth' && this.password === undefined) {
      const m = this.fromClient.nextMessage(MAX_AUTH_MESSAGE_BYTES);
      if (!m) return;
      if (m.type !== 'p') {
        throw new ProtocolError(`expected a password message, got message type "${m.type}"`);
      }
      this.password = passwordOf(m.body);
      const waiting = this.waitingForPassword;
      this.waitingForPassword = undefined;
      waiting?.(this.password);
    }
  }

  private startUpstream(version: number, params: Map<string, string>) {
    const user = params.get('user');
    if (!user) {
      this.fail({ severity: 'FATAL', code: '28000', message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    this.user = user;
    const options = withoutNeonRouting(params.get('options'));
    if (options === undefined) params.delete('options');
    else params.set('options', options);
    this.phase = 'auth';

    const tcp = connect({ host: this.upstream.host, port: this.upstream.port });
    this.tcp = tcp;
    tcp.setNoDelay(true);
    tcp.on('connect', () => tcp.write(startupMessage(version, params)));
    tcp.on('data', (chunk: Buffer) => {
      this.fromUpstream.push(chunk);
      void this.pumpUpstream();
    });
    tcp.on('error', (err: NodeJS.ErrnoException) => {
      const { host, port } = this.upstream;
      this.fail({
        severity: 'FATAL',
        code: '08006',
        message: tcp.connecting
          ? `the Neon endpoint cannot reach PostgreSQL at ${host}:${port} (${err.code ?? 'error'}): check its upstream`
          : `the connection to PostgreSQL failed during the login (${err.code ?? 'error'})`,
      });
    });
    tcp.on('close', () => {
      if (this.phase !== 'done') {
        this.fail({ severity: 'FATAL', code: '08006', message: 'PostgreSQL closed the connection during the login' });
      }
    });
  }

  private async pumpUpstream() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.phase === 'auth') {
        const m = this.fromUpstream.nextMessage();
        if (!m) break;
        await this.onUpstream(m);
      }
    } catch (err) {
      this.failWith(err);
    } finally {
      this.pumping = false;
    }
  }

  private async onUpstream(m: Message) {
    const tcp = this.tcp!;
    switch (m.type) {
      case 'R': {
        const code = m.body.readInt32BE(0);
        if (code === AUTH_OK) return this.loggedIn(m);
        if (code === AUTH_CLEARTEXT) {
          tcp.write(passwordMessage(await this.clientPassword()));
        } else if (code === AUTH_MD5) {
          const salt = m.body.subarray(4, 8);
          tcp.write(passwordMessage(md5PasswordHash(this.user, await this.clientPassword(), salt)));
        } else if (code === AUTH_SASL) {
          const mechanisms = m.body.subarray(4).toString('utf8').split('\0').filter(Boolean);
          if (!mechanisms.includes(SCRAM_SHA_256)) {
            throw new ScramError(
              `the upstream offers SASL mechanisms ${mechanisms.join(', ')} but not ${SCRAM_SHA_256}`,
            );
          }
          this.scram = new ScramClient(await this.clientPassword());
          tcp.write(saslInitialResponse(SCRAM_SHA_256, this.scram.clientFirst()));
        } else if (code === AUTH_SASL_CONTINUE && this.scram) {
          tcp.write(saslResponse(await this.scram.clientFinal(m.body.subarray(4).toString('utf8'))));
        } else if (code === AUTH_SASL_FINAL && this.scram) {
          this.scram.verifyServerFinal(m.body.subarray(4).toString('utf8'));
        } else {
          this.fail({
            severity: 'FATAL',
            code: '28000',
            message: `the upstream PostgreSQL asked for an authentication method the Neon endpoint does not speak (request ${code}): use scram-sha-256, md5, password or trust in its pg_hba.conf`,
          });
        }
        return;
      }
      case 'E': {
        const fields = parseErrorFields(m.body);
        if (fields.get('C') === '28P01') {
          // Neon's proxy checks the password itself and answers this way (its code is XX000).
          this.fail({
            severity: 'ERROR',
            code: 'XX000',
            message: `password authentication failed for user '${this.user}'`,
          });
        } else {
          this.finish();
          tcp.destroy();
          this.callbacks.send(m.raw);
          this.callbacks.end();
        }
        return;
      }
      case 'N':
      case 'v':
        // A notice, or NegotiateProtocolVersion: the client's business.
        this.callbacks.send(m.raw);
        return;
      default:
        throw new ProtocolError(`unexpected message type "${m.type}" from PostgreSQL during the login`);
    }
  }

  /**
   * The client's cleartext password. The request is always sent, as Neon's proxy sends it: a
   * pipelining client has sent the password already and ignores it; any other client answers it.
   */
  private clientPassword(): Promise<string> {
    if (!this.askedClient) {
      this.askedClient = true;
      this.callbacks.send(authRequest(AUTH_CLEARTEXT));
    }
    if (this.password !== undefined) return Promise.resolve(this.password);
    return new Promise((resolve) => {
      this.waitingForPassword = resolve;
    });
  }

  private loggedIn(authOk: Message) {
    const tcp = this.tcp!;
    this.finish();
    // Hold the upstream's next bytes until the relay listens (a paused socket buffers them).
    tcp.pause();
    tcp.removeAllListeners('data');
    tcp.removeAllListeners('error');
    tcp.removeAllListeners('close');
    tcp.removeAllListeners('connect');
    if (this.password === undefined) this.dropPipelinedPassword();
    this.callbacks.relay(tcp, Buffer.concat([authOk.raw, this.fromUpstream.drain()]), this.fromClient.drain());
  }

  /** Trust auth: a password the client sent without being asked would reach PostgreSQL as a stray message. */
  private dropPipelinedPassword() {
    if (this.fromClient.peekType() !== 'p') return;
    try {
      this.fromClient.nextMessage(MAX_AUTH_MESSAGE_BYTES);
    } catch {
      // A malformed length: leave the bytes for PostgreSQL to judge.
    }
  }

  private finish() {
    this.phase = 'done';
    clearTimeout(this.timer);
  }

  private failWith(err: unknown) {
    const code = err instanceof ProtocolError ? '08P01' : err instanceof ScramError ? '28000' : 'XX000';
    this.fail({ severity: 'FATAL', code, message: err instanceof Error ? err.message : String(err) });
  }

  private fail(error: { severity: string; code: string; message: string }) {
    if (this.phase === 'done') return;
    this.finish();
    this.tcp?.destroy();
    this.callbacks.send(errorResponse(error));
    this.callbacks.end();
  }
}
