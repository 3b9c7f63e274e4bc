/**
 * Safe release: the one owner of a service's traffic. A new Cloud Run revision or Lambda version is
 * health-gated on its own (a Cloud Run tag URL, a Lambda qualified ARN) before it takes any traffic,
 * then takes it all at once or in steps, gated again at each; a failed gate returns all traffic to
 * where it was before the release and says so in one message.
 *
 * Cloud-agnostic and free of I/O: the clouds are {@link ReleaseTarget}s (lib/release-targets.ts), the
 * CLI is scripts/release.ts, and the command line the components write is {@link releaseCommandLine}.
 * Why this step, not the Service or Alias resource, owns traffic: docs/safe-release.md.
 */
import { RELEASE_COMMAND } from "./scripts";

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

export interface GateResult {
  healthy: boolean;
  /** What the gate's last attempt saw: `200 "healthy"`, `FunctionError Unhandled: …`, `ECONNREFUSED`. */
  last: string;
}

/** What the release needs from a cloud; one implementation per target. */
export interface ReleaseTarget {
  /** `Cloud Run service api` / `Lambda function acme-prod-worker`. */
  readonly label: string;
  /** The revision name or version number being released. */
  readonly candidate: string;
  /** Where traffic is now; empty when nothing serves yet (a Lambda alias not created yet). */
  current(): Promise<Traffic>;
  /** Makes the candidate reachable on its own before it has traffic (Cloud Run: the tag). */
  prepare(current: Traffic): Promise<void>;
  /** Sends exactly this split (percentages sum to 100). */
  route(traffic: Traffic): Promise<void>;
  /** Asks the candidate itself, never the shared URL. */
  gate(): Promise<GateResult>;
  /**
   * Sends the final traffic, of a success or a failure, and cleans up (Cloud Run: drops the tag, so a
   * failed revision is not left reachable at its own URL). Without it, `route` is used.
   */
  finish?(traffic: Traffic): Promise<void>;
}

export interface ReleaseOptions {
  rollout?: Rollout;
  /** false: no gate (healthGate: false), traffic moves at once. @default true */
  gated?: boolean;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
}

export type ReleaseOutcome =
  | { released: true; traffic: Traffic; gateRuns: number; summary: string }
  | { released: false; traffic: Traffic; gateRuns: number; message: string };

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
 * most before it, never the candidate. One target, whatever `current` holds: a split left by an
 * update killed mid-step (of this release or an earlier one) is never restored as it was, so a failed
 * release always ends all-old, and a Lambda alias (two versions at most) can always take it.
 */
export function baselineOf(current: Traffic, candidate: string): Traffic {
  const others = current.filter((t) => t.target !== candidate && t.percent > 0);
  if (others.length === 0) return [];
  const largest = others.reduce((a, b) => (b.percent > a.percent ? b : a));
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

const sameTraffic = (a: Traffic, b: Traffic) =>
  describeTraffic([...a].sort((x, y) => x.target.localeCompare(y.target))) ===
  describeTraffic([...b].sort((x, y) => x.target.localeCompare(y.target)));

/**
 * Runs one release. The candidate is gated before it has any traffic; then each share in
 * {@link rolloutPercents} is routed, waited on and gated again. A failed gate at any point routes the
 * baseline back and returns the one-message outcome; nothing is thrown for an unhealthy candidate.
 *
 * Idempotent: a candidate already at 100% is gated and left there; a candidate left at a split by a
 * killed update resumes from the baseline, so a re-run converges to all-new or all-old.
 */
export async function release(target: ReleaseTarget, options: ReleaseOptions = {}): Promise<ReleaseOutcome> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = options.log ?? (() => {});
  const gated = options.gated ?? true;
  const current = await target.current();
  const baseline = baselineOf(current, target.candidate);
  const before = describeTraffic(current);
  log(`${target.label}: releasing ${target.candidate}; traffic now: ${before}`);
  await target.prepare(current);
  let gateRuns = 0;
  const gate = async (stage: string): Promise<GateResult> => {
    if (!gated) return { healthy: true, last: "no gate (healthGate: false)" };
    gateRuns++;
    const r = await target.gate();
    log(`${target.label}: gate ${stage}: ${r.healthy ? "healthy" : "unhealthy"} (${r.last})`);
    return r;
  };
  const fail = async (stage: string, last: string): Promise<ReleaseOutcome> => {
    let now: Traffic;
    let where: string;
    if (baseline.length === 0) {
      now = current;
      if (current.length > 0) await target.finish?.(current);
      where = `${describeTraffic(current)} (no earlier revision or version served: nothing to return to)`;
    } else {
      const moved = !sameTraffic(current, baseline) || stage !== "before any traffic";
      if (target.finish) await target.finish(baseline);
      else if (moved) await target.route(baseline);
      now = baseline;
      where = `${describeTraffic(baseline)}, ${moved ? "returned" : "unchanged"}`;
    }
    return {
      released: false,
      traffic: now,
      gateRuns,
      message:
        `${target.label}: release of ${target.candidate} failed its health gate ${stage} (last answer: ${last}); ` +
        `traffic: ${where}. Fix the service and run the update again: a re-run at this commit retries the release`,
    };
  };

  const held0 = current.find((t) => t.target === target.candidate)?.percent ?? 0;
  const firstStage =
    held0 > 0 && baseline.length > 0 ? `before resuming (it had ${held0}%)` : "before any traffic";
  const first = await gate(firstStage);
  if (!first.healthy) return fail(firstStage, first.last);
  // Nothing serves yet (a Lambda alias is created by Pulumi once this step passes): nothing to route.
  const percents = current.length === 0 ? [] : rolloutPercents(options.rollout);
  const held = current.find((t) => t.target === target.candidate)?.percent ?? 0;
  for (const [i, percent] of percents.entries()) {
    // Resuming a killed update: steps below what the candidate already holds are done.
    if (percent <= held && percent < 100) continue;
    const next = splitAt(baseline, target.candidate, percent);
    await target.route(next);
    log(`${target.label}: ${describeTraffic(next)}`);
    if (percent === 100) break;
    await sleep((options.rollout?.waitSeconds ?? 0) * 1000);
    const r = await gate(`at step ${i + 1} (${percent}%)`);
    if (!r.healthy) return fail(`at step ${i + 1} (${percent}%)`, r.last);
  }
  const live: Traffic = [{ target: target.candidate, percent: 100 }];
  if (current.length > 0) await target.finish?.(live);

  const summary = `${target.label}: ${target.candidate} released; traffic: ${describeTraffic(live)} (was ${before})`;
  return { released: true, traffic: live, gateRuns, summary };
}

