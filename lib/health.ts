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
}

export interface HealthCheckResult {
  healthy: boolean;
  attempts: number;
  /** What the last attempt saw. */
  last: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForHealthy(options: HealthCheckOptions): Promise<HealthCheckResult> {
  const attempts = Math.max(1, options.attempts ?? 10);
  const delayMs = options.delayMs ?? 3000;
  let last = "";
  for (let i = 1; i <= attempts; i++) {
    if (i > 1) await sleep(delayMs * (i - 1));
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
      if (ok) return { healthy: true, attempts: i, last };
    } catch (err) {
      last = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  }
  return { healthy: false, attempts, last };
}
