/**
 * What the release needs from a cloud: read where traffic is, with the version of what it read, and
 * write a split conditionally on that version, the way Kubernetes controllers write with
 * `resourceVersion`. One implementation per cloud: cloud-run.ts, lambda.ts; tests use an in-memory one.
 */
import type { Traffic } from "./traffic";

/** What a read saw. */
export interface Snapshot {
  /** Live shares above 0%, by revision name or version number. */
  traffic: Traffic;
  /**
   * Everything a traffic writer writes, canonical: the traffic entries with their tags (Cloud Run), the
   * version and weights (Lambda). Two reads with the same routing saw the same traffic.
   */
  routing: string;
  /** The version of the resource read, which a conditional write sends back: an etag, a RevisionId. */
  version: string;
  /**
   * The service's newest release, where the cloud says it cheaply (Cloud Run: the revision its template
   * names). A step whose candidate is not it stops: a newer update owns the traffic.
   */
  newest?: string;
  /** The revision the candidate tag is on, where the cloud has one (Cloud Run's `next`). */
  tagged?: string;
}

export interface ReleaseTarget {
  /** `Cloud Run service api` / `Lambda function acme-prod-worker`. */
  readonly label: string;
  /** The revision name or version number being released. */
  readonly candidate: string;
  /** Where traffic is now. Nothing serves yet: empty traffic (a Lambda alias not created yet). */
  read(): Promise<Snapshot>;
  /**
   * Sends exactly this split (percentages sum to 100), only if the resource is still at
   * `basis.version`: otherwise a {@link TrafficConflict}, and nothing is written. `tagged`: the
   * candidate stays reachable on its own (Cloud Run's candidate tag); false drops it. Returns what the
   * write left, read back.
   */
  route(traffic: Traffic, basis: Snapshot, o: { tagged: boolean }): Promise<Snapshot>;
  /**
   * The {@link Snapshot.routing} that `route(traffic, basis, o)` leaves: how a step tells its own write
   * (one whose answer was lost, then retried and refused) from someone else's.
   */
  routingOf(traffic: Traffic, basis: Snapshot, o: { tagged: boolean }): string;
  /** The candidate's own health answer, asked of it alone (its tag URL, its qualified ARN). */
  gate(): Promise<GateAnswer>;
}

export interface GateAnswer {
  healthy: boolean;
  /** What the gate's last attempt saw: `200 "healthy"`, `FunctionError Unhandled: …`, `ECONNREFUSED`. */
  last: string;
}

/** A conditional write refused: someone else wrote since this step read. Nothing was written. */
export class TrafficConflict extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = "TrafficConflict";
  }
}

/** A cloud call that failed for good (an operation that ended in an error, a 4xx), after any retries. */
export class CloudCallError extends Error {
  constructor(
    message: string,
    /** HTTP status, when there was one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "CloudCallError";
  }
}
