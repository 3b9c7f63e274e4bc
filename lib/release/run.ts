/**
 * Safe release: the one owner of a service's traffic. The candidate (a new Cloud Run revision or Lambda
 * version) passes its checks on its own before it takes any traffic, then takes it all at once or in
 * steps, checked again at each, and each step judged by the candidate's own traffic once its metrics
 * can have arrived (analysis.ts). Whatever fails, a check, a cloud call past its retries or a deadline,
 * ends the same way: all traffic on what served before, the candidate's tag dropped, one message.
 *
 * Two steps can never both move one service's traffic. Every write is conditional on what this step
 * last read (an etag, a RevisionId), and before each write and each check the step re-reads: when the
 * traffic is no longer what it last left, a newer revision exists, or its update is gone, it stops
 * without writing. A refused write means "someone else moved it"; the step never overwrites. So an
 * orphaned step (its CLI killed) can never move traffic back under the update that replaced it.
 *
 * Cloud-agnostic and free of I/O: the clouds are {@link ReleaseTarget}s (cloud-run.ts, lambda.ts),
 * time and retries are injected (retry.ts), the checks are a list (checks.ts). Why this step, not the
 * Service or Alias resource, owns traffic: docs/safe-release.md.
 */
import { judgeTraffic, type Analysis, type MetricsReader } from "./analysis";
import { healthGate, type Check, type Stage } from "./checks";
import {
  backoffMs,
  DeadlineError,
  DEFAULT_RETRY,
  describeError,
  realClock,
  retrying,
  type Clock,
  type RetryPolicy,
} from "./retry";
import { TrafficConflict, type ReleaseTarget, type Snapshot } from "./target";
import {
  baselineOf,
  describeTraffic,
  rolloutPercents,
  sameTraffic,
  splitAt,
  type Rollout,
  type Traffic,
} from "./traffic";
import { isTransient } from "./transient";

/** Whether the update that started this step still runs (ownership.ts watches its process tree). */
export interface UpdateWatch {
  /** Why the update is gone (`the pulumi CLI (pid 812) has exited`), or undefined while it runs. */
  gone(): Promise<string | undefined>;
}

export interface ReleaseOptions {
  rollout?: Rollout;
  /** false: no checks (healthGate: false), traffic moves at once. @default true */
  gated?: boolean;
  /** The checks at each stage. @default [the target's health gate] */
  checks?: Check[];
  /**
   * Checks run once, before anything is written (not even the candidate's tag) and before the health
   * gate, whether or not the release is gated: the scan and signature of the image (checks.ts).
   * @default []
   */
  preflight?: Check[];
  /**
   * Judge each rollout step by the candidate's own traffic (analysis.ts), after its wait and health
   * gate, once the metric delay has passed. Only for a gated release with steps.
   * @default - none: the health gate alone judges each step
   */
  analysis?: { reader: MetricsReader; settings: Analysis; /** `5xx`, `function errors` */ errorsAre: string };
  clock?: Clock;
  retry?: RetryPolicy;
  /** @default isTransient (transient.ts) */
  transient?: (err: unknown) => boolean;
  update?: UpdateWatch;
  log?: (line: string) => void;
}

export type ReleaseOutcome =
  | { kind: "released"; released: true; traffic: Traffic; gateRuns: number; summary: string }
  /** A check or a cloud call failed: traffic is back on what served before (or says why not). */
  | { kind: "failed"; released: false; traffic: Traffic; gateRuns: number; reason: string; message: string }
  /** Someone else moves this service's traffic now: this step wrote nothing more. */
  | { kind: "stopped"; released: false; traffic: Traffic; gateRuns: number; reason: string; message: string };

/**
 * How often a held step reads its metrics again: Cloud Monitoring samples every 60 s and CloudWatch
 * publishes "in 1-minute intervals", so an earlier read finds nothing new.
 */
export const HOLD_READ_MS = 60_000;

