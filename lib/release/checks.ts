/**
 * The checks a candidate must pass at each stage of a release, before any traffic and after each
 * rollout step. A list, run in order; the first that fails ends the release. Each answers a
 * {@link Verdict} with a stable reason code beside its prose (as CDK's `ValidationError` ids), which
 * the failure message and the tests read. Today's list is the health gate; signature, scan and metric
 * checks join it here.
 */
import type { ReleaseTarget } from "./target";

/** Where a release is when its checks run: `before any traffic`, `at step 2 (50%)`. */
export interface Stage {
  label: string;
  /** The candidate's share while the checks run. */
  percent: number;
}

export interface Verdict {
  ok: boolean;
  /** Stable id of the reason: `health.healthy`, `health.unhealthy`. */
  code: string;
  /** What the check saw, for the log and the failure message. */
  detail: string;
}

export interface Check {
  /** `health gate`: named in the failure message ("failed its health gate …"). */
  readonly name: string;
  run(stage: Stage): Promise<Verdict>;
}

/** The candidate's own health answer (its tag URL or qualified ARN), through the target. */
export function healthGate(target: Pick<ReleaseTarget, "gate">): Check {
  return {
    name: "health gate",
    async run() {
      const a = await target.gate();
      return { ok: a.healthy, code: a.healthy ? "health.healthy" : "health.unhealthy", detail: a.last };
    },
  };
}
