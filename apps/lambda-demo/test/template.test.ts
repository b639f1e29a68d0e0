// The SAM template, checked without SAM or AWS (neither is reachable here): what it deploys, that
// the handler it names is in the build output and self-contained, and that each database path gets
// exactly the configuration and permissions it needs, with no secret in plain text.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGateway, startLambda } from '@anypg/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../src/routes.js';
import { parseTemplate, resolveTemplate, strings } from './support/cfn-yaml.js';
import { APP_DIR, freshDatabase } from './support/db.js';

const run = promisify(execFile);
const template = parseTemplate(readFileSync(join(APP_DIR, 'template.yaml'), 'utf8'));
const fn = template.Resources.NotesFunction;

const CLUSTER = 'arn:aws:rds:eu-west-1:123456789012:cluster:notes';
const DATA_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-cluster-AbCdEf';
const URL_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-url-GhIjKl';

const dataApiVariant = () =>
  resolveTemplate(template, { UseDataApi: 'true', ClusterArn: CLUSTER, DataApiSecretArn: DATA_API_SECRET }).Resources
    .NotesFunction.Properties;
const proxyVariant = (values: Record<string, string> = {}) =>
  resolveTemplate(template, { DatabaseUrlSecretArn: URL_SECRET, ...values }).Resources.NotesFunction.Properties;

/** Every statement of the function's inline policies in a resolved variant. */
const statements = (props: Record<string, any>): Record<string, any>[] =>
  props.Policies.flatMap((p: Record<string, any>) => p.Statement);

