// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without channel
// binding (the endpoint talks to its upstream without TLS), and md5 password hashing: what the
// endpoint needs to log in to an upstream on behalf of a WebSocket client that gave it a cleartext
// password. The key derivation (4096 PBKDF2 iterations by default) runs on libuv's thread pool.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

export class ScramError extends Error {}

export class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64');
  // PostgreSQL takes the user from the startup packet and ignores the SCRAM user name.
  private readonly clientFirstBare = `n=,r=${this.nonce}`;
  private serverSignature: Buffer | undefined;

  constructor(private readonly password: string) {}

  /** client-first-message: no channel binding (`n,,`). */
  clientFirst(): string {
    return `n,,${this.clientFirstBare}`;
  }

  /** client-final-message for the server-first-message. */
  async clientFinal(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    const combinedNonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!combinedNonce?.startsWith(this.nonce) || combinedNonce.length === this.nonce.length) {
      throw new ScramError('SCRAM: the server nonce does not extend the client nonce');
    }
    if (!salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new ScramError('SCRAM: the server-first-message lacks a salt or an iteration count');
    }
    const salted = await pbkdf2Async(
      Buffer.from(this.password, 'utf8'),
      Buffer.from(salt, 'base64'),
      iterations,
      32,
      'sha256',
    );
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${combinedNonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final-message: only a server that knows the password can sign it. */
  verifyServerFinal(serverFinal: string): void {
    const v = parseAttributes(serverFinal).get('v');
    const expected = this.serverSignature;
    const got = v === undefined ? undefined : Buffer.from(v, 'base64');
    if (!expected || !got || got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ScramError('SCRAM: the server signature does not match');
    }
  }
}

/** The answer to AuthenticationMD5Password: `md5` + md5(md5(password + user) + salt), in hex. */
export function md5PasswordHash(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return `md5${createHash('md5').update(inner).update(salt).digest('hex')}`;
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length >= 2 && part[1] === '=') attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}
