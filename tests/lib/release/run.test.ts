/**
 * The release logic: who gets traffic when, what a failed release says, and who may write. No cloud:
 * an in-memory service with conditional writes and a fault plan (memory-target.ts), on a virtual clock.
 */
import { describe, expect, it } from "vitest";
import { release, TrafficConflict, type ReleaseOptions, type Traffic } from "../../../lib/release";
import { virtualClock } from "../../../lib/release/retry";
import { scanCheck, signatureCheck } from "../../../lib/release/checks";
import { MemoryService, memoryTarget as onService } from "./memory-target";

/** One service, one step: the shape most tests need. */
function memoryTarget(start: Traffic, candidate: string, answers: boolean[]) {
  const service = new MemoryService(start);
  const { target, gatedAt } = onService(service, candidate, answers);
  /** The writes that moved shares (a tag written or dropped alone moves none). */
  const routed = () => service.history.filter((h) => h.moved).map((h) => h.traffic);
  return { target, gatedAt, service, routed, now: () => service.traffic };
}

const noWait = (): ReleaseOptions => ({ clock: virtualClock() });

describe("release", () => {
  it("gates the candidate before it has any traffic, then gives it all", async () => {
    const m = memoryTarget([{ target: "api-a", percent: 100 }], "api-b", [true]);
    const r = await release(m.target, noWait());
    expect(r).toMatchObject({ released: true, gateRuns: 1, traffic: [{ target: "api-b", percent: 100 }] });
    expect(m.gatedAt[0]).toEqual([{ target: "api-a", percent: 100 }]);
    expect(m.routed()).toEqual([[{ target: "api-b", percent: 100 }]]);
  });

  it("a failed gate leaves traffic where it was, untouched, and says so in one message", async () => {
    const m = memoryTarget([{ target: "api-00041-abc", percent: 100 }], "api-00042-def", [false]);
    const r = await release(m.target, noWait());
    expect(r.released).toBe(false);
    expect(m.routed()).toEqual([]);
    expect(r).toMatchObject({
      message:
        'Cloud Run service api: release of api-00042-def failed its health gate before any traffic (last answer: 503 "unhealthy"); ' +
        "traffic: 100% on api-00041-abc, unchanged. Fix the service and run the update again: a re-run at this commit retries the release",
    });
  });

  it("re-checks the image before anything is written: a refused signature or scan leaves even the tag unwritten, and says which check", async () => {
    const ref = `us-central1-docker.pkg.dev/p/apps/api@sha256:${"a".repeat(64)}`;
    const gate = { maxCritical: 0, deadlineSeconds: 900, allow: [], allowUnscanned: false };
    const critical = {
      status: "complete" as const,
      findings: [{ id: "CVE-2022-37434", severity: "CRITICAL" as const }],
    };
    const unsigned = signatureCheck(ref, async () => ({ ok: false, check: "unsigned", problem: "no .sig" }));
    const valid = signatureCheck(ref, async () => ({
      ok: true,
      claims: { commit: "c", stack: "staging" },
      signatureManifest: Buffer.from(""),
    }));
    const scanned = (state: Parameters<typeof scanCheck>[1] extends () => Promise<infer S> ? S : never) =>
      scanCheck(ref, async () => state, gate);

    for (const [preflight, words] of [
      [
        [unsigned],
        `failed its signature check before any traffic (last answer: ${ref}: the "unsigned" check: no .sig)`,
      ],
      [
        [valid, scanned(critical)],
        `failed its scan check before any traffic (last answer: ${ref}: critical 1 > maxCritical 0: CVE-2022-37434 (CRITICAL))`,
      ],
      [
        [valid, scanned({ status: "pending", detail: "ECR scan IN_PROGRESS" })],
        `failed its scan check before any traffic (last answer: ${ref}: ECR scan IN_PROGRESS)`,
      ],
    ] as const) {
      const m = memoryTarget([{ target: "api-a", percent: 100 }], "api-b", [true]);
      const r = await release(m.target, { ...noWait(), preflight: [...preflight] });
      expect(r).toMatchObject({ released: false, gateRuns: 0 });
      expect(r.released === false && r.message).toContain(words);
      expect(r.released === false && r.message).toContain("traffic: 100% on api-a, unchanged");
      // Nothing written at all: no tag for the candidate, no share.
      expect(m.service.history).toEqual([]);
    }
    // Ungated (healthGate: false), the image checks still run.
    const m = memoryTarget([{ target: "api-a", percent: 100 }], "api-b", []);
    const r = await release(m.target, { ...noWait(), gated: false, preflight: [unsigned] });
    expect(r.released).toBe(false);
    // Passed, the release goes on to its health gate.
    const ok = memoryTarget([{ target: "api-a", percent: 100 }], "api-b", [true]);
    const passed = await release(ok.target, {
      ...noWait(),
      preflight: [valid, scanned({ status: "complete", findings: [] })],
    });
    expect(passed).toMatchObject({ released: true, gateRuns: 1 });
  });

  it("steps through a rollout, waiting and gating at each step, then 100", async () => {
    const waits: number[] = [];
    const m = memoryTarget([{ target: "1", percent: 100 }], "2", [true, true, true]);
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 30 },
      clock: { now: () => 0, sleep: async (ms) => void waits.push(ms) },
    });
    expect(r).toMatchObject({ released: true, gateRuns: 3 });
    expect(m.routed()).toEqual([
      [
        { target: "1", percent: 90 },
        { target: "2", percent: 10 },
      ],
      [
        { target: "1", percent: 50 },
        { target: "2", percent: 50 },
      ],
      [{ target: "2", percent: 100 }],
    ]);
    expect(waits).toEqual([30_000, 30_000]);
  });

  it("a failure at a step returns all traffic to the previous version, then reports it", async () => {
    const m = memoryTarget([{ target: "41", percent: 100 }], "42", [true, true, false]);
    const r = await release(m.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait() });
    expect(r.released).toBe(false);
    expect(m.now()).toEqual([{ target: "41", percent: 100 }]);
    expect(r.released === false && r.message).toContain(
      'failed its health gate at step 2 (50%) (last answer: 503 "unhealthy"); traffic: 100% on 41, returned',
    );
  });

  it("resumes an update killed mid-step: healthy ends all-new, unhealthy all-old, never a split", async () => {
    const split: Traffic = [
      { target: "a", percent: 90 },
      { target: "b", percent: 10 },
    ];
    const healthy = memoryTarget(split, "b", [true, true]);
    await release(healthy.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait() });
    expect(healthy.now()).toEqual([{ target: "b", percent: 100 }]);
    // The 10% step it had reached is not routed again.
    expect(healthy.routed()[0]).toEqual([
      { target: "a", percent: 50 },
      { target: "b", percent: 50 },
    ]);

    const broken = memoryTarget(split, "b", [false]);
    const r = await release(broken.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait() });
    expect(broken.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(r.released === false && r.message).toContain("traffic: 100% on a, returned");
  });

  it("a re-run after success gates again and leaves all traffic on it", async () => {
    const m = memoryTarget([{ target: "b", percent: 100 }], "b", [true]);
    const r = await release(m.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait() });
    expect(r).toMatchObject({ released: true, gateRuns: 1 });
    // No share moves: the candidate is tagged for its gate, then the tag is dropped.
    expect(m.routed()).toEqual([]);
    expect(m.service.tagged).toBeUndefined();
  });

  it("a new release after a killed one starts from the version that served most, never from the split", async () => {
    // An earlier release of 2 was killed at 10%; now 3 is released in steps.
    const m = memoryTarget(
      [
        { target: "1", percent: 90 },
        { target: "2", percent: 10 },
      ],
      "3",
      [true, false],
    );
    const r = await release(m.target, { rollout: { steps: [10], waitSeconds: 0 }, ...noWait() });
    // Two versions at most at any time (a Lambda alias's limit), and all-old after the failure.
    expect(m.routed()[0]).toEqual([
      { target: "1", percent: 90 },
      { target: "3", percent: 10 },
    ]);
    expect(m.now()).toEqual([{ target: "1", percent: 100 }]);
    expect(r.released === false && r.message).toContain("traffic: 100% on 1, returned");
  });

  it("a first release has nothing to protect: a failed gate says so", async () => {
    const m = memoryTarget([], "1", [false]);
    const r = await release(m.target, noWait());
    expect(m.routed()).toEqual([]);
    expect(r.released === false && r.message).toContain(
      "traffic: no traffic (no earlier revision or version served: nothing to return to)",
    );
  });

  it("without a gate, traffic moves at once and no gate runs", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", [false]);
    const r = await release(m.target, { gated: false, ...noWait() });
    expect(r).toMatchObject({ released: true, gateRuns: 0 });
  });
});

