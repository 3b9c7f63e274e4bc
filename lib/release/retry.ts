/**
 * Time and retries for the release, injected: one {@link Clock} and one {@link RetryPolicy} serve every
 * cloud call, poll and wait, so a test runs a ten-minute rollout in milliseconds and every loop has a
 * bound. The clouds' own clients retry nothing here: google-auth-library's transport retries nothing
 * by default (`authclient.js`: retries are "not a part of the default transporter"; gaxios
 * `getRetryConfig` leaves `retry` unset), and the Lambda client is built with `maxAttempts: 1`
 * (scripts/release.ts) so the AWS SDK's standard mode does not retry beneath this policy.
 */

/** Now and a wait; a test's clock advances without waiting. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A clock whose sleeps return at once and move its time forward (tests, the bench). */
export function virtualClock(start = 0): Clock & { slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

/** Exponential backoff with full jitter, bounded by a deadline per call. */
export interface RetryPolicy {
  /** First wait after a transient failure. @default 1000 */
  initialMs: number;
  /** Longest wait between tries. @default 16000 */
  maxDelayMs: number;
  /** How long one call may keep trying, from its first try. @default 120000 */
  deadlineMs: number;
  /** 0..1: how much of each wait is random (spreads many steps' retries apart). @default 1 */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialMs: 1000,
  maxDelayMs: 16_000,
  deadlineMs: 120_000,
  jitter: 1,
};

/** A call that kept failing with transient errors until its deadline. */
export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly tries: number,
    readonly last: unknown,
    message = `${what}: still failing after ${tries} tries (last: ${describeError(last)})`,
  ) {
    super(message);
    this.name = "DeadlineError";
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** The wait before try `n + 1` (n ≥ 1): initial · 2^(n-1), capped, with jitter drawn from `random`. */
export function backoffMs(policy: RetryPolicy, n: number, random: () => number = Math.random): number {
  const full = Math.min(policy.maxDelayMs, policy.initialMs * 2 ** Math.max(0, n - 1));
  return Math.round(full * (1 - policy.jitter) + full * policy.jitter * random());
}

export interface RetryContext {
  clock: Clock;
  policy: RetryPolicy;
  /** Whether an error is worth another try (throttling, 5xx, a dropped connection). */
  transient: (err: unknown) => boolean;
  /** Told of each retry, for the step's log. */
  onRetry?: (what: string, err: unknown, waitMs: number) => void;
  random?: () => number;
}

/**
 * Runs `call` until it succeeds, fails with a non-transient error (thrown as is), or the policy's
 * deadline passes (a {@link DeadlineError}). A wait never runs past the deadline.
 */
export async function retrying<T>(what: string, ctx: RetryContext, call: () => Promise<T>): Promise<T> {
  const start = ctx.clock.now();
  for (let tries = 1; ; tries++) {
    try {
      return await call();
    } catch (err) {
      if (!ctx.transient(err)) throw err;
      const left = start + ctx.policy.deadlineMs - ctx.clock.now();
      if (left <= 0) throw new DeadlineError(what, tries, err);
      const wait = Math.min(left, backoffMs(ctx.policy, tries, ctx.random));
      ctx.onRetry?.(what, err, wait);
      await ctx.clock.sleep(wait);
    }
  }
}

/**
 * Polls `read` until `done` says so, waiting `intervalMs` between reads, for at most `deadlineMs`:
 * then a {@link DeadlineError} naming what never finished.
 */
export async function pollUntil<T>(
  what: string,
  clock: Clock,
  o: { intervalMs: number; deadlineMs: number },
  read: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  const start = clock.now();
  for (let reads = 1; ; reads++) {
    const value = await read();
    if (done(value)) return value;
    if (clock.now() - start >= o.deadlineMs)
      throw new DeadlineError(
        what,
        reads,
        "not done",
        `${what}: not done after ${reads} polls in ${o.deadlineMs / 1000} s`,
      );
    await clock.sleep(Math.min(o.intervalMs, Math.max(1, start + o.deadlineMs - clock.now())));
  }
}
