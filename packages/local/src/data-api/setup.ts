// What to paste into code (or a shell) to point the unmodified AWS SDK at a local endpoint.

export interface DataApiClientSettings {
  endpoint: string;
  region: string;
  resourceArn: string;
  secretArn: string;
  database: string;
}

/** Dummy credentials: the SDK signs every request (SigV4) and the local endpoint ignores the signature. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'anypg-local', secretAccessKey: 'anypg-local' } as const;

/** The three lines that set up a client for the endpoint, ready to paste. */
export function dataApiClientSnippet(s: DataApiClientSettings): string {
  return [
    `const client = new RDSDataClient({ endpoint: '${s.endpoint}', region: '${s.region}', credentials: { accessKeyId: '${LOCAL_CREDENTIALS.accessKeyId}', secretAccessKey: '${LOCAL_CREDENTIALS.secretAccessKey}' } });`,
    `const resourceArn = '${s.resourceArn}';`,
    `const secretArn = '${s.secretArn}'; // database: '${s.database}'`,
  ].join('\n');
}

/**
 * The environment of code that reaches the endpoint through anypg (`createDb()` with no options):
 * anypg's Data API variables, and the AWS SDK's endpoint, region and credentials.
 */
export function dataApiEnv(s: DataApiClientSettings): Record<string, string> {
  return {
    ANYPG_DATA_API_RESOURCE_ARN: s.resourceArn,
    ANYPG_DATA_API_SECRET_ARN: s.secretArn,
    ANYPG_DATA_API_DATABASE: s.database,
    // The SDK takes a service's endpoint from AWS_ENDPOINT_URL_<SERVICE_ID>.
    AWS_ENDPOINT_URL_RDS_DATA: s.endpoint,
    AWS_REGION: s.region,
    // Stand-ins for an execution role's credentials: the endpoint does not check the signature.
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
}

/** The same settings as `NAME=value` lines (a shell, a .env file). */
export function dataApiEnvSnippet(s: DataApiClientSettings): string {
  return Object.entries(dataApiEnv(s))
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/**
 * The `anypg-local lambda` command that runs a handler with that environment (AWS_REGION is
 * Lambda's own variable: the command takes it as --region).
 */
export function dataApiLambdaCommand(s: DataApiClientSettings, handler = '<your-built-handler.mjs>'): string {
  const env = Object.entries(dataApiEnv(s)).filter(([k]) => k !== 'AWS_REGION');
  return [`anypg-local lambda ${handler} --region ${s.region}`, ...env.map(([k, v]) => `--env ${k}=${v}`)].join(
    ' \\\n  ',
  );
}