/** `20:01:02`, the UTC time of day a window starts or ends. */
const clockTime = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** This step no longer owns the traffic: nothing more may be written. */
class Stop extends Error {
  constructor(
    readonly reason: string,
    readonly now: Traffic,
    /** Whether `now` is what another writer left (else: what this step last saw). */
    readonly byOther = true,
  ) {
    super(reason);
  }
}

/** A check said no. */
class Failed extends Error {
  constructor(
    readonly check: string,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${check}: ${detail}`);
  }
}

/**
 * Runs one release. Idempotent: a candidate already at 100% is checked and left there (its tag
 * dropped); a candidate left at a split by a killed update resumes from the baseline, so a re-run
 * converges to all-new or all-old.
 */
export async function release(target: ReleaseTarget, options: ReleaseOptions = {}): Promise<ReleaseOutcome> {
  const clock = options.clock ?? realClock;
  const log = options.log ?? (() => {});
  const checks = (options.gated ?? true) ? (options.checks ?? [healthGate(target)]) : [];
  const policy = options.retry ?? DEFAULT_RETRY;
  const transient = options.transient ?? isTransient;
  const retried = (w: string, err: unknown, ms: number) =>
    log(`${target.label}: ${w}: ${describeError(err)}; retrying in ${ms} ms`);
  const read = () =>
    retrying("read traffic", { clock, policy, transient, onRetry: retried }, () => target.read());
  const { label, candidate } = target;

  const first = await read();
  const current = first.traffic;
  const baseline = baselineOf(current, candidate, first.tagged);
  /** The stack went back to a revision that still served the most: a failure leaves it all there. */
  const onCandidate = baseline.length === 1 && baseline[0]!.target === candidate;
  const before = describeTraffic(current);
  log(`${label}: releasing ${candidate}; traffic now: ${before}`);
  /** What this step last read or wrote: the basis of its next write. */
  let last: Snapshot = first;
  /** The routing of a write that failed: it may have landed all the same (a lost answer, a failed operation). */
  let attempted: string | undefined;
  let gateRuns = 0;

  const ownUpdate = async () => {
    const gone = await options.update?.gone();
    if (gone) throw new Stop(`its update is gone (${gone})`, last.traffic, false);
  };
  /**
   * The one ownership rule: a read shows this step's traffic only while its routing is one this step
   * left (`mine`) and the service names no newer revision. Else it stops, saying why.
   */
  const owned = (fresh: Snapshot, mine: (string | undefined)[], refused?: TrafficConflict): Snapshot => {
    if (fresh.newest !== undefined && fresh.newest !== candidate)
      throw new Stop(`${fresh.newest} is newer, and its own update releases it`, fresh.traffic);
    if (!mine.includes(fresh.routing))
      throw new Stop(
        refused
          ? `its write was refused: ${refused.detail}`
          : "traffic was changed by someone else since this step set it",
        fresh.traffic,
      );
    return fresh;
  };
  /** Re-reads, and stops unless the traffic is still as this step left it and its update still runs. */
  const stillMine = async (): Promise<Snapshot> => {
    await ownUpdate();
    last = owned(await read(), [last.routing, attempted]);
    attempted = undefined;
    return last;
  };
  /**
   * Writes one split, conditionally on what this step read (`fresh`: just read, nothing waited on since;
   * else it reads again first). A write is never sent twice on one basis: after a refusal, a lost
   * answer or a throttled call, the step waits (with backoff, to the policy's deadline), reads again
   * and decides: its write landed, someone else wrote (stop), or nothing moved (write again
   * on the new version).
   */
  const write = async (traffic: Traffic, tagged: boolean, fresh?: Snapshot): Promise<void> => {
    let basis = fresh ?? (await stillMine());
    const start = clock.now();
    for (let tries = 1; ; tries++) {
      const intended = target.routingOf(traffic, basis, { tagged });
      if (basis.routing === intended) return;
      attempted = intended;
      let failure: unknown;
      try {
        const after = await target.route(traffic, basis, { tagged });
        // What the write left, read back: anything else is another writer's, which this step never adopts.
        if (after.routing !== intended)
          throw new Stop("traffic was changed by someone else while this step wrote it", after.traffic);
        last = after;
        attempted = undefined;
        return;
      } catch (err) {
        if (err instanceof Stop || !(err instanceof TrafficConflict || transient(err))) throw err;
        failure = err;
      }
      // A refusal whose traffic turns out unchanged is decided again too, within the same deadline.
      const left = start + policy.deadlineMs - clock.now();
      if (left <= 0) throw new DeadlineError("move traffic", tries, failure);
      const wait = Math.min(left, backoffMs(policy, tries));
      retried("move traffic", failure, wait);
      await clock.sleep(wait);
      await ownUpdate();
      const now = owned(
        await read(),
        [intended, basis.routing],
        failure instanceof TrafficConflict ? failure : undefined,
      );
      if (now.routing === intended) {
        last = now;
        attempted = undefined;
        return;
      }
      basis = now;
    }
  };
  const judge = async (stage: Stage, list = checks): Promise<void> => {
    for (const check of list) {
      if (check.name === "health gate") gateRuns++;
      const v = await check.run(stage);
      log(`${label}: ${check.name} ${stage.label}: ${v.ok ? "passed" : "failed"} (${v.detail})`);
      if (!v.ok) throw new Failed(check.name, v.code, v.detail);
    }
  };
  /**
   * The step's own traffic, since it `began`: read once the metric delay has passed, so the window
   * holds what can have arrived; with too few requests, held and read again (tooFewRequests: hold).
   */
  const analyse = async (began: number, stage: Stage): Promise<void> => {
    const a = options.analysis;
    if (!a) return;
    const { settings, reader } = a;
    const delayMs = settings.delaySeconds * 1000;
    const waitMs = (options.rollout?.waitSeconds ?? 0) * 1000;
    const due = began + waitMs + delayMs - clock.now();
    if (due > 0) await clock.sleep(due);
    const holdUntil = clock.now() + settings.maxHoldSeconds * 1000;
    for (;;) {
      await stillMine();
      const window = { startMs: began, endMs: clock.now() - delayMs };
      const m = await retrying("read metrics", { clock, policy, transient, onRetry: retried }, () =>
        reader.read(window),
      );
      const v = judgeTraffic(m, settings, a.errorsAre);
      const seen = `${v.detail}; ${reader.source}, ${clockTime(window.startMs)}-${clockTime(window.endMs)} UTC`;
      log(`${label}: traffic analysis ${stage.label}: ${v.outcome} (${seen})`);
      if (v.outcome === "pass") return;
      if (v.outcome === "breach") throw new Failed("traffic analysis", `analysis.${v.metric}`, seen);
      if (settings.tooFewRequests === "pass") {
        log(`${label}: traffic analysis ${stage.label}: passed unjudged, as tooFewRequests: pass says`);
        return;
      }
      const left = holdUntil - clock.now();
      if (left <= 0)
        throw new Failed(
          "traffic analysis",
          "analysis.too-few",
          `${seen}; held ${settings.maxHoldSeconds} s (tooFewRequests: hold, maxHoldSeconds)`,
        );
      await clock.sleep(Math.min(left, HOLD_READ_MS));
    }
  };

  /** Steps are judged by their own traffic: analysis is on and the release is gated. */
  const byTraffic = options.analysis !== undefined && checks.length > 0;
  const held = current.find((t) => t.target === candidate)?.percent ?? 0;
  let stage = held > 0 && baseline.length > 0 ? `before resuming (it had ${held}%)` : "before any traffic";
  try {
    // The image first: a refused image gets nothing, not even its tag.
    await judge({ label: stage, percent: held }, options.preflight ?? []);
    // The first read is the basis of the first write (the candidate's tag) and of the first gate.
    if (current.length > 0) await write(current, true, options.preflight?.length ? undefined : first);
    await judge({ label: stage, percent: held });
    // Nothing serves yet (a Lambda alias is created by Pulumi once this step passes): nothing to route.
    // Back on a revision that held the most: no steps, the rest of the traffic is not a baseline.
    const percents = current.length === 0 ? [] : onCandidate ? [100] : rolloutPercents(options.rollout);
    for (const [i, percent] of percents.entries()) {
      // Resuming a killed update: steps below what the candidate already holds are done. The step it
      // holds is judged again by its own traffic (when analysis is on): the killed update may have died
      // before its read. The candidate's share is already written.
      if (percent < 100 && (percent < held || (percent === held && !byTraffic))) continue;
      const next = splitAt(onCandidate ? [] : baseline, candidate, percent);
      stage = percent === 100 && percents.length === 1 ? "at 100%" : `at step ${i + 1} (${percent}%)`;
      await write(next, percent < 100);
      const began = clock.now();
      log(`${label}: ${describeTraffic(next)}`);
      if (percent === 100) break;
      await clock.sleep((options.rollout?.waitSeconds ?? 0) * 1000);
      // After a wait, an orphaned step finds out here, before it spends a gate on a vanished tag.
      await stillMine();
      await judge({ label: stage, percent });
      if (byTraffic) await analyse(began, { label: stage, percent });
    }
  } catch (err) {
    if (err instanceof Stop) return stopped(err);
    return giveBack(err, stage);
  }
  const live: Traffic = [{ target: candidate, percent: 100 }];
  const summary = `${label}: ${candidate} released; traffic: ${describeTraffic(live)} (was ${before})`;
  return { kind: "released", released: true, traffic: live, gateRuns, summary };

  function stopped(s: Stop): ReleaseOutcome {
    const message =
      `${label}: release of ${candidate} stopped without writing: ${s.reason}; traffic: ${describeTraffic(s.now)}, ` +
      `${s.byOther ? "as the other writer left it" : "as this step last saw it"}. ` +
      `Nothing to do if a newer update is running; otherwise run the update again`;
    return { kind: "stopped", released: false, traffic: s.now, gateRuns, reason: s.reason, message };
  }

  /** Every failure ends here: all traffic back on what served before, the candidate's tag dropped. */
  async function giveBack(err: unknown, at: string): Promise<ReleaseOutcome> {
    const failure =
      err instanceof Failed
        ? `failed its ${err.check} ${at} (${err.check === "traffic analysis" ? "" : "last answer: "}${err.detail})`
        : `failed ${at}: ${describeError(err)}`;
    const reason = err instanceof Failed ? err.code : "cloud.error";
    const fix =
      err instanceof Failed
        ? "Fix the service and run the update again: a re-run at this commit retries the release"
        : "Run the update again: a re-run at this commit retries the release";
    const end = baseline.length > 0 ? baseline : current;
    let where: string;
    try {
      await write(end, false);
      const onlyCandidate = current.length > 0 && current.every((t) => t.target === candidate);
      where =
        baseline.length === 0
          ? onlyCandidate
            ? `${describeTraffic(current)}, unchanged (it already had all of it)`
            : `${describeTraffic(current)} (no earlier revision or version served: nothing to return to)`
          : `${describeTraffic(baseline)}, ${sameTraffic(current, baseline) && at === "before any traffic" ? "unchanged" : "returned"}`;
    } catch (cleanup) {
      if (cleanup instanceof Stop) return stopped(cleanup);
      where = `${describeTraffic(last.traffic)}: it could not be returned to ${describeTraffic(end)} (${describeError(cleanup)})`;
      const message = `${label}: release of ${candidate} ${failure}; traffic: ${where}. Run the update again: the release resumes and ends all on one revision or version`;
      return { kind: "failed", released: false, traffic: last.traffic, gateRuns, reason, message };
    }
    const message = `${label}: release of ${candidate} ${failure}; traffic: ${where}. ${fix}`;
    return { kind: "failed", released: false, traffic: end, gateRuns, reason, message };
  }
}
