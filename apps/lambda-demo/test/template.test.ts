// The SAM template, checked in three ways.
//
// 1. By AWS's own linter, cfn-lint (the check `sam validate --lint` runs), on the file and on every
//    variant (RDS Proxy without and with a VPC, Data API). cfn-lint transforms the template with
//    aws-sam-translator first, the library `sam validate` runs, so a template SAM rejects fails
//    here too (E0001). cfn-lint ignores --parameters on a template with a transform (1.51 rebuilds
//    its context after the transform), so each variant is linted as a copy whose parameter
//    defaults are that variant's values: cfn-lint resolves a Ref to a parameter from its default.
// 2. Structure tests for what no linter checks: that each path gets exactly the permissions it
//    needs (least privilege), the configuration anypg reads, no secret, the routes the handler
//    serves, and the parameters each path requires (the template's Rules, which CloudFormation
//    evaluates and cfn-lint does not).
// 3. Stand-ins for the SAM CLI, which cannot be installed on the build machines (it comes only
//    from the Python package registry, which they cannot reach). Until `sam build` and
//    `sam validate` run in CI they approximate: `sam build` (its makefile builder runs
//    `make build-NotesFunction` with ARTIFACTS_DIR set: the tests run that recipe as make expands
//    it and serve requests from the result, which has no node_modules) and the part of
//    `sam validate` that is more than the translator run above (the handler named by the template
//    exists in the build output and exports `handler`).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGateway, startLambda } from '@anypg/local';
import { budget } from '@anypg/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../src/routes.js';
import { type CfnLintFinding, cfnLint, describeFinding, findCfnLint } from './support/cfn-lint.js';
import { parseTemplate, resolveTemplate, strings } from './support/cfn-yaml.js';
import { APP_DIR, freshDatabase } from './support/db.js';

const run = promisify(execFile);
const TEMPLATE = join(APP_DIR, 'template.yaml');
const text = readFileSync(TEMPLATE, 'utf8');
const template = parseTemplate(text);
const fn = template.Resources.NotesFunction;

const CLUSTER = 'arn:aws:rds:eu-west-1:123456789012:cluster:notes';
const DATA_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-cluster-AbCdEf';
const URL_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-url-GhIjKl';

/** The parameter values of each way to deploy the template (the others keep their defaults). */
const VARIANTS: Record<string, Record<string, string>> = {
  'RDS Proxy path, no VPC': { DatabaseUrlSecretArn: URL_SECRET },
  'RDS Proxy path in a VPC, proxy host': {
    DatabaseUrlSecretArn: URL_SECRET,
    VpcSubnetIds: 'subnet-0a1b2c3d4e5f60718,subnet-0a1b2c3d4e5f60719',
    VpcSecurityGroupIds: 'sg-0a1b2c3d4e5f60718',
    DatabaseHost: 'notes.proxy-abc123.eu-west-1.rds.amazonaws.com',
    ReservedConcurrency: '20',
  },
  'Data API path': { UseDataApi: 'true', ClusterArn: CLUSTER, DataApiSecretArn: DATA_API_SECRET },
};

const resolved = (values: Record<string, string>) => resolveTemplate(template, values);
const props = (values: Record<string, string>) => resolved(values).Resources.NotesFunction.Properties;
const role = (values: Record<string, string>) => resolved(values).Resources.NotesFunctionRole.Properties;

/** Every statement of the role's inline policies in a resolved variant. */
const statements = (values: Record<string, string>): Record<string, any>[] =>
  role(values).Policies.flatMap((p: Record<string, any>) => p.PolicyDocument.Statement);

const LOGS_STATEMENT = {
  Sid: 'WritesItsOwnLogGroup',
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: { 'Fn::GetAtt': ['NotesLogGroup', 'Arn'] },
};

/** The template as JSON with these values as the parameters' defaults (how cfn-lint sees a variant). */
function variantTemplate(values: Record<string, string>): string {
  const copy = structuredClone(template);
  for (const [name, value] of Object.entries(values)) {
    if (!copy.Parameters[name]) throw new Error(`no parameter ${name}`);
    copy.Parameters[name].Default = value;
  }
  return `${JSON.stringify(copy, null, 2)}\n`;
}

