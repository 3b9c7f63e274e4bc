/**
 * Traffic as the release sees it, on either cloud: who serves what share, the split at each rollout
 * step, and where traffic returns when a release fails. Pure functions, no I/O.
 */
/** The alias every Lambda function's URL, permissions and invokers target (one name everywhere). */
export const LAMBDA_LIVE_ALIAS = "live";

/** The Cloud Run traffic tag of the revision being released: its own URL, `https://next---…`. */
export const CANDIDATE_TAG = "next";

/** Steps of a gradual release: the candidate's share of traffic, in percent, and the wait after each. */
export interface Rollout {
  /** Ascending, each 1-99; 100 always follows the last. */
  steps: number[];
  /** Seconds to wait after each step before the gate runs again. */
  waitSeconds: number;
}

/** Bounds the config enforces (lib/config/services/common.ts runs rolloutProblems), and the CLI again. */
export const ROLLOUT_LIMITS = { maxSteps: 10, minWaitSeconds: 0, maxWaitSeconds: 3600 } as const;

/** Where traffic goes: a Cloud Run revision name or a Lambda version number, and its share. */
export interface TrafficEntry {
  target: string;
  percent: number;
}
export type Traffic = TrafficEntry[];

/** `100% on api-3f2a6c1-0d9e2` · `90% on 41, 10% on 42` · `no traffic`. */
export function describeTraffic(traffic: Traffic): string {
  const live = traffic.filter((t) => t.percent > 0);
  if (live.length === 0) return "no traffic";
  return live.map((t) => `${t.percent}% on ${t.target}`).join(", ");
}

/** The candidate's shares in order: each step, then 100. */
export function rolloutPercents(rollout?: Rollout): number[] {
  return [...(rollout?.steps ?? []), 100];
}

/** Problems with a rollout, each a complete sentence; empty when valid. Shared by config and CLI. */
export function rolloutProblems(rollout: Rollout): string[] {
  const problems: string[] = [];
  const { steps, waitSeconds } = rollout;
  if (steps.length === 0) problems.push("steps is empty; give at least one percentage, e.g. [10, 50]");
  if (steps.length > ROLLOUT_LIMITS.maxSteps)
    problems.push(`steps has ${steps.length} entries; at most ${ROLLOUT_LIMITS.maxSteps}`);
  steps.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 99)
      problems.push(`steps[${i}] is ${p}; each step is a whole percentage 1-99 (100 always comes last)`);
    else if (i > 0 && p <= steps[i - 1]!)
      problems.push(`steps[${i}] is ${p}, not above steps[${i - 1}] (${steps[i - 1]}); steps must ascend`);
  });
  if (
    !Number.isInteger(waitSeconds) ||
    waitSeconds < ROLLOUT_LIMITS.minWaitSeconds ||
    waitSeconds > ROLLOUT_LIMITS.maxWaitSeconds
  ) {
    problems.push(
      `waitSeconds is ${waitSeconds}; expected whole seconds ${ROLLOUT_LIMITS.minWaitSeconds}-${ROLLOUT_LIMITS.maxWaitSeconds}`,
    );
  }
  return problems;
}

/**
 * Where traffic returns if this release fails: all of it on the revision or version that served the
 * most before it. One target, whatever `current` holds: a split left by an update killed mid-step is
 * never restored as it was, so a failed release always ends on one, and a Lambda alias (two versions
 * at most) can always take it.
 *
 * Never the candidate, when the candidate tag is its own or absent: it is what is being judged.
 * Never a revision that carries the candidate tag of another release (`unfinished`, Cloud Run's
 * `next` on another revision): that release never passed its gates at 100%, and the stack no longer
 * names it. Then the candidate itself may be the baseline, when it served the most: the stack going
 * back to a revision that still held most of the traffic.
 */
export function baselineOf(current: Traffic, candidate: string, unfinished?: string): Traffic {
  const other = unfinished !== undefined && unfinished !== candidate ? unfinished : undefined;
  const live = current.filter((t) => t.percent > 0);
  const eligible = other
    ? live.filter((t) => t.target !== other)
    : live.filter((t) => t.target !== candidate);
  if (eligible.length === 0) return [];
  const largest = eligible.reduce((a, b) => (b.percent > a.percent ? b : a));
  return [{ target: largest.target, percent: 100 }];
}

/**
 * The split with the candidate at `percent`: the baseline's entries shrink in proportion, rounded so
 * the total stays exactly 100 (the largest entry absorbs the rounding).
 */
export function splitAt(baseline: Traffic, candidate: string, percent: number): Traffic {
  if (percent >= 100 || baseline.length === 0) return [{ target: candidate, percent: 100 }];
  const rest = 100 - percent;
  const scaled = baseline.map((t) => ({ target: t.target, percent: Math.floor((t.percent * rest) / 100) }));
  const short = rest - scaled.reduce((n, t) => n + t.percent, 0);
  const largest = scaled.reduce((a, b) => (b.percent > a.percent ? b : a));
  largest.percent += short;
  return [...scaled.filter((t) => t.percent > 0), { target: candidate, percent }];
}

/** Whether two splits give every target the same share (order aside). */
export function sameTraffic(a: Traffic, b: Traffic): boolean {
  const key = (t: Traffic) => describeTraffic([...t].sort((x, y) => x.target.localeCompare(y.target)));
  return key(a) === key(b);
}

/** A Cloud Run traffic entry as the Service resource reports it (`traffics`, refreshed from the API). */
export interface LiveTrafficEntry {
  revision?: string;
  percent?: number;
  tag?: string;
}

/**
 * What makes a release step run again at the same revision: its trigger. `[revision]` while live
 * traffic is all on it with no candidate tag, or does not name it at all (a new revision, a new
 * trigger anyway). Any release left unfinished (a candidate tag, or a split that gives this revision
 * part of the traffic) adds a second element naming the traffic, so the step runs and converges it,
 * even where its own interrupted step is still in the state (an interrupted convergence). The update
 * after a convergence shows the step once more, its trigger back to the revision alone: a gated
 * release that moves nothing. Tags the program does not own do not count.
 */
export function releaseTrigger(revision: string, live: readonly LiveTrafficEntry[] | undefined): string[] {
  const entries = live ?? [];
  const tag = entries.find((t) => t.tag === CANDIDATE_TAG);
  const share = entries.filter((t) => t.revision === revision).reduce((n, t) => n + (t.percent ?? 0), 0);
  const named = entries.some((t) => t.revision === revision);
  if (!tag && (!named || share === 100 || share === 0)) return [revision];
  const shares = entries.filter((t) => (t.percent ?? 0) > 0);
  const now = describeTraffic(shares.map((t) => ({ target: t.revision ?? "LATEST", percent: t.percent! })));
  return [revision, `converge: ${now}${tag ? `, tag ${CANDIDATE_TAG} on ${tag.revision}` : ""}`];
}
