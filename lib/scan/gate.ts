/**
 * The scan gate, cloud-agnostic and free of I/O: what a registry's vulnerability scan of one digest
 * says ({@link ScanState}, read by ecr.ts and container-analysis.ts), how long to wait for it
 * ({@link waitForScan}), and whether the image may take traffic ({@link judgeScan}) under the stack's
 * thresholds and allow-list (docs/scanning.md).
 *
 * Closed by default: a scan that is missing, failed or unsupported when the deadline passes fails the
 * gate, unless the stack says `allowUnscanned: true`, which the plan warns about. An allow-list entry
 * lifts exactly one vulnerability id until its expiry date (inclusive, UTC), and never after.
 */
import { DeadlineError, pollUntil, type Clock } from "../release/retry";

/**
 * The severities both registries report: ECR's `FindingSeverity` (INFORMATIONAL, LOW, MEDIUM, HIGH,
 * CRITICAL, UNDEFINED; @aws-sdk/client-ecr models_0 `FindingSeverity`) and grafeas' `Severity`
 * (MINIMAL, LOW, MEDIUM, HIGH, CRITICAL, SEVERITY_UNSPECIFIED; grafeas/v1/severity.proto), mapped to
 * one scale by the readers.
 */
export const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "OTHER"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  /** The vulnerability's id: `CVE-2022-37434`, `GHSA-…`, `ALAS-…`. */
  id: string;
  severity: Severity;
  /** The package it was found in, for the message. */
  package?: string;
}

/** One digest's scan, as the registry reports it now. */
export type ScanState =
  /** Queued or running: wait. */
  | { status: "pending"; detail: string }
  /** No scan of this digest exists (yet): wait, and fail at the deadline. */
  | { status: "missing"; detail: string }
  | { status: "complete"; findings: Finding[] }
  | { status: "failed"; detail: string }
  /** The scanner cannot read this image (no supported OS or package manager). */
  | { status: "unsupported"; detail: string };

export interface AllowedFinding {
  /** The vulnerability id, exactly as the registry reports it. */
  id: string;
  /** `YYYY-MM-DD`: the last day (UTC) the entry applies. */
  expires: string;
  /** Why it is accepted (the stack file requires it; the step's command line does not carry it). */
  reason?: string;
}

/** A stack's `scanGate` (lib/config/schema.ts), with defaults applied. */
export interface ScanGate {
  /** Findings of each severity tolerated; unset: not gated. */
  maxCritical: number;
  maxHigh?: number;
  maxMedium?: number;
  /** Accepted findings, each until its expiry. */
  allow: AllowedFinding[];
  /** How long to wait for the scan of a new push. */
  deadlineSeconds: number;
  /** A missing, failed or unsupported scan passes (with a warning) instead of failing. */
  allowUnscanned: boolean;
}

/** Stable ids of the gate's answers (as lib/release/checks.ts's codes). */
export type ScanCode =
  | "scan.passed"
  | "scan.passed-unscanned"
  | "scan.findings"
  | "scan.missing"
  | "scan.failed"
  | "scan.unsupported"
  | "scan.pending";

export interface ScanVerdict {
  ok: boolean;
  code: ScanCode;
  /** One line: the counts against the thresholds, or why there is nothing to count. */
  detail: string;
  /** Findings counted against the thresholds (not allowed), worst first. */
  counted: Finding[];
  /** Allow-list entries that lifted a finding. */
  allowed: AllowedFinding[];
  /** Allow-list entries past their expiry that matched a finding (it counted again). */
  expired: AllowedFinding[];
}

const LIMIT: Record<Exclude<Severity, "OTHER" | "LOW">, keyof ScanGate> = {
  CRITICAL: "maxCritical",
  HIGH: "maxHigh",
  MEDIUM: "maxMedium",
};

/** Whether an entry still applies on `now` (its expiry day included, UTC). */
export function stillAllowed(entry: AllowedFinding, now: Date): boolean {
  return now.toISOString().slice(0, 10) <= entry.expires;
}

