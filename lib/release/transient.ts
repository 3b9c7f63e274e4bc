/**
 * Which cloud errors are worth another try. Throttling and server errors are; a refusal is not.
 *
 * - Google APIs answer throttling as HTTP 429 `RESOURCE_EXHAUSTED` and a passing outage as 503
 *   `UNAVAILABLE` (google/rpc/code.proto; AIP-194 "Automatic retry configuration" retries
 *   `UNAVAILABLE`); gaxios puts the status on `GaxiosError.status` / `.response.status`.
 * - Lambda answers `TooManyRequestsException` (429) and `ServiceException` (500), and
 *   `ResourceConflictException` (409) while "another operation is in progress" on the function (Lambda
 *   API reference, UpdateAlias and Invoke Errors); the AWS SDK puts the status on
 *   `$metadata.httpStatusCode`. The SDK's own retries are off beneath this (retry.ts).
 * - A connection dropped or refused before an answer (Node's `ECONNRESET`, undici's `fetch failed`).
 *
 * Never transient: a refused conditional write (Lambda `PreconditionFailedException` 412, a Cloud Run
 * etag mismatch): someone else moved traffic, and the step re-reads instead (run.ts).
 */
const RETRIED_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRIED_NAMES = new Set([
  "TooManyRequestsException",
  "ServiceException",
  "ResourceConflictException",
  "ThrottlingException",
  // CloudWatch's (an awsQuery-compatible API: x-amzn-query-error `Throttling;Sender`, 400).
  "Throttling",
]);
const RETRIED_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
]);

/** An error's HTTP status: gaxios's `status` or `response.status`, the AWS SDK's `$metadata.httpStatusCode`. */
export function httpStatusOf(err: unknown): number | undefined {
  if (!err || typeof err !== "object") return undefined;
  const e = err as Record<string, unknown>;
  const response = e.response as { status?: unknown } | undefined;
  const metadata = e.$metadata as { httpStatusCode?: unknown } | undefined;
  for (const s of [e.status, response?.status, metadata?.httpStatusCode]) if (typeof s === "number") return s;
  return undefined;
}

export function isTransient(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as Record<string, unknown>;
  if (e.name === "PreconditionFailedException" || e.name === "TrafficConflict") return false;
  if (typeof e.name === "string" && RETRIED_NAMES.has(e.name)) return true;
  const status = httpStatusOf(e);
  if (status !== undefined) return RETRIED_STATUS.has(status);
  const code = (e.code ?? (e.cause as { code?: unknown } | undefined)?.code) as unknown;
  if (typeof code === "string" && RETRIED_CODES.has(code)) return true;
  return e.name === "TypeError" && e.message === "fetch failed";
}
