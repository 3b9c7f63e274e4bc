/**
 * What the fake cloud does wrong, on purpose: a typed plan a test sets and resets, never a patched
 * method. Each fault is one a real API answers, cited where it is answered (cloud-run.ts, lambda.ts).
 */

/** The calls a fault can target. */
export type FakeOp =
  | "run.services.get"
  | "run.services.patch"
  | "run.operations.get"
  | "lambda.GetAlias"
  | "lambda.UpdateAlias"
  | "lambda.Invoke";

export interface FaultPlan {
  /**
   * Answer an error instead of the call, on the Nth call of `op` (1-based, counted from when the plan
   * was set): 429 (Google `RESOURCE_EXHAUSTED`, Lambda `TooManyRequestsException`), 503 (`UNAVAILABLE`),
   * 500 (Lambda `ServiceException`), 409 (Lambda `ResourceConflictException`).
   */
  errors?: { op: FakeOp; nth: number[]; status: 409 | 429 | 500 | 503 }[];
  /** Polls of a Cloud Run operation that answer not done (`reconciling`) before it is. @default 1 */
  operationPolls?: number;
  /**
   * Cloud Run traffic operations end in this error (google.longrunning.Operation `error`): the Nth
   * (1-based, counted from when the plan was set), or every one without `nth`.
   */
  operationError?: { code: number; message: string; nth?: number[] };
  /**
   * The Nth write of `op` takes effect, then its answer is lost: a 503 instead of it, as a connection
   * dropped after the server acted would look.
   */
  lostAnswers?: { op: "run.services.patch" | "lambda.UpdateAlias"; nth: number[] }[];
  /** Cloud Run revisions (`<service>/<revision>`) that never become ready. */
  neverReady?: string[];
  /**
   * The next N Cloud Run revisions created fail to start, and stay failed once the plan is reset: a
   * revision's readiness is its own (`Revision.conditions`, google/cloud/run/v2/revision.proto), and
   * nothing documents Cloud Run starting a failed revision again.
   */
  failStarts?: number;
  /** Lambda versions (`<function>:<version>`) whose first N invokes time out (a cold start). */
  coldStarts?: Record<string, number>;
}

/** Counts calls per op and says which fail, for the plan in force. */
export class Faults {
  private plan: FaultPlan = {};
  private calls = new Map<FakeOp, number>();
  private operations = 0;
  private cold = new Map<string, number>();
  private startsToFail = 0;

  set(plan: FaultPlan): void {
    this.plan = plan;
    this.calls.clear();
    this.operations = 0;
    this.cold = new Map(Object.entries(plan.coldStarts ?? {}));
    this.startsToFail = plan.failStarts ?? 0;
  }

  reset(): void {
    this.set({});
  }

  get current(): Readonly<FaultPlan> {
    return this.plan;
  }

  /** Counts a call of `op`; the status to fail it with, if the plan says so. */
  error(op: FakeOp): 409 | 429 | 500 | 503 | undefined {
    const n = (this.calls.get(op) ?? 0) + 1;
    this.calls.set(op, n);
    return this.plan.errors?.find((e) => e.op === op && e.nth.includes(n))?.status;
  }

  /** Whether the answer to this call of `op` (already counted by `error`) is lost after it took effect. */
  lostAnswer(op: FakeOp): boolean {
    const n = this.calls.get(op) ?? 0;
    return this.plan.lostAnswers?.some((l) => l.op === op && l.nth.includes(n)) ?? false;
  }

  /** The error a new traffic operation ends in, if the plan says so (and counts it). */
  operationError(): { code: number; message: string } | undefined {
    const n = ++this.operations;
    const e = this.plan.operationError;
    if (!e || (e.nth && !e.nth.includes(n))) return undefined;
    return { code: e.code, message: e.message };
  }

  /** Whether this invoke of a version is a cold start that times out (and counts it). */
  coldStart(key: string): boolean {
    const left = this.cold.get(key) ?? 0;
    if (left <= 0) return false;
    this.cold.set(key, left - 1);
    return true;
  }

  /** Whether the revision being created now fails to start (and counts it). */
  failStart(): boolean {
    if (this.startsToFail <= 0) return false;
    this.startsToFail--;
    return true;
  }

  neverReady(key: string): boolean {
    return this.plan.neverReady?.includes(key) ?? false;
  }
}