describe("every failure ends the same way", () => {
  const rollout = { steps: [10, 50], waitSeconds: 30 };
  const quick = { initialMs: 1000, maxDelayMs: 4000, deadlineMs: 10_000, jitter: 0 };

  it("a 503 between two steps is retried with backoff, and the release goes on", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    // Calls: read, tag, read + 10%, read after the wait, read + 50%, then the read after the second
    // wait (the 8th) answers 503 twice.
    m.service.faults = { unavailableOn: [8, 9] };
    const clock = virtualClock();
    const r = await release(m.target, { rollout, clock, retry: quick });
    expect(r.kind).toBe("released");
    expect(m.now()).toEqual([{ target: "b", percent: 100 }]);
    // Two waits for the two 503s (1 s, then 2 s), beside the rollout's own.
    expect(clock.slept.filter((ms) => ms !== 30_000)).toEqual([1000, 2000]);
  });

  it("a throttled API past its deadline returns all traffic and says where it is", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    // Writes: tag, 10%, then the 50% write fails five times, outlasting the 10 s deadline (waits of
    // 1, 2, 4 and 3 s); the sixth, returning the traffic, goes through.
    m.service.faults = { writesUnavailable: [3, 4, 5, 6, 7] };
    const r = await release(m.target, { rollout, clock: virtualClock(), retry: quick });
    expect(r.kind).toBe("failed");
    expect(m.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(m.service.tagged).toBeUndefined();
    expect(r.released === false && r.message).toMatch(
      /^Cloud Run service api: release of b failed at step 2 \(50%\): DeadlineError: move traffic: still failing after 5 tries \(last: Error: 503 Service Unavailable\); traffic: 100% on a, returned\. Run the update again/,
    );
  });

  it("a write whose answer was lost is recognised as its own when its retry is refused", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    m.service.faults = { lostAnswerOn: [2] };
    const r = await release(m.target, { rollout, clock: virtualClock(), retry: quick });
    expect(r.kind).toBe("released");
    // The 10% write landed once; the retry was refused (stale version) and not sent again.
    expect(
      m.service.history.filter((h) => h.traffic.some((t) => t.target === "b" && t.percent === 10)),
    ).toHaveLength(1);
  });

  it("a thrown gate (not an answer) is a failure too: traffic returned, tag dropped", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    let gates = 0;
    m.target.gate = async () => {
      if (++gates === 2) throw new Error("socket hang up");
      return { healthy: true, last: "200" };
    };
    const r = await release(m.target, { rollout, clock: virtualClock() });
    expect(r.kind).toBe("failed");
    expect(m.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(m.service.tagged).toBeUndefined();
    expect(r.released === false && r.message).toContain(
      "failed at step 1 (10%): Error: socket hang up; traffic: 100% on a, returned",
    );
  });
});

