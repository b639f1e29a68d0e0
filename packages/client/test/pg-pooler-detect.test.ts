// Pooler detection from the URL: the managed poolers' published host patterns, Prisma's
// pgbouncer=true, and the explicit option, which always wins.
import { describe, expect, it } from 'vitest';
import {
  detectPooler,
  POOLER_TRAITS,
  type PoolerKind,
  poolerOf,
  regionFromRdsHost,
} from '../src/backends/pg-pooler/detect.js';
import { parseConnectionString } from '../src/config/connection-string.js';

const kindOf = (url: string, explicit?: PoolerKind | 'none') => {
  const p = parseConnectionString(url);
  return detectPooler(p.host, p.port, p.params, explicit).kind;
};

describe('detectPooler', () => {
  const cases: Array<[string, PoolerKind | undefined]> = [
    // RDS Proxy: default and custom (reader) endpoints, any region, China
    ['postgresql://app:pw@app-proxy.proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com:5432/app', 'rds-proxy'],
    ['postgresql://app:pw@reader.endpoint.proxy-ab0cd1efghij.eu-central-1.rds.amazonaws.com/app', 'rds-proxy'],
    ['postgresql://app:pw@p.proxy-abc123.cn-north-1.rds.amazonaws.com.cn/app', 'rds-proxy'],
    ['postgresql://app:pw@APP-PROXY.PROXY-C1A2B3.US-WEST-2.RDS.AMAZONAWS.COM/app', 'rds-proxy'],
    // RDS instances and Aurora clusters are not proxies
    ['postgresql://app:pw@mydb.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com/app', undefined],
    ['postgresql://app:pw@my-cluster.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com/app', undefined],
    ['postgresql://app:pw@proxy-db.c1a2b3.us-east-1.rds.amazonaws.com/app', undefined],
    // Supavisor: transaction mode on 6543, session mode on 5432
    ['postgresql://postgres.abcdefghijklmnop:pw@aws-0-us-east-1.pooler.supabase.com:6543/postgres', 'supavisor'],
    ['postgresql://postgres.abcdefghijklmnop:pw@aws-1-eu-west-2.pooler.supabase.com:6543/postgres', 'supavisor'],
    ['postgresql://postgres.abcdefghijklmnop:pw@aws-0-us-east-1.pooler.supabase.com:5432/postgres', undefined],
    // Supabase: the dedicated PgBouncer on 6543, the direct connection on 5432
    ['postgresql://postgres:pw@db.abcdefghijklmnop.supabase.co:6543/postgres', 'pgbouncer'],
    ['postgresql://postgres:pw@db.abcdefghijklmnop.supabase.co:5432/postgres', undefined],
    // Neon: -pooler on the endpoint label
    [
      'postgresql://alex:pw@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/dbname?sslmode=require',
      'neon-pooler',
    ],
    ['postgresql://alex:pw@ep-cool-darkness-a1b2c3d4-pooler.eastus2.azure.neon.tech/db', 'neon-pooler'],
    ['postgresql://alex:pw@ep-cool-darkness-123456.us-east-2.aws.neon.tech/dbname', undefined],
    ['postgresql://alex:pw@my-pooler.example.com/db', undefined],
    // Hyperdrive's binding host
    ['postgresql://user:pw@2e5a2b1c3d4e5f60718293a4b5c6d7e8.hyperdrive.local:5432/db?sslmode=disable', 'hyperdrive'],
    // Prisma's convention, anywhere
    ['postgresql://app:pw@10.0.0.5:6432/app?pgbouncer=true', 'pgbouncer'],
    ['postgresql://app:pw@10.0.0.5:6432/app?pgbouncer=false', undefined],
    // Nothing otherwise
    ['postgresql://postgres:pw@127.0.0.1:5432/postgres', undefined],
    ['postgresql://postgres:pw@db.internal:6543/postgres', undefined],
  ];
  for (const [url, expected] of cases) {
    it(`${expected ?? 'none'}: ${new URL(url).host}${new URL(url).search}`, () => {
      expect(kindOf(url)).toBe(expected);
    });
  }

  it('lets the explicit option win, both ways', () => {
    expect(kindOf('postgresql://a:b@127.0.0.1:6432/db', 'pgbouncer')).toBe('pgbouncer');
    expect(kindOf('postgresql://a:b@x.proxy-abc.us-east-1.rds.amazonaws.com/db', 'none')).toBeUndefined();
    expect(kindOf('postgresql://a:b@x.proxy-abc.us-east-1.rds.amazonaws.com/db', 'supavisor')).toBe('supavisor');
    expect(kindOf('postgresql://a:b@127.0.0.1/db', 'bogus' as PoolerKind)).toBeUndefined();
  });

  it('explains itself without credentials', () => {
    const p = parseConnectionString('postgresql://app:s3cret@app.proxy-abc.us-east-1.rds.amazonaws.com/app');
    const d = detectPooler(p.host, p.port, p.params);
    expect(d.evidence).toContain('RDS Proxy');
    expect(d.evidence).toContain('app.proxy-abc.us-east-1.rds.amazonaws.com');
    expect(d.evidence).not.toContain('s3cret');
    expect(detectPooler('127.0.0.1', 5432, {}).evidence).toMatch(/not a known pooler/);
    expect(detectPooler('aws-0-x.pooler.supabase.com', 5432, {}).evidence).toMatch(/session mode/);
  });

  it('poolerOf has createDb’s shape: undefined when there is no pooler', () => {
    expect(poolerOf(parseConnectionString('postgresql://a:b@127.0.0.1/db'))).toBeUndefined();
    expect(poolerOf(parseConnectionString('postgresql://a:b@h/db?pgbouncer=true'))?.kind).toBe('pgbouncer');
  });
});

describe('POOLER_TRAITS', () => {
  it('keeps named statements only where the pooler tracks them', () => {
    expect(POOLER_TRAITS.pgbouncer.namedStatements).toBe(false);
    expect(POOLER_TRAITS['rds-proxy'].namedStatements).toBe(false);
    expect(POOLER_TRAITS.supavisor.namedStatements).toBe(false);
    expect(POOLER_TRAITS['neon-pooler'].namedStatements).toBe(true);
    expect(POOLER_TRAITS.hyperdrive.namedStatements).toBe(true);
    expect(POOLER_TRAITS['rds-proxy'].cancelRequests).toBe(false);
    expect(POOLER_TRAITS.pgbouncer.extraStartupParameters).toBe(false);
  });
});

describe('regionFromRdsHost', () => {
  it('reads the region from RDS and RDS Proxy host names, and nothing else', () => {
    expect(regionFromRdsHost('app.proxy-abc.us-east-1.rds.amazonaws.com')).toBe('us-east-1');
    expect(regionFromRdsHost('mydb.c1a2b3.ap-southeast-2.rds.amazonaws.com')).toBe('ap-southeast-2');
    expect(regionFromRdsHost('mydb.c1a2b3.cn-north-1.rds.amazonaws.com.cn')).toBe('cn-north-1');
    expect(regionFromRdsHost('mydb.c1a2b3.rds.cn-north-1.amazonaws.com.cn')).toBe('cn-north-1');
    expect(regionFromRdsHost('mydb.c1a2b3.us-gov-west-1.rds.amazonaws.com')).toBe('us-gov-west-1');
    expect(regionFromRdsHost('db.example.com')).toBeUndefined();
    expect(regionFromRdsHost('rds.amazonaws.com')).toBeUndefined();
  });
});
