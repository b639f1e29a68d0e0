// The few PostgreSQL v3 protocol messages the endpoint reads and writes itself while it logs a
// WebSocket client in (ws-login.ts): startup packets, authentication requests and responses,
// ErrorResponse. Everything after the login is relayed as bytes and never parsed here.

export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_BYTES = 10_000;
/** PostgreSQL's limit for an authentication message (PG_MAX_AUTH_TOKEN_LENGTH). */
export const MAX_AUTH_MESSAGE_BYTES = 65_535;

export class ProtocolError extends Error {}

/** A startup-phase packet: an int32 length, an int32 code (protocol version or request), a body. */
export interface StartupPacket {
  code: number;
  body: Buffer;
  raw: Buffer;
}

/** A typed message: a type byte, an int32 length, a body. */
export interface Message {
  type: string;
  body: Buffer;
  raw: Buffer;
}

/** Collects chunks of a byte stream and cuts whole packets off its front. */
export class ByteQueue {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  get size(): number {
    return this.buf.length;
  }

  /** Everything still queued (and empties the queue). */
  drain(): Buffer {
    const all = this.buf;
    this.buf = Buffer.alloc(0);
    return all;
  }

  /** The type byte of the next message, if any byte is queued. */
  peekType(): string | undefined {
    return this.buf.length > 0 ? String.fromCharCode(this.buf[0]!) : undefined;
  }

  nextStartup(): StartupPacket | undefined {
    if (this.buf.length < 8) return undefined;
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > MAX_STARTUP_BYTES) throw new ProtocolError(`invalid startup packet length ${len}`);
    if (this.buf.length < len) return undefined;
    const raw = this.take(len);
    return { code: raw.readInt32BE(4), body: raw.subarray(8), raw };
  }

  nextMessage(maxBytes = Number.POSITIVE_INFINITY): Message | undefined {
    if (this.buf.length < 5) return undefined;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > maxBytes) throw new ProtocolError(`invalid message length ${len}`);
    if (this.buf.length < len + 1) return undefined;
    const raw = this.take(len + 1);
    return { type: String.fromCharCode(raw[0]!), body: raw.subarray(5), raw };
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

/** A StartupMessage body: NUL-terminated name/value pairs, then one more NUL. */
export function parseStartupParams(body: Buffer): Map<string, string> {
  const parts = body.toString('utf8').split('\0');
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params.set(parts[i]!, parts[i + 1]!);
  return params;
}

export function startupMessage(version: number, params: Map<string, string>): Buffer {
  let text = '';
  for (const [k, v] of params) text += `${k}\0${v}\0`;
  const body = Buffer.from(`${text}\0`, 'utf8');
  const msg = Buffer.alloc(8 + body.length);
  msg.writeInt32BE(msg.length, 0);
  msg.writeInt32BE(version, 4);
  body.copy(msg, 8);
  return msg;
}

export function message(type: string, body: Buffer): Buffer {
  const msg = Buffer.alloc(5 + body.length);
  msg.write(type, 0, 'latin1');
  msg.writeInt32BE(4 + body.length, 1);
  body.copy(msg, 5);
  return msg;
}

/** AuthenticationRequest ('R') with its int32 code and any extra data. */
export function authRequest(code: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(4 + extra.length);
  body.writeInt32BE(code, 0);
  extra.copy(body, 4);
  return message('R', body);
}

/** PasswordMessage ('p') with a NUL-terminated string: a password, or an md5 hash. */
export function passwordMessage(text: string): Buffer {
  return message('p', Buffer.from(`${text}\0`, 'utf8'));
}

/** SASLInitialResponse ('p'): mechanism name, then the length-prefixed client-first-message. */
export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const name = Buffer.from(`${mechanism}\0`, 'utf8');
  const payload = Buffer.from(data, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(payload.length, 0);
  return message('p', Buffer.concat([name, len, payload]));
}

/** SASLResponse ('p'): the raw client-final-message. */
export function saslResponse(data: string): Buffer {
  return message('p', Buffer.from(data, 'utf8'));
}

/** The string a PasswordMessage carries (up to its NUL). */
export function passwordOf(body: Buffer): string {
  const nul = body.indexOf(0);
  return body.subarray(0, nul < 0 ? body.length : nul).toString('utf8');
}

export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
}

/** ErrorResponse ('E') with the fields a client needs: severity (S and V), SQLSTATE, message. */
export function errorResponse(e: ErrorFields): Buffer {
  const text = `S${e.severity}\0V${e.severity}\0C${e.code}\0M${e.message}\0\0`;
  return message('E', Buffer.from(text, 'utf8'));
}

/** The fields of an ErrorResponse or NoticeResponse body, by their one-letter codes. */
export function parseErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    fields.set(code, body.subarray(i + 1, end).toString('utf8'));
    i = end + 1;
  }
  return fields;
}
