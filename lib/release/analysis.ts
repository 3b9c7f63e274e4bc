/**
 * Judging a rollout step by the candidate's own traffic (docs/safe-release.md, "Traffic analysis").
 * After a step's wait, the release reads what the new revision or version served since the step began
 * (metrics-cloud-run.ts, metrics-lambda.ts) and judges it here against the service's thresholds.
 * Pure: no I/O, no clock.
 *
 * Both clouds publish late (Cloud Monitoring: "Sampled every 60 seconds. After sampling, data is not
 * visible for up to 120 seconds"; CloudWatch stamps a Lambda point with the invocation's time, "several
 * minutes before the metric is emitted"), so a step's window only covers what can have arrived:
 * {@link stepTiming} says how long a step really takes.
 *
 * The outcomes, as the peers name them (Argo Rollouts' Successful/Failed/Inconclusive, Flagger's "no
 * values found"): `pass`, `breach` (the traffic is returned), `too-few` (too few requests to judge:
 * held and read again up to `maxHoldSeconds`, then returned, or passed, as `tooFewRequests` says).
 */

/** What a step's traffic must show, per service (`rollout.analysis`). */
export interface Analysis {
  /** Largest share of the candidate's requests that may fail: 5xx (Cloud Run), function errors (Lambda). */
  maxErrorRate: number;
  /** Largest 99th-percentile latency of the candidate's requests, in milliseconds. */
  maxP99LatencyMs: number;
  /** Fewest requests a window must hold to be judged at all. */
  minRequests: number;
  /** With fewer: hold the step and read again (then return traffic at the limit), or pass it. */
  tooFewRequests: "hold" | "pass";
  /** How long a step is held for requests before `hold` gives up. */
  maxHoldSeconds: number;
  /** How long the cloud takes to publish a request's metrics: each window ends this long before the read. */
  delaySeconds: number;
}

/** The defaults, and why: docs/safe-release.md ("Choosing thresholds") explains each. */
export const ANALYSIS_DEFAULTS: Analysis = {
  // 1%: Flagger's `request-success-rate` example threshold is 99.
  maxErrorRate: 0.01,
  // Flagger's `request-duration` example `max: 500` is for in-cluster calls; 1.5 s fits a cold-start-prone runtime.
  maxP99LatencyMs: 1500,
  // At 1% a single error in fewer than 100 requests already breaches: 50 requests make one error 2%.
  minRequests: 50,
  // The safe one: an unjudged canary never reaches 100% by default.
  tooFewRequests: "hold",
  maxHoldSeconds: 600,
  // Cloud Monitoring: a 60 s sample, then up to 120 s before it is visible. CloudWatch: "several minutes".
  delaySeconds: 180,
};

/** The limits of each numeric key: config errors and the codec name them. */
export const ANALYSIS_LIMITS = {
  maxErrorRate: [0, 1],
  // Lambda's longest timeout is 900 s; Cloud Run's 3600 s.
  maxP99LatencyMs: [1, 3_600_000],
  minRequests: [1, 1_000_000],
  maxHoldSeconds: [0, 3600],
  delaySeconds: [0, 900],
} as const satisfies Record<Exclude<keyof Analysis, "tooFewRequests">, readonly [number, number]>;

/** Numeric keys that must be whole numbers. */
export const ANALYSIS_INTEGERS: readonly (keyof typeof ANALYSIS_LIMITS)[] = [
  "maxP99LatencyMs",
  "minRequests",
  "maxHoldSeconds",
  "delaySeconds",
];

/** What a step's window showed, filtered to the candidate. */
export interface CanaryMetrics {
  /** Requests that reached the candidate (Cloud Run `request_count`, Lambda `Invocations`). */
  requests: number;
  /** Of those, failed: 5xx (`response_code_class="5xx"`), Lambda `Errors`. */
  errors: number;
  /** Requests refused before they ran (Lambda `Throttles`): reported, never counted as requests. */
  throttles?: number;
  /** 99th-percentile latency in ms; undefined when no request was measured. */
  p99LatencyMs?: number;
}

/** A window of time, in ms since the epoch: `[startMs, endMs]`. */
export interface Window {
  startMs: number;
  endMs: number;
}

/** Reads the candidate's metrics for a window (one implementation per cloud). */
export interface MetricsReader {
  /** Where the numbers come from, for the log: `Cloud Monitoring`, `CloudWatch`. */
  readonly source: string;
  read(window: Window): Promise<CanaryMetrics>;
}

export type TrafficVerdict =
  | { outcome: "pass"; detail: string }
  | { outcome: "breach"; metric: "errorRate" | "p99LatencyMs"; detail: string }
  | { outcome: "too-few"; detail: string };