// ------------------------------------------------------------------------------------------------
// The command line the components write and the plan reads back
// ------------------------------------------------------------------------------------------------

/** A release step as a command line: what the plan shows and the policy pack reads. */
export type ReleaseStep =
  | {
      target: "cloudrun";
      /** `projects/<p>/locations/<r>/services/<name>` */
      service: string;
      /** The revision being released. */
      revision: string;
      healthPath: string;
      /** Health gate: none, public (no token), or private with this service account's identity token. */
      gate: "none" | "public" | { idTokenFor: string };
      rollout?: Rollout;
    }
  | {
      target: "lambda";
      /** The unqualified function ARN (its region is read from it). */
      functionArn: string;
      /** The version being released. */
      version: string;
      alias: string;
      healthPath: string;
      gate: "none" | "invoke";
      rollout?: Rollout;
    };

/** `<release> cloudrun <service> --revision … --gate …` or `<release> lambda <arn> --version … --alias …`. */
export function releaseCommandLine(step: ReleaseStep): string {
  const gate = typeof step.gate === "string" ? step.gate : `id-token:${step.gate.idTokenFor}`;
  const rollout = step.rollout
    ? ["--steps", step.rollout.steps.join(","), "--wait-seconds", String(step.rollout.waitSeconds)]
    : [];
  const words =
    step.target === "cloudrun"
      ? [RELEASE_COMMAND, "cloudrun", step.service, "--revision", step.revision]
      : [RELEASE_COMMAND, "lambda", step.functionArn, "--version", step.version, "--alias", step.alias];
  return [...words, "--health-path", step.healthPath, "--gate", gate, ...rollout].join(" ");
}

/** Reads a release command line back; undefined when it is not one. */
export function parseReleaseCommandLine(text: string): ReleaseStep | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => /(^|\/)release(\.ts)?$/.test(w));
  if (at < 0) return undefined;
  const [kind, name] = [words[at + 1], words[at + 2]];
  const flag = (f: string) => {
    const i = words.indexOf(`--${f}`, at);
    return i > 0 ? words[i + 1] : undefined;
  };
  const steps = flag("steps");
  const rollout = steps
    ? { steps: steps.split(",").map(Number), waitSeconds: Number(flag("wait-seconds") ?? 0) }
    : undefined;
  const gate = flag("gate") ?? "none";
  const healthPath = flag("health-path") ?? "/health";
  if (kind === "cloudrun" && name && flag("revision")) {
    return {
      target: "cloudrun",
      service: name,
      revision: flag("revision")!,
      healthPath,
      gate: gate.startsWith("id-token:")
        ? { idTokenFor: gate.slice("id-token:".length) }
        : (gate as "none" | "public"),
      ...(rollout ? { rollout } : {}),
    };
  }
  if (kind === "lambda" && name && flag("version") && flag("alias")) {
    return {
      target: "lambda",
      functionArn: name,
      version: flag("version")!,
      alias: flag("alias")!,
      healthPath,
      gate: gate as "none" | "invoke",
      ...(rollout ? { rollout } : {}),
    };
  }
  return undefined;
}

/** The Lambda health-check event the gate invokes a version with (apps/worker answers it). */
export function lambdaHealthEvent(healthPath: string): string {
  return JSON.stringify({ healthCheck: true, path: healthPath });
}
