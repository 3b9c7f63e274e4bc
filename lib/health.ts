/**
 * The health gate: ask a deployed service's health endpoint until it answers healthy, a bounded number
 * of times, and say why not when it never does.
 */
export interface HealthCheckOptions {
  url: string;
  /** Body the endpoint must answer with (trimmed); any 2xx when unset. */
  expectBody?: string;
  /** @default 10 */
  attempts?: number;
  /** Delay before the second attempt; grows linearly. @default 3000 */
  delayMs?: number;
  /** Per-request timeout. @default 10000 */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …` when set (private services). */
  bearerToken?: string;
  /**
   * For this long after the first request, a 401 or 403 is retried without counting as an attempt:
   * an invoker grant made by this deploy may not apply yet (`allUsers` on a new public service, the
   * gate's account on a private one; IAM changes "typically" apply "within 2 minutes", Google's
   * "Access change propagation"). After it, they count like any other failure.
   * @default 0
   */
  grantPendingMs?: number;
}

export interface HealthCheckResult {
  healthy: boolean;
  attempts: number;
  /** What the last attempt saw. */
  last: string;
  /** The service's own failure, twice in a row (see {@link isDefiniteFailure}): not asked again. */
  definite?: boolean;
}

/**
 * A status that can be the service's own answer, not "not ready yet": 500 ("the server encountered an
 * unexpected condition that prevented it from fulfilling the request") and the other 5xx that no
 * gateway sends for a backend that is still starting. 502, 503 and 504 are a gateway's (Bad Gateway,
 * Service Unavailable: "likely be alleviated after some delay", Gateway Timeout: RFC 9110 §15.6), and
 * are retried, as are 4xx answers (a tag that is not routed yet answers 404).
 */
export function isDefiniteFailure(status: number): boolean {
  return status >= 500 && status <= 599 && status !== 502 && status !== 503 && status !== 504;
}

/**
 * Cloud Run's own front end answers 500 too, when no instance could take the request ("The request was
 * aborted because there was no available instance": Cloud Run troubleshooting). That answer is retried;
 * and one definite answer is never enough: the gate stops after {@link DEFINITE_IN_A_ROW} in a row.
 */
const PLATFORM_500 = /no available instance/i;
export const DEFINITE_IN_A_ROW = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForHealthy(options: HealthCheckOptions): Promise<HealthCheckResult> {
  const attempts = Math.max(1, options.attempts ?? 10);
  const delayMs = options.delayMs ?? 3000;
  const pendingUntil = Date.now() + (options.grantPendingMs ?? 0);
  let last = "";
  let counted = 0;
  let definite = 0;
  for (let request = 0; counted < attempts; request++) {
    if (request > 0) await sleep(delayMs * Math.min(counted, attempts - 1) || delayMs);
    let forbidden = false;
    try {
      const res = await fetch(options.url, {
        headers: options.bearerToken ? { authorization: `Bearer ${options.bearerToken}` } : {},
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      const body = (await res.text()).trim();
      const ok =
        res.status >= 200 &&
        res.status < 300 &&
        (options.expectBody === undefined || body === options.expectBody);
      last = `${res.status} ${JSON.stringify(body.slice(0, 100))}`;
      if (ok) return { healthy: true, attempts: counted + 1, last };
      definite = isDefiniteFailure(res.status) && !PLATFORM_500.test(body) ? definite + 1 : 0;
      if (definite >= DEFINITE_IN_A_ROW)
        return { healthy: false, attempts: counted + 1, last, definite: true };
      forbidden = res.status === 401 || res.status === 403;
    } catch (err) {
      last = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      definite = 0;
    }
    if (!(forbidden && Date.now() < pendingUntil)) counted++;
  }
  if (/^40[13] /.test(last)) {
    last +=
      " (an invoker grant of this deploy may still be applying: IAM changes take up to a few minutes; re-run to retry the release)";
  }
  return { healthy: false, attempts, last };
}