describe('template.yaml', () => {
  it('is a SAM template with one function behind an HTTP API', () => {
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(template.Transform).toBe('AWS::Serverless-2016-10-31');
    const types = Object.fromEntries(Object.entries<any>(template.Resources).map(([k, v]) => [k, v.Type]));
    expect(types).toEqual({ NotesApi: 'AWS::Serverless::HttpApi', NotesFunction: 'AWS::Serverless::Function' });
    expect(template.Outputs.ApiUrl.Value).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not JavaScript's
      'Fn::Sub': 'https://${NotesApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}',
    });
  });

  it('runs Node.js 24 on arm64, the runtime the bundle is built for', () => {
    expect(fn.Properties.Runtime).toBe('nodejs24.x');
    expect(fn.Properties.Architectures).toEqual(['arm64']);
    const build = readFileSync(join(APP_DIR, 'scripts/build.mjs'), 'utf8');
    const target = /target: 'node(\d+)'/.exec(build)?.[1];
    expect(fn.Properties.Runtime).toBe(`nodejs${target}.x`);
  });

  it('declares exactly the routes the handler serves, each on the HTTP API', () => {
    const events = Object.values<any>(fn.Properties.Events);
    for (const e of events) {
      expect(e.Type).toBe('HttpApi');
      expect(e.Properties.ApiId).toEqual({ Ref: 'NotesApi' });
    }
    const declared = events.map((e) => `${e.Properties.Method} ${e.Properties.Path}`).sort();
    expect(declared).toEqual([...ROUTES].sort());
  });

  it('builds with the makefile target that bundles and copies the handler', () => {
    expect(fn.Metadata.BuildMethod).toBe('makefile');
    expect(fn.Properties.CodeUri).toBe('.');
    const makefile = readFileSync(join(APP_DIR, 'Makefile'), 'utf8');
    const recipe = /^build-NotesFunction:\n((?:\t.*\n?)+)/m.exec(makefile)?.[1] ?? '';
    expect(recipe).toContain('node scripts/build.mjs');
    expect(recipe).toContain('cp dist/handler.mjs "$(ARTIFACTS_DIR)/dist/"');
    expect(recipe).toContain('cp -R dist/chunks "$(ARTIFACTS_DIR)/dist/"');
  });

  it('names a handler that exists in the build output and exports `handler`', async () => {
    const [file, exportName] = (fn.Properties.Handler as string).split(/\.(?=[^.]+$)/) as [string, string];
    expect(file).toBe('dist/handler');
    // Lambda's Node runtime tries .js, .mjs and .cjs; the build writes .mjs (ESM whatever package.json says).
    const path = join(APP_DIR, `${file}.mjs`);
    expect(existsSync(path)).toBe(true);
    // Import it in a fresh process: init creates the anypg client without connecting.
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(path)}); console.log(typeof m.${exportName});`,
      ],
      { env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'postgresql://nobody@127.0.0.1:9/none' } },
    );
    expect(stdout.trim()).toBe('function');
  });

  describe('the deployment artifact', () => {
    let dir: string;
    let close: () => Promise<void> = async () => {};
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'lambda-demo-artifact-'));
    });
    afterAll(async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves requests on its own, without node_modules (what the Makefile copies is all Lambda gets)', async () => {
      // The same copies as the Makefile's recipe, into a folder with no node_modules above it.
      mkdirSync(join(dir, 'dist'));
      cpSync(join(APP_DIR, 'dist/handler.mjs'), join(dir, 'dist/handler.mjs'));
      cpSync(join(APP_DIR, 'dist/chunks'), join(dir, 'dist/chunks'), { recursive: true });
      const db = await freshDatabase('artifact');
      const lambda = await startLambda({
        handler: `${join(dir, 'dist/handler.mjs')}#handler`,
        cwd: dir,
        env: { DATABASE_URL: db.url },
      });
      const gateway = await startGateway({ lambda });
      close = async () => {
        await gateway.close();
        await lambda.close();
      };
      const res = await fetch(`${gateway.url}/notes`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ items: [], nextCursor: null });
    });
  });

  describe('the Data API variant (UseDataApi=true)', () => {
    it('configures anypg with the ARNs and no URL', () => {
      const props = dataApiVariant();
      expect(props.Environment.Variables).toEqual({
        ANYPG_DATA_API_RESOURCE_ARN: CLUSTER,
        ANYPG_DATA_API_SECRET_ARN: DATA_API_SECRET,
        ANYPG_DATA_API_DATABASE: 'postgres',
      });
      expect(props.VpcConfig).toBeUndefined();
      expect(props.Layers).toEqual([]);
    });

    it('may run the Data API statements on the cluster and read the cluster secret, nothing more', () => {
      expect(statements(dataApiVariant())).toEqual([
        {
          Sid: 'DataApiStatements',
          Effect: 'Allow',
          Action: [
            'rds-data:ExecuteStatement',
            'rds-data:BatchExecuteStatement',
            'rds-data:BeginTransaction',
            'rds-data:CommitTransaction',
            'rds-data:RollbackTransaction',
          ],
          Resource: CLUSTER,
        },
        {
          Sid: 'DataApiReadsTheClusterSecret',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: DATA_API_SECRET,
        },
      ]);
    });
  });

  describe('the RDS Proxy variant (default)', () => {
    it('passes the secret ARN, adds the secrets extension layer, and may read only that secret', () => {
      const props = proxyVariant();
      expect(props.Environment.Variables).toEqual({ DATABASE_SECRET_ARN: URL_SECRET });
      expect(props.Layers).toEqual([template.Parameters.SecretsExtensionLayerArn.Default]);
      expect(props.Layers[0]).toMatch(/:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/);
      expect(statements(props)).toEqual([
        {
          Sid: 'ExtensionReadsTheDatabaseUrl',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: URL_SECRET,
        },
      ]);
      expect(props.VpcConfig).toBeUndefined();
    });

    it('joins the VPC when subnets are given, and can replace the host with the proxy endpoint', () => {
      const props = proxyVariant({
        VpcSubnetIds: 'subnet-1,subnet-2',
        VpcSecurityGroupIds: 'sg-1',
        DatabaseHost: 'notes.proxy-abc.eu-west-1.rds.amazonaws.com',
      });
      expect(props.VpcConfig).toEqual({ SubnetIds: ['subnet-1', 'subnet-2'], SecurityGroupIds: ['sg-1'] });
      expect(props.Environment.Variables.DATABASE_HOST).toBe('notes.proxy-abc.eu-west-1.rds.amazonaws.com');
    });

    it('caps concurrency (hence connections) only when asked', () => {
      expect(proxyVariant().ReservedConcurrentExecutions).toBeUndefined();
      expect(proxyVariant({ ReservedConcurrency: '20' }).ReservedConcurrentExecutions).toBe('20');
    });
  });

  it('has defaults that satisfy their own AllowedPattern', () => {
    for (const [name, p] of Object.entries<any>(template.Parameters)) {
      if (p.AllowedPattern && p.Default !== undefined)
        expect(String(p.Default), name).toMatch(new RegExp(p.AllowedPattern));
      if (p.AllowedValues) expect(p.AllowedValues, name).toContain(p.Default);
    }
  });

  it('holds no secret: no URL with credentials, no password, no resolved secret value', () => {
    // Descriptions are prose for the deployer (one shows the URL format); every other value counts.
    for (const { path, value } of strings(template).filter((s) => !s.path.endsWith('Description'))) {
      expect(value, path).not.toMatch(/postgres(?:ql)?:\/\//i);
      expect(value, path).not.toMatch(/password\s*[=:]/i);
      // A dynamic reference would put the secret's value into the function's configuration.
      expect(value, path).not.toMatch(/\{\{resolve:(?:secretsmanager|ssm-secure)/);
    }
    // Every environment variable comes from a parameter that is an ARN, a host or a name.
    for (const variant of [dataApiVariant(), proxyVariant({ DatabaseHost: 'proxy.example' })]) {
      for (const [name, value] of Object.entries<string>(variant.Environment.Variables)) {
        expect(name).not.toMatch(/PASSWORD|TOKEN|^DATABASE_URL$/);
        expect(value).toMatch(/^arn:aws:|^[a-z0-9.-]+$/);
      }
    }
    // Secrets are passed by ARN, never by value.
    const names = Object.keys(template.Parameters);
    expect(names.filter((n) => /password|token|url$/i.test(n))).toEqual([]);
    const secretParams = names.filter((n) => /SecretArn$/.test(n));
    expect(secretParams).toEqual(['DatabaseUrlSecretArn', 'DataApiSecretArn']);
    for (const name of secretParams)
      expect(template.Parameters[name].AllowedPattern, name).toContain(':secretsmanager:');
  });
});
