/**
 * The checks a candidate must pass at each stage of a release, before any traffic and after each
 * rollout step. A list, run in order; the first that fails ends the release. Each answers a
 * {@link Verdict} with a stable reason code beside its prose (as CDK's `ValidationError` ids), which
 * the failure message and the tests read. The health gate runs at every stage; the image checks (the
 * scan and the signature of the exact digest) run once, before anything is written (run.ts
 * `preflight`).
 */
import { judgeScan, type ScanGate, type ScanState } from "../scan/gate";
import type { SignatureCheck } from "../signing/verify";
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

/**
 * The registry's scan of the image, as it is now, judged again under the stack's gate: the scan step
 * waited for it, so anything but a finished scan (or `allowUnscanned`) fails here (lib/scan/gate.ts).
 */
export function scanCheck(
  ref: string,
  read: () => Promise<ScanState>,
  gate: ScanGate,
  now = () => new Date(),
): Check {
  return {
    name: "scan check",
    async run() {
      const v = judgeScan(await read(), gate, now());
      return { ok: v.ok, code: v.code, detail: `${ref}: ${v.detail}` };
    },
  };
}

/** The image's signature, by the pinned (or the signing stack's own) key, for its commit (lib/signing/verify.ts). */
export function signatureCheck(ref: string, verify: () => Promise<SignatureCheck>): Check {
  return {
    name: "signature check",
    async run() {
      const v = await verify();
      return v.ok
        ? {
            ok: true,
            code: "signature.valid",
            detail: `${ref}: signed for ${String(v.claims.commit)} by ${String(v.claims.stack)}`,
          }
        : { ok: false, code: `signature.${v.check}`, detail: `${ref}: the "${v.check}" check: ${v.problem}` };
    },
  };
}
