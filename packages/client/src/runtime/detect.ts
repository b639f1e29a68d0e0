// Which runtime is this? Called by createDb(), never at import time.
//
// AWS Lambda is a Node process like any other; only its environment tells it apart
// (std-env and hono's getRuntimeKey do not detect it). Edge runtimes are told apart by the
// globals their vendors document.
//
// Vercel Functions run on Lambda and keep its variables (AWS_LAMBDA_FUNCTION_NAME is reserved
// there), but with Fluid compute one instance serves many requests at once and is suspended
// between them: neither Lambda's one connection nor a server's long idle time fits, so Vercel is a
// runtime of its own, told by VERCEL=1 (one of Vercel's system environment variables).

export type RuntimeName =
  | 'aws-lambda'
  | 'vercel'
  | 'node'
  | 'bun'
  | 'deno'
  | 'workerd'
  | 'edge-light'
  | 'netlify'
  | 'unknown';

export interface DetectedRuntime {
  name: RuntimeName;
  /** Why: the variable or global that decided it. */
  evidence: string;
}

type Env = Record<string, unknown>;

export function detectRuntime(
  env: Env,
  g: Record<string, unknown> = globalThis as Record<string, unknown>,
): DetectedRuntime {
  const nav = g.navigator as { userAgent?: string } | undefined;
  if (nav?.userAgent === 'Cloudflare-Workers')
    return { name: 'workerd', evidence: 'navigator.userAgent is Cloudflare-Workers' };
  if (typeof g.EdgeRuntime === 'string')
    return { name: 'edge-light', evidence: 'globalThis.EdgeRuntime is set (Vercel Edge)' };
  if (g.Netlify !== undefined) return { name: 'netlify', evidence: 'globalThis.Netlify is set' };
  if (g.Bun !== undefined) return { name: 'bun', evidence: 'globalThis.Bun is set' };
  if (g.Deno !== undefined) return { name: 'deno', evidence: 'globalThis.Deno is set' };
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (env.VERCEL === '1' && proc?.versions?.node) {
    return { name: 'vercel', evidence: 'VERCEL is 1 (Vercel Functions: an instance serves concurrent requests)' };
  }
  if (typeof env.AWS_LAMBDA_FUNCTION_NAME === 'string' && env.AWS_LAMBDA_FUNCTION_NAME !== '') {
    return { name: 'aws-lambda', evidence: 'AWS_LAMBDA_FUNCTION_NAME is set' };
  }
  if (typeof env.AWS_EXECUTION_ENV === 'string' && env.AWS_EXECUTION_ENV.startsWith('AWS_Lambda_')) {
    return { name: 'aws-lambda', evidence: `AWS_EXECUTION_ENV is ${env.AWS_EXECUTION_ENV}` };
  }
  if (proc?.versions?.node) return { name: 'node', evidence: `process.versions.node is ${proc.versions.node}` };
  return { name: 'unknown', evidence: 'no known runtime marker' };
}