describe("one owner of traffic", () => {
  const rollout = { steps: [10, 50], waitSeconds: 60 };

  it("an orphaned step whose traffic was moved by a newer update stops without writing, never moving it back", async () => {
    const service = new MemoryService([{ target: "a", percent: 100 }]);
    // The orphan: its gate fails once the newer update has dropped the tag (as a vanished tag URL would).
    const orphan = onService(service, "b", [true, true], "orphan");
    orphan.target.gate = async () => ({ healthy: service.tagged === "b", last: "404 no such tag" });
    let wake!: () => void;
    const orphanClock = { now: () => 0, sleep: () => new Promise<void>((r) => (wake = r)) };
    const running = release(orphan.target, { rollout, clock: orphanClock });
    await new Promise((r) => setTimeout(r, 10));
    expect(service.traffic).toEqual([
      { target: "a", percent: 90 },
      { target: "b", percent: 10 },
    ]);
    // The next `pulumi up` runs the same release beside it, to the end.
    const resumed = await release(onService(service, "b", [], "resumed").target, {
      rollout,
      clock: virtualClock(),
    });
    expect(resumed.kind).toBe("released");
    wake();
    const r = await running;
    expect(r.kind).toBe("stopped");
    expect(r.released === false && r.message).toBe(
      "Cloud Run service api: release of b stopped without writing: traffic was changed by someone else since this step set it; " +
        "traffic: 100% on b, as the other writer left it. Nothing to do if a newer update is running; otherwise run the update again",
    );
    expect(service.traffic).toEqual([{ target: "b", percent: 100 }]);
    expect(service.history.filter((h) => h.by === "orphan")).toHaveLength(2);
  });

  it("two releases of one service interleaved: one moves traffic, the other stops, nothing moves back", async () => {
    const service = new MemoryService([{ target: "a", percent: 100 }]);
    const one = onService(service, "b", [], "one");
    const two = onService(service, "b", [], "two");
    const run = (t: typeof one) =>
      release(t.target, { rollout: { steps: [10, 50], waitSeconds: 60 }, clock: virtualClock() });
    const [r1, r2] = await Promise.all([run(one), run(two)]);
    expect([r1.kind, r2.kind].sort()).toEqual(["released", "stopped"]);
    expect(service.traffic).toEqual([{ target: "b", percent: 100 }]);
    // Each share b ever had is at least the one before it: no write moved traffic back.
    const shares = service.history.map((h) => h.traffic.find((t) => t.target === "b")?.percent ?? 0);
    expect(shares).toEqual([...shares].sort((x, y) => x - y));
  });

  it("a step whose update is gone stops before its next write", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    let gone: string | undefined;
    const clock = virtualClock();
    const sleep = clock.sleep;
    clock.sleep = async (ms) => {
      gone = "the pulumi CLI (pid 812) has exited";
      return sleep(ms);
    };
    const r = await release(m.target, { rollout, clock, update: { gone: async () => gone } });
    expect(r.kind).toBe("stopped");
    expect(r.released === false && r.reason).toBe("its update is gone (the pulumi CLI (pid 812) has exited)");
    // It wrote the tag and the 10% step, then nothing: the next update resumes from there.
    expect(m.service.history).toHaveLength(2);
  });

  it("a step whose candidate is no longer the newest revision stops", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    m.service.newest = "b";
    const clock = virtualClock();
    const sleep = clock.sleep;
    clock.sleep = async (ms) => {
      m.service.newest = "c";
      return sleep(ms);
    };
    const r = await release(m.target, { rollout, clock });
    expect(r.released === false && r.reason).toBe("c is newer, and its own update releases it");
    expect(m.now()).toEqual([
      { target: "a", percent: 90 },
      { target: "b", percent: 10 },
    ]);
  });
});

