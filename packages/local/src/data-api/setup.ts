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

/** The same settings as environment variables (the SDK reads AWS_ENDPOINT_URL_RDS_DATA). */
export function dataApiEnvSnippet(s: DataApiClientSettings): string {
  return [
    `AWS_ENDPOINT_URL_RDS_DATA=${s.endpoint}`,
    `AWS_REGION=${s.region}`,
    `AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId}`,
    `AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey}`,
    `DATA_API_RESOURCE_ARN=${s.resourceArn}`,
    `DATA_API_SECRET_ARN=${s.secretArn}`,
    `DATA_API_DATABASE=${s.database}`,
  ].join('\n');
}