const pct = (x: number) => `${(x * 100).toFixed(1).replace(/\.0$/, "")}%`;
const counted = (m: CanaryMetrics) =>
  `${m.requests} request${m.requests === 1 ? "" : "s"}${m.throttles ? `, ${m.throttles} throttled (not judged)` : ""}`;

/**
 * Judges one window. An error share already past the threshold at `minRequests` breaches even with
 * too few requests: no further success could bring it back under.
 */
export function judgeTraffic(m: CanaryMetrics, a: Analysis, errorsAre: string): TrafficVerdict {
  const rate = m.requests > 0 ? m.errors / m.requests : 0;
  const errorDetail = `error rate ${pct(rate)} (${m.errors} ${errorsAre} of ${counted(m)})`;
  // Past the threshold, not at it: 57 of 100 at 0.57 is 56.99999… in floating point.
  if (m.errors - a.maxErrorRate * Math.max(m.requests, a.minRequests) > 1e-9)
    return {
      outcome: "breach",
      metric: "errorRate",
      detail: `${errorDetail} > maxErrorRate ${pct(a.maxErrorRate)}`,
    };
  if (m.requests < a.minRequests)
    return {
      outcome: "too-few",
      detail: `too few requests to judge: ${counted(m)} < minRequests ${a.minRequests}`,
    };
  if (m.p99LatencyMs !== undefined && m.p99LatencyMs > a.maxP99LatencyMs)
    return {
      outcome: "breach",
      metric: "p99LatencyMs",
      detail: `p99 latency ${Math.round(m.p99LatencyMs)} ms > maxP99LatencyMs ${a.maxP99LatencyMs} ms (${counted(m)})`,
    };
  const latency =
    m.p99LatencyMs === undefined
      ? ""
      : `, p99 latency ${Math.round(m.p99LatencyMs)} ms <= ${a.maxP99LatencyMs} ms`;
  return { outcome: "pass", detail: `${errorDetail} <= ${pct(a.maxErrorRate)}${latency}` };
}

/**
 * How long one rollout step takes, in seconds: its wait, then the metric delay before the window can
 * be read (the health gate runs meanwhile); a held step up to `maxHoldSeconds` more.
 */
export function stepTiming(waitSeconds: number, a: Analysis | undefined): { least: number; most: number } {
  if (!a) return { least: waitSeconds, most: waitSeconds };
  const least = waitSeconds + a.delaySeconds;
  return { least, most: least + (a.tooFewRequests === "hold" ? a.maxHoldSeconds : 0) };
}

/** Problems with an analysis, each naming its key; empty when valid. Shared by config and CLI. */
export function analysisProblems(a: Analysis): string[] {
  const problems: string[] = [];
  for (const [k, [min, max]] of Object.entries(ANALYSIS_LIMITS) as [
    keyof typeof ANALYSIS_LIMITS,
    readonly [number, number],
  ][]) {
    const v = a[k];
    const whole = ANALYSIS_INTEGERS.includes(k);
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (whole && !Number.isInteger(v)))
      problems.push(
        `${k} is ${String(v)}; expected ${whole ? "a whole number" : "a number"} from ${min} to ${max}`,
      );
  }
  if (a.tooFewRequests !== "hold" && a.tooFewRequests !== "pass")
    problems.push(`tooFewRequests is ${JSON.stringify(a.tooFewRequests)}; expected "hold" or "pass"`);
  return problems;
}

/**
 * A rollout as a service sets it (`rollout:` in a stack file, a component's `rollout` argument): its
 * steps, and how each step's traffic is judged: on by default, `analysis: false` turns it off.
 */
export interface RolloutSettings {
  steps: number[];
  waitSeconds: number;
  /** Thresholds; each key defaults to {@link ANALYSIS_DEFAULTS}. false: the health gate alone judges each step. @default {} */
  analysis?: Partial<Analysis> | false;
}

/**
 * Problems with a rollout's analysis as a component is given it, each naming its key
 * (`analysis.minRequests is 0; …`): a component refuses them before it registers anything.
 */
export function rolloutAnalysisProblems(r: Pick<RolloutSettings, "analysis"> | undefined): string[] {
  if (!r) return [];
  const a = resolveAnalysis(r);
  return a === "off" ? [] : analysisProblems(a).map((p) => `analysis.${p}`);
}

/** The analysis a rollout runs with its defaults applied, or "off". */
export function resolveAnalysis(r: Pick<RolloutSettings, "analysis">): Analysis | "off" {
  return r.analysis === false ? "off" : { ...ANALYSIS_DEFAULTS, ...r.analysis };
}