describe("a write that failed may have landed", () => {
  it("a failure after a write landed is not mistaken for another writer: traffic is returned", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    // The 10% write lands, then its answer is a refusal that is not retried (a failed operation).
    const route = m.target.route;
    let writes = 0;
    m.target.route = async (t, basis, o) => {
      const after = await route(t, basis, o);
      if (++writes === 2) throw new Error("operation failed after the change was stored");
      return after;
    };
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 0 },
      clock: virtualClock(),
    });
    expect(r.kind).toBe("failed");
    expect(m.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(r.released === false && r.message).toContain("traffic: 100% on a, returned");
  });
});

describe("review findings: where a failure ends, and what a step adopts", () => {
  it("a failed convergence never hands traffic to another release's unfinished candidate", async () => {
    // b's release was interrupted at 10% (its tag on b); the stack went back to a, whose gate fails.
    const m = memoryTarget(
      [
        { target: "a", percent: 90 },
        { target: "b", percent: 10 },
      ],
      "a",
      [false],
    );
    m.service.tagged = "b";
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 0 },
      clock: virtualClock(),
    });
    expect(r.kind).toBe("failed");
    expect(m.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(m.service.tagged).toBeUndefined();
  });

  it("a converging step that passes takes the rest at once: no steps from a baseline that is itself", async () => {
    const m = memoryTarget(
      [
        { target: "a", percent: 90 },
        { target: "b", percent: 10 },
      ],
      "a",
      [],
    );
    m.service.tagged = "b";
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 0 },
      clock: virtualClock(),
    });
    expect(r.kind).toBe("released");
    expect(m.routed()).toEqual([[{ target: "a", percent: 100 }]]);
  });

  it("a write whose read-back shows another writer's traffic stops; the step never adopts it", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    const route = m.target.route;
    let writes = 0;
    m.target.route = async (t, basis, o) => {
      await route(t, basis, o);
      // Another writer lands before this step reads its write back.
      if (++writes === 2) m.service.traffic = [{ target: "c", percent: 100 }];
      return m.service.snapshot();
    };
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 0 },
      clock: virtualClock(),
    });
    expect(r.kind).toBe("stopped");
    expect(m.now()).toEqual([{ target: "c", percent: 100 }]);
  });

  it("an orphan retrying its move back through 503s re-reads before each try, and stops once moved", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", [true, false]);
    // Writes: tag, 10%, then the return to a fails with a 503; while the orphan waits, the newer
    // update puts b at 100%. The API here ignores the version sent, as Cloud Run's PATCH may.
    m.service.faults = { writesUnavailable: [3], unconditional: true };
    const clock = virtualClock();
    const sleep = clock.sleep;
    clock.sleep = async (ms) => {
      if (m.service.writeAttempts === 3) {
        m.service.traffic = [{ target: "b", percent: 100 }];
        m.service.tagged = undefined;
        m.service.version++;
      }
      return sleep(ms);
    };
    const r = await release(m.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, clock });
    expect(r.kind).toBe("stopped");
    expect(m.now()).toEqual([{ target: "b", percent: 100 }]);
    // No move back to a: the only writes are the tag and the 10% step.
    expect(m.service.history.filter((h) => h.by === "step").map((h) => h.traffic)).toEqual([
      [{ target: "a", percent: 100 }],
      [
        { target: "a", percent: 90 },
        { target: "b", percent: 10 },
      ],
    ]);
  });
});

describe("a refusal that changed nothing", () => {
  it("is decided again after a wait, and a refusal that never ends stops at the deadline", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", []);
    // Every write is refused (409) while the traffic stays as it was: an API answering ABORTED for
    // another reason. The step must not spin: it waits, re-reads, tries again, and gives up in time.
    m.target.route = async () => {
      throw new TrafficConflict("409 ABORTED");
    };
    const clock = virtualClock();
    const quick = { initialMs: 1000, maxDelayMs: 4000, deadlineMs: 10_000, jitter: 0 };
    const r = await release(m.target, { clock, retry: quick });
    expect(r.kind).toBe("failed");
    expect(r.released === false && r.message).toContain(
      "DeadlineError: move traffic: still failing after 5 tries",
    );
    expect(clock.slept.slice(0, 4)).toEqual([1000, 2000, 4000, 3000]);
  });
});
