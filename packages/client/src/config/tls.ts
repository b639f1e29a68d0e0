// TLS settings with libpq's sslmode semantics, safe by default.
//
//   disable      no TLS
//   allow/prefer libpq tries TLS and falls back to plaintext; pg cannot fall back, so these mean
//                "no TLS" for a local host and are refused for a remote one (they allow plaintext)
//   require      TLS, certificate not checked (checked against `ca` if one is given: libpq does that too)
//   verify-ca    TLS, certificate chain checked, host name not
//   verify-full  TLS, chain and host name checked
//
// Without a setting: local hosts (loopback, localhost, Unix sockets) use no TLS; every other host
// uses verify-full. Plaintext to a non-local host is refused unless `allowUnencryptedRemote` is set.
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from '../errors.js';
import { isLocalHost } from './connection-string.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface SslOptions {
  mode?: SslMode;
  /** Trusted CA certificate(s), PEM. For RDS, the AWS RDS CA bundle. */
  ca?: string | string[];
  cert?: string;
  key?: string;
  /** Server name for SNI and host name checks, when it differs from the host connected to. */
  servername?: string;
  /** Permit plaintext (or unverified-fallback) connections to a non-local host. Off by default. */
  allowUnencryptedRemote?: boolean;
}

const MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface ResolvedTls {
  mode: SslMode;
  /** What to give pg's `ssl` option. */
  pg: false | ConnectionOptions;
}

export function resolveTls(
  host: string,
  fromUrl: string | undefined,
  option: SslMode | SslOptions | undefined,
): ResolvedTls {
  const opts: SslOptions = typeof option === 'string' ? { mode: option } : (option ?? {});
  const local = isLocalHost(host);
  const mode = opts.mode ?? (fromUrl as SslMode | undefined) ?? (local ? 'disable' : 'verify-full');
  if (!MODES.includes(mode)) {
    throw new ConfigurationError(
      opts.mode ? 'ssl.mode' : 'url (sslmode)',
      `sslmode ${JSON.stringify(mode)} is not one of ${MODES.join(', ')}.`,
    );
  }
  const plaintext = mode === 'disable' || mode === 'allow' || mode === 'prefer';
  if (plaintext && !local && !opts.allowUnencryptedRemote) {
    throw new ConfigurationError(
      'ssl',
      `sslmode=${mode} would send the password and data unencrypted to ${host}, which is not a local host. Use sslmode=verify-full (the default), or set ssl: { allowUnencryptedRemote: true } if the network is trusted.`,
    );
  }
  if (plaintext) return { mode, pg: false };
  const base: ConnectionOptions = {};
  if (opts.ca) base.ca = opts.ca;
  if (opts.cert) base.cert = opts.cert;
  if (opts.key) base.key = opts.key;
  if (opts.servername) base.servername = opts.servername;
  if (mode === 'require' && !opts.ca) return { mode, pg: { ...base, rejectUnauthorized: false } };
  if (mode === 'verify-full') return { mode, pg: { ...base, rejectUnauthorized: true } };
  // verify-ca, or require with a CA: check the chain, not the name.
  return { mode, pg: { ...base, rejectUnauthorized: true, checkServerIdentity: () => undefined } };
}