/** Whether `state` lets the image through `gate` on `now`. Pure. */
export function judgeScan(state: ScanState, gate: ScanGate, now: Date): ScanVerdict {
  const none = { counted: [], allowed: [], expired: [] };
  if (state.status !== "complete") {
    const code = `scan.${state.status}` as ScanCode;
    if (gate.allowUnscanned)
      return {
        ok: true,
        code: "scan.passed-unscanned",
        detail: `${state.detail}; passed because scanGate.allowUnscanned is true`,
        ...none,
      };
    return { ok: false, code, detail: state.detail, ...none };
  }
  const allowed = new Map<string, AllowedFinding>();
  const expired = new Map<string, AllowedFinding>();
  const counted: Finding[] = [];
  for (const f of state.findings) {
    const entry = gate.allow.find((a) => a.id === f.id);
    if (entry && stillAllowed(entry, now)) allowed.set(entry.id, entry);
    else {
      if (entry) expired.set(entry.id, entry);
      counted.push(f);
    }
  }
  counted.sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  const count = (s: Severity) => new Set(counted.filter((f) => f.severity === s).map((f) => f.id)).size;
  const over: string[] = [];
  const counts: string[] = [];
  for (const [severity, key] of Object.entries(LIMIT) as [Severity, keyof ScanGate][]) {
    const max = gate[key] as number | undefined;
    const n = count(severity);
    counts.push(
      max === undefined ? `${n} ${severity.toLowerCase()}` : `${n} ${severity.toLowerCase()} (max ${max})`,
    );
    if (max !== undefined && n > max) over.push(`${severity.toLowerCase()} ${n} > ${key} ${max}`);
  }
  const lifted = allowed.size > 0 ? `; allowed: ${[...allowed.keys()].join(", ")}` : "";
  const lapsed =
    expired.size > 0
      ? `; expired allow-list entries counted again: ${[...expired.values()].map((e) => `${e.id} (expired ${e.expires})`).join(", ")}`
      : "";
  const worst = counted
    .filter((f) => over.some((o) => o.startsWith(f.severity.toLowerCase())))
    .slice(0, 5)
    .map((f) => `${f.id} (${f.severity}${f.package ? `, ${f.package}` : ""})`);
  const detail =
    over.length > 0
      ? `${over.join(", ")}: ${worst.join(", ")}${lifted}${lapsed}`
      : `${counts.join(", ")}${lifted}${lapsed}`;
  return {
    ok: over.length === 0,
    code: over.length === 0 ? "scan.passed" : "scan.findings",
    detail,
    counted,
    allowed: [...allowed.values()],
    expired: [...expired.values()],
  };
}

/** How often a pending scan is asked again. Both registries scan in seconds to minutes. */
export const SCAN_POLL_MS = 5_000;

/**
 * Reads until the scan is no longer pending or missing, or the deadline passes: then the last state,
 * turned into what it means at the deadline (a scan still pending is "pending", one never started
 * "missing"). Errors of `read` propagate: an unreadable answer is never "no findings".
 */
export async function waitForScan(
  read: () => Promise<ScanState>,
  o: { clock: Clock; deadlineMs: number; intervalMs?: number; log?: (line: string) => void },
): Promise<ScanState> {
  let last: ScanState | undefined;
  try {
    return await pollUntil(
      "the scan",
      o.clock,
      { intervalMs: o.intervalMs ?? SCAN_POLL_MS, deadlineMs: o.deadlineMs },
      async () => {
        const state = await read();
        if (state.status !== last?.status && state.status !== "complete")
          o.log?.(`scan: ${state.status}: ${state.detail}`);
        last = state;
        return state;
      },
      (s) => s.status !== "pending" && s.status !== "missing",
    );
  } catch (err) {
    if (!(err instanceof DeadlineError) || !last) throw err;
    const waited = `${Math.round(o.deadlineMs / 1000)} s`;
    return last.status === "missing"
      ? { status: "missing", detail: `no scan of this digest after ${waited} (${last.detail})` }
      : {
          status: "pending",
          detail: `the scan did not finish in ${waited} (${"detail" in last ? last.detail : ""})`,
        };
  }
}