describe('template.yaml', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lambda-demo-template-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('checked by cfn-lint (the linter `sam validate --lint` runs)', () => {
    const lint = findCfnLint();
    // CI must have it (the machine image ships it); elsewhere its absence skips these, saying so.
    if (!lint && process.env.CI) {
      it('cfn-lint is installed (CI needs it; pip install cfn-lint)', () => expect(lint).not.toBeNull());
    }
    const name = lint ? `cfn-lint ${lint.version}` : 'skipped: cfn-lint is not installed on this machine';
    describe.skipIf(!lint)(name, () => {
      const BARE = 'bare-conditions.yaml';
      const MISSPELT = 'misspelt-property.yaml';
      let findings: CfnLintFinding[] = [];
      // One cfn-lint run for every file (its start costs about 3 s of CPU; each file adds less).
      beforeAll(async () => {
        const files = [TEMPLATE];
        for (const [i, values] of Object.values(VARIANTS).entries()) {
          const file = join(dir, `variant-${i}.json`);
          writeFileSync(file, variantTemplate(values));
          files.push(file);
        }
        // The template's grants also require their ARNs to be non-empty (GrantsDataApi,
        // GrantsUrlSecret). Under IsDataApi / IsDatabaseUrl alone, cfn-lint resolves each ARN to
        // its empty default and reports that "" is no ARN, as it did before that fix.
        const bare = text
          .replace('- GrantsDataApi\n', '- IsDataApi\n')
          .replace('- GrantsUrlSecret\n', '- IsDatabaseUrl\n');
        expect(bare).not.toBe(text);
        writeFileSync(join(dir, BARE), bare);
        files.push(join(dir, BARE));
        // A property SAM does not define: the translator (what `sam validate` runs) rejects it.
        const misspelt = text.replace('      MemorySize: 512\n', '      MemorySize: 512\n      MemorySizee: 512\n');
        expect(misspelt).not.toBe(text);
        writeFileSync(join(dir, MISSPELT), misspelt);
        files.push(join(dir, MISSPELT));
        findings = await cfnLint(files, ['--include-experimental', '--regions', 'us-east-1', 'eu-west-1']);
      }, budget(180_000));
      const of = (file: string) => findings.filter((f) => f.Filename.endsWith(`/${file}`));

      it('finds nothing in the file or in any variant: no error, warning or informational finding, experimental rules included', () => {
        const ours = findings.filter((f) => ![BARE, MISSPELT].some((file) => f.Filename.endsWith(`/${file}`)));
        expect(ours.map(describeFinding)).toEqual([]);
      });

      it('runs the SAM transform: a property AWS::Serverless::Function does not define is an error (E0001)', () => {
        expect(of(MISSPELT).map((f) => `${f.Rule.Id} ${f.Message}`)).toEqual([
          expect.stringMatching(
            /^E0001 .*property MemorySizee not defined for resource of type AWS::Serverless::Function/,
          ),
        ]);
      });

      it('is really checking: the grants under the bare path conditions bring back the three W1030 of the empty ARN defaults', () => {
        const w1030 = of(BARE)
          .filter((f) => f.Rule.Id === 'W1030')
          .map((f) => f.Location.Path.join('.'));
        expect(w1030.sort()).toEqual([
          'Parameters.ClusterArn.Default',
          'Parameters.DataApiSecretArn.Default',
          'Parameters.DatabaseUrlSecretArn.Default',
        ]);
      });
    });
  });

  describe('not checked by the linters: what is deployed and who may do what', () => {
    it('deploys one function behind an HTTP API, with its own role and log group', () => {
      expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
      expect(template.Transform).toBe('AWS::Serverless-2016-10-31');
      const types = Object.fromEntries(Object.entries<any>(template.Resources).map(([k, v]) => [k, v.Type]));
      expect(types).toEqual({
        NotesApi: 'AWS::Serverless::HttpApi',
        NotesLogGroup: 'AWS::Logs::LogGroup',
        NotesFunctionRole: 'AWS::IAM::Role',
        NotesFunction: 'AWS::Serverless::Function',
      });
      expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': ['NotesFunctionRole', 'Arn'] });
      // SAM's own role (from a Policies property) would carry the VPC access policy on every path.
      expect(fn.Properties.Policies).toBeUndefined();
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

    it('keeps the logs 14 days in a group of its own that goes away with the stack', () => {
      const group = template.Resources.NotesLogGroup;
      expect(group.Properties.RetentionInDays).toBe(14);
      expect(group.DeletionPolicy).toBe('Delete');
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: 'NotesLogGroup' } });
    });

    it("refuses a deploy that lacks its path's ARNs before creating anything (Rules: CloudFormation evaluates them, cfn-lint does not)", () => {
      expect(resolved({}).RuleFailures).toEqual([
        'UseDataApi=false (the RDS Proxy path) needs DatabaseUrlSecretArn, the secret holding the database URL.',
      ]);
      expect(resolved({ UseDataApi: 'true' }).RuleFailures).toEqual([
        "UseDataApi=true (the Data API path) needs ClusterArn, the Aurora cluster's ARN.",
        "UseDataApi=true (the Data API path) needs DataApiSecretArn, the cluster's credentials secret.",
      ]);
      expect(resolved({ UseDataApi: 'true', ClusterArn: CLUSTER }).RuleFailures).toHaveLength(1);
      for (const [variant, values] of Object.entries(VARIANTS))
        expect(resolved(values).RuleFailures, variant).toEqual([]);
    });

    it('refuses the default (us-east-1) extension layer in another region, before Lambda would (Rules)', () => {
      const proxy = VARIANTS['RDS Proxy path, no VPC']!;
      const inIreland = (values: Record<string, string>) =>
        resolveTemplate(template, values, { 'AWS::Region': 'eu-west-1' }).RuleFailures;
      expect(inIreland(proxy)).toEqual([
        expect.stringMatching(/^Outside us-east-1, set SecretsExtensionLayerArn to your region's/),
      ]);
      const ownLayer =
        'arn:aws:lambda:eu-west-1:123456789012:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:12';
      expect(inIreland({ ...proxy, SecretsExtensionLayerArn: ownLayer })).toEqual([]);
      // The Data API path uses no layer.
      expect(inIreland(VARIANTS['Data API path']!)).toEqual([]);
      // The rule compares with the parameter's own default, not a copy that could drift.
      const rule = template.Rules.TheDefaultExtensionLayerIsUsEast1s.Assertions[0].Assert['Fn::Not'][0]['Fn::Equals'];
      expect(rule[1]).toBe(template.Parameters.SecretsExtensionLayerArn.Default);
    });

    describe('the Data API variant (UseDataApi=true)', () => {
      const values = VARIANTS['Data API path']!;

      it('configures anypg with the ARNs and no URL, outside any VPC', () => {
        const p = props(values);
        expect(p.Environment.Variables).toEqual({
          ANYPG_DATA_API_RESOURCE_ARN: CLUSTER,
          ANYPG_DATA_API_SECRET_ARN: DATA_API_SECRET,
          ANYPG_DATA_API_DATABASE: 'postgres',
        });
        expect(p.VpcConfig).toBeUndefined();
        expect(p.Layers).toEqual([]);
      });

      it('least privilege: its logs, the Data API statements on the cluster and the cluster secret, no VPC policy', () => {
        expect(role(values).ManagedPolicyArns).toEqual([]);
        expect(statements(values)).toEqual([
          LOGS_STATEMENT,
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
      const plain = VARIANTS['RDS Proxy path, no VPC']!;
      const inVpc = VARIANTS['RDS Proxy path in a VPC, proxy host']!;

      it('passes the secret ARN and adds the secrets extension layer', () => {
        const p = props(plain);
        expect(p.Environment.Variables).toEqual({ DATABASE_SECRET_ARN: URL_SECRET });
        expect(p.Layers).toEqual([template.Parameters.SecretsExtensionLayerArn.Default]);
        expect(p.Layers[0]).toMatch(/:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+$/);
        expect(p.VpcConfig).toBeUndefined();
      });

      it('least privilege: its logs and that one secret; the VPC access policy only inside a VPC', () => {
        const readsTheUrl = {
          Sid: 'ExtensionReadsTheDatabaseUrl',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: URL_SECRET,
        };
        expect(statements(plain)).toEqual([LOGS_STATEMENT, readsTheUrl]);
        expect(role(plain).ManagedPolicyArns).toEqual([]);
        expect(statements(inVpc)).toEqual([LOGS_STATEMENT, readsTheUrl]);
        expect(role(inVpc).ManagedPolicyArns).toEqual([
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not JavaScript's
          { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' },
        ]);
      });

      it('joins the VPC when subnets are given, and can replace the host with the proxy endpoint', () => {
        const p = props(inVpc);
        expect(p.VpcConfig).toEqual({
          SubnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0a1b2c3d4e5f60719'],
          SecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        });
        expect(p.Environment.Variables.DATABASE_HOST).toBe('notes.proxy-abc123.eu-west-1.rds.amazonaws.com');
      });

      it('caps concurrency (hence connections) only when asked', () => {
        expect(props(plain).ReservedConcurrentExecutions).toBeUndefined();
        expect(props(inVpc).ReservedConcurrentExecutions).toBe('20');
      });
    });

    it('holds no secret: no URL with credentials, no password, no resolved secret value', () => {
      // Descriptions are prose for the deployer (one shows the URL format); every other value counts.
      const prose = /(Description|AssertDescription)$/;
      for (const { path, value } of strings(template).filter((s) => !prose.test(s.path))) {
        expect(value, path).not.toMatch(/postgres(?:ql)?:\/\//i);
        expect(value, path).not.toMatch(/password\s*[=:]/i);
        // A dynamic reference would put the secret's value into the function's configuration.
        expect(value, path).not.toMatch(/\{\{resolve:(?:secretsmanager|ssm-secure)/);
      }
      // Every environment variable comes from a parameter that is an ARN, a host or a name.
      for (const values of Object.values(VARIANTS)) {
        for (const [name, value] of Object.entries<string>(props(values).Environment.Variables)) {
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

  describe('stand-ins for `sam build` (the SAM CLI cannot be installed here)', () => {
    /** The commands `make build-NotesFunction` runs, as make expands them (make -n runs none). */
    async function makeRecipe(artifacts: string): Promise<string[]> {
      const { stdout } = await run('make', ['-n', '-s', 'build-NotesFunction'], {
        cwd: APP_DIR,
        env: { ...process.env, ARTIFACTS_DIR: artifacts },
      });
      return stdout.trim().split('\n');
    }

    it('builds with the makefile target: bundle, then copy the handler and its chunks into ARTIFACTS_DIR', async () => {
      expect(fn.Metadata.BuildMethod).toBe('makefile');
      expect(fn.Properties.CodeUri).toBe('.');
      expect(await makeRecipe('/artifacts')).toEqual([
        'node scripts/build.mjs',
        'mkdir -p "/artifacts/dist"',
        'cp dist/handler.mjs "/artifacts/dist/"',
        'cp -R dist/chunks "/artifacts/dist/"',
      ]);
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
      let artifacts: string;
      let close: () => Promise<void> = async () => {};
      beforeAll(() => {
        artifacts = join(dir, 'artifacts');
        mkdirSync(artifacts);
      });
      afterAll(() => close());

      it('serves requests on its own, without node_modules (what the Makefile copies is all Lambda gets)', async () => {
        // The recipe's copy steps, as make expands them, into a folder with no node_modules above
        // it. Its first step (the bundle) is skipped: the global setup built dist/ from the current
        // sources, and rebuilding it would rewrite files other test files are loading.
        const [bundle, ...copies] = await makeRecipe(artifacts);
        expect(bundle).toBe('node scripts/build.mjs');
        for (const step of copies) await run('sh', ['-c', step], { cwd: APP_DIR });
        const db = await freshDatabase('artifact');
        const lambda = await startLambda({
          handler: `${join(artifacts, 'dist/handler.mjs')}#handler`,
          cwd: artifacts,
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
  });
});
