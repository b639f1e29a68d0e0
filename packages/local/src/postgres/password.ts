// The superuser password of a local server: random unless the caller gives one (a well-known
// `postgres:postgres` on a port any local process, or a rebinding web page through a stand-in,
// can reach would be a door), and set from a SCRAM verifier computed here, so that the password
// itself never appears in SQL text, the server log or a process list.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** 24 URL-safe characters (144 bits): no percent-encoding needed in a connection string. */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** PostgreSQL's stored form of a SCRAM-SHA-256 password: `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`. */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  const b64 = (b: Buffer) => b.toString('base64');
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}
