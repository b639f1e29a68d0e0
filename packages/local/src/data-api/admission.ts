// Which requests reach a Data API operation. Besides the Host and Origin checks every local
// listener makes (guard/browser-guard.ts), a call must look like what the AWS SDK sends: a JSON
// body with `Content-Type: application/json` and a SigV4 `Authorization` header (present; its
// signature is not checked). A browser can send neither without a CORS preflight, which is only
// answered for admitted origins: so no request a page can make on its own (a form post, a
// `text/plain` fetch) ever reaches the database.
import type { IncomingHttpHeaders } from 'node:http';
import { DataApiError } from './errors.js';

/** The headers the SDK sends from a browser, for the preflight of an admitted origin. */
export const SDK_PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
  'Access-Control-Allow-Headers':
    'authorization, content-type, x-amz-date, x-amz-content-sha256, x-amz-security-token, x-amz-user-agent, amz-sdk-invocation-id, amz-sdk-request',
  'Access-Control-Expose-Headers': 'x-amzn-requestid, x-amzn-errortype',
  'Access-Control-Max-Age': '86400',
};

/**
 * Undefined when the request has the SDK's shape; else the AccessDeniedException to answer.
 * `signed`: whether the route needs the SigV4 header (the control route only needs JSON).
 */
export function sdkShapeProblem(headers: IncomingHttpHeaders, signed: boolean): DataApiError | undefined {
  const type = headers['content-type'];
  if (type === undefined || !/^application\/(?:x-amz-)?json(?:-1\.[01])?\s*(?:;|$)/i.test(type)) {
    return new DataApiError(
      'AccessDeniedException',
      `The local Data API endpoint takes only requests shaped as the AWS SDK sends them: Content-Type: application/json (this one has ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 60))}). Nothing was run.`,
    );
  }
  const auth = headers.authorization;
  if (signed && (auth === undefined || !auth.startsWith('AWS4-HMAC-SHA256 '))) {
    return new DataApiError(
      'AccessDeniedException',
      `The local Data API endpoint takes only requests signed as the AWS SDK signs them: an Authorization: AWS4-HMAC-SHA256 header (SigV4; the signature is not checked, so any credentials do). This one has ${auth === undefined ? 'none' : 'another scheme'}. Nothing was run.`,
    );
  }
  return undefined;
}
