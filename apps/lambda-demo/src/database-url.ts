// Where the function's database URL comes from, read once at init (module scope).
//
// - Data API (ANYPG_DATA_API_RESOURCE_ARN and _SECRET_ARN set): no URL; anypg calls the RDS Data
//   API, which reads the database secret itself.
// - DATABASE_URL set: used as is (local runs and tests).
// - DATABASE_SECRET_ARN set (the deployed template): the URL is read from Secrets Manager through
//   the AWS Parameters and Secrets Lambda Extension (a layer serving http://localhost:2773), so the
//   password is never in the template, the stack, or the function's configuration, and no AWS SDK
//   is bundled for it. The secret is either the URL itself or an RDS-style JSON secret
//   ({ username, password, host, port, dbname }); DATABASE_HOST replaces its host (an RDS-managed
//   secret names the instance, the function should go through the RDS Proxy endpoint).

/** The extension's default port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT changes it). */
const EXTENSION_PORT = 2773;
const ATTEMPTS = 5;

export class SecretError extends Error {
  override name = 'SecretError';
}

type Env = Record<string, string | undefined>;

/** The URL to pass to createDb, or undefined to let anypg read its own settings from env. */
export async function resolveDatabaseUrl(env: Env, fetchImpl: typeof fetch = fetch): Promise<string | undefined> {
  if (env.ANYPG_DATA_API_RESOURCE_ARN && env.ANYPG_DATA_API_SECRET_ARN) return undefined;
  if (env.DATABASE_URL) return undefined;
  const secretArn = env.DATABASE_SECRET_ARN;
  if (!secretArn) {
    throw new SecretError(
      'No database configured: set DATABASE_SECRET_ARN (a Secrets Manager secret holding the URL), DATABASE_URL, or ANYPG_DATA_API_RESOURCE_ARN and ANYPG_DATA_API_SECRET_ARN.',
    );
  }
  const secret = await readSecret(secretArn, env, fetchImpl);
  return urlFromSecret(secret, env.DATABASE_HOST);
}

async function readSecret(secretArn: string, env: Env, fetchImpl: typeof fetch): Promise<string> {
  const token = env.AWS_SESSION_TOKEN;
  if (!token) {
    throw new SecretError('AWS_SESSION_TOKEN is not set: the secrets extension only answers inside a Lambda function.');
  }
  const port = Number(env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? EXTENSION_PORT);
  const url = `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretArn)}`;
  let lastProblem = '';
  // The extension starts before the function's init, but give a slow start a few short retries.
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    let res: Response;
    try {
      res = await fetchImpl(url, {
        headers: { 'X-Aws-Parameters-Secrets-Token': token },
        signal: AbortSignal.timeout(3_000),
      });
    } catch (err) {
      lastProblem = `cannot reach it on port ${port} (${(err as Error).name})`;
      await new Promise((r) => setTimeout(r, 50 * attempt));
      continue;
    }
    if (!res.ok) {
      // The extension relays Secrets Manager's refusal (403 without secretsmanager:GetSecretValue,
      // 400 for an unknown secret). Its body names the secret id, never a value.
      throw new SecretError(
        `The Parameters and Secrets extension answered HTTP ${res.status} for the database secret. Check that the function's role may call secretsmanager:GetSecretValue on it and that DATABASE_SECRET_ARN is right.`,
      );
    }
    const body = (await res.json()) as { SecretString?: unknown };
    if (typeof body.SecretString !== 'string' || body.SecretString === '') {
      throw new SecretError(
        'The database secret has no SecretString: store the URL (or RDS JSON credentials) as text.',
      );
    }
    return body.SecretString;
  }
  throw new SecretError(
    `The Parameters and Secrets extension did not answer: ${lastProblem}. Add the AWS-Parameters-and-Secrets-Lambda-Extension layer to the function.`,
  );
}

/** A postgresql:// URL from the secret's text: the URL itself, or RDS JSON credentials. */
export function urlFromSecret(secret: string, hostOverride?: string): string {
  const text = secret.trim();
  let url: URL;
  if (/^postgres(?:ql)?:\/\//i.test(text)) {
    try {
      url = new URL(text);
    } catch {
      throw new SecretError('The database secret is not a valid postgresql:// URL (percent-encode the password).');
    }
  } else {
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new SecretError('The database secret is neither a postgresql:// URL nor JSON credentials.');
    }
    const { username, password, host, port, dbname } = fields;
    if (typeof username !== 'string' || typeof password !== 'string' || (typeof host !== 'string' && !hostOverride)) {
      throw new SecretError('The database secret JSON needs username, password and host (as RDS secrets have).');
    }
    url = new URL('postgresql://placeholder');
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
    url.host = String(host ?? hostOverride);
    if (port !== undefined) url.port = String(port);
    url.pathname = `/${encodeURIComponent(typeof dbname === 'string' && dbname ? dbname : 'postgres')}`;
  }
  if (hostOverride) url.hostname = hostOverride;
  return url.toString();
}
