/**
 * An in-memory service for the release logic's tests: one traffic split with a version that changes on
 * every write, conditional writes refused when stale (as Lambda's RevisionId and Cloud Run's etag), and
 * a typed fault plan: a transient error on the Nth call, a write that lands but whose answer is lost,
 * a newer revision appearing. Several targets (several release steps) can share one service.
 */
import { TrafficConflict, type ReleaseTarget, type Snapshot, type Traffic } from "../../../lib/release";

export interface MemoryFaults {
  /** Calls (1-based, counted over reads and writes) that throw a transient 503. */
  unavailableOn?: number[];
  /** Writes (1-based, counting attempts) refused with a transient 503 before they change anything. */
  writesUnavailable?: number[];
  /** Writes are not conditional (an API that ignores the etag sent: not confirmed for Cloud Run). */
  unconditional?: boolean;
  /** Writes (1-based) that land, then lose their answer (a 503 after the change). */
  lostAnswerOn?: number[];
}

export class MemoryService {
  traffic: Traffic;
  tagged: string | undefined;
  version = 1;
  newest: string | undefined;
  calls = 0;
  writes = 0;
  writeAttempts = 0;
  /** Every split written, with who wrote it. */
  readonly history: { by: string; traffic: Traffic; tagged?: string; moved: boolean }[] = [];
  faults: MemoryFaults = {};

  constructor(start: Traffic) {
    this.traffic = start;
  }

  snapshot(): Snapshot {
    return {
      traffic: this.traffic.filter((t) => t.percent > 0),
      routing: routing(this.traffic, this.tagged),
      version: String(this.version),
      ...(this.newest ? { newest: this.newest } : {}),
      ...(this.tagged ? { tagged: this.tagged } : {}),
    };
  }

  call(): void {
    this.calls++;
    if (this.faults.unavailableOn?.includes(this.calls))
      throw Object.assign(new Error("503 Service Unavailable"), { status: 503 });
  }
}

const routing = (t: Traffic, tagged?: string) =>
  JSON.stringify([
    [...t].filter((x) => x.percent > 0).sort((a, b) => a.target.localeCompare(b.target)),
    tagged ?? "",
  ]);

/** A release step's view of the service; its gate answers from `answers` (then healthy). */
export function memoryTarget(
  service: MemoryService,
  candidate: string,
  answers: boolean[] = [],
  by = "step",
) {
  const gatedAt: Traffic[] = [];
  const target: ReleaseTarget = {
    label: "Cloud Run service api",
    candidate,
    read: async () => {
      service.call();
      return service.snapshot();
    },
    routingOf: (t, _b, { tagged }) => routing(t, tagged ? candidate : undefined),
    route: async (t, basis, { tagged }) => {
      service.call();
      if (service.faults.writesUnavailable?.includes(++service.writeAttempts))
        throw Object.assign(new Error("503 Service Unavailable"), { status: 503 });
      if (!service.faults.unconditional && basis.version !== String(service.version))
        throw new TrafficConflict(`version ${service.version}, not ${basis.version}`);
      service.writes++;
      const moved = routing(t) !== routing(service.traffic);
      service.traffic = t;
      service.tagged = tagged ? candidate : undefined;
      service.version++;
      service.history.push({ by, traffic: t, moved, ...(tagged ? { tagged: candidate } : {}) });
      if (service.faults.lostAnswerOn?.includes(service.writes))
        throw Object.assign(new Error("503 after the write"), { status: 503 });
      return service.snapshot();
    },
    gate: async () => {
      gatedAt.push(service.traffic);
      const healthy = answers.shift() ?? true;
      return { healthy, last: healthy ? '200 "healthy"' : '503 "unhealthy"' };
    },
  };
  return { target, gatedAt };
}
