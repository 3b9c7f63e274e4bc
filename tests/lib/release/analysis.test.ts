/**
 * Judging a rollout step by the candidate's own traffic: the verdicts (analysis.ts), and what the
 * release does with them (run.ts): when it reads, which window, and where traffic ends. The cloud is
 * the in-memory service (memory-target.ts) with a traffic model: users send `rate` requests a second,
 * the candidate serves its share of them, and the model publishes each request's metrics
 * `publishDelayMs` after it happened, as the clouds do.
 */
import { describe, expect, it } from "vitest";
import {
  ANALYSIS_DEFAULTS,
  analysisProblems,
  judgeTraffic,
  release,
  stepTiming,
  type Analysis,
  type CanaryMetrics,
  type MetricsReader,
  type Traffic,
  type Window,
} from "../../../lib/release";
import { virtualClock, type Clock } from "../../../lib/release/retry";
import { MemoryService, memoryTarget } from "./memory-target";

const strict: Analysis = { ...ANALYSIS_DEFAULTS, delaySeconds: 60, maxHoldSeconds: 120 };

describe("judgeTraffic", () => {
  it.each<[string, CanaryMetrics, string, string]>([
    [
      "a healthy window",
      { requests: 200, errors: 1, p99LatencyMs: 300 },
      "pass",
      "error rate 0.5% (1 5xx of 200 requests) <= 1%, p99 latency 300 ms <= 1500 ms",
    ],
    [
      "one user in five failing",
      { requests: 100, errors: 20 },
      "breach",
      "error rate 20% (20 5xx of 100 requests) > maxErrorRate 1%",
    ],
    // Too few requests to judge a rate, but already past it at minRequests: no success can save it.
    [
      "errors past the threshold before minRequests",
      { requests: 10, errors: 5 },
      "breach",
      "error rate 50% (5 5xx of 10 requests) > maxErrorRate 1%",
    ],
    [
      "a quiet window",
      { requests: 12, errors: 0 },
      "too-few",
      "too few requests to judge: 12 requests < minRequests 50",
    ],
    [
      "a slow canary",
      { requests: 80, errors: 0, p99LatencyMs: 2400 },
      "breach",
      "p99 latency 2400 ms > maxP99LatencyMs 1500 ms (80 requests)",
    ],
    [
      "throttles, reported apart",
      { requests: 60, errors: 0, throttles: 7 },
      "pass",
      "error rate 0% (0 5xx of 60 requests, 7 throttled (not judged)) <= 1%",
    ],
  ])("%s", (_, m, outcome, detail) => {
    const v = judgeTraffic(m, ANALYSIS_DEFAULTS, "5xx");
    expect(v).toMatchObject({ outcome, detail });
  });

  it("breaches past the threshold, never at it (0.57 × 100 is 56.99999… in floating point)", () => {
    const at = judgeTraffic(
      { requests: 100, errors: 57 },
      { ...ANALYSIS_DEFAULTS, maxErrorRate: 0.57 },
      "5xx",
    );
    expect(at.outcome).toBe("pass");
    const past = judgeTraffic(
      { requests: 100, errors: 58 },
      { ...ANALYSIS_DEFAULTS, maxErrorRate: 0.57 },
      "5xx",
    );
    expect(past.outcome).toBe("breach");
  });

  it("says how long a step really takes: its wait and the metric delay, and the hold at most", () => {
    expect(stepTiming(60, ANALYSIS_DEFAULTS)).toEqual({ least: 240, most: 840 });
    expect(stepTiming(60, { ...ANALYSIS_DEFAULTS, tooFewRequests: "pass" })).toEqual({
      least: 240,
      most: 240,
    });
    expect(stepTiming(60, undefined)).toEqual({ least: 60, most: 60 });
  });

  it("names each key out of its limits", () => {
    expect(
      analysisProblems({ ...ANALYSIS_DEFAULTS, maxErrorRate: -1, minRequests: 2.5, delaySeconds: 901 }),
    ).toEqual([
      "maxErrorRate is -1; expected a number from 0 to 1",
      "minRequests is 2.5; expected a whole number from 1 to 1000000",
      "delaySeconds is 901; expected a whole number from 0 to 900",
    ]);
  });
});

/** Users' traffic through the service, as the candidate's metrics would show it, published late. */
function trafficModel(
  clock: Clock,
  service: MemoryService,
  candidate: string,
  o: { rate: number; errorRate: number; p99?: number; publishDelayMs: number },
) {
  /** When each share began: the candidate's share over time, from what it holds now. */
  const held = () => service.traffic.find((t) => t.target === candidate)?.percent ?? 0;
  const shares: { at: number; percent: number }[] = [{ at: clock.now(), percent: held() }];
  const reads: Window[] = [];
  const watch = () => {
    const percent = held();
    if (shares.at(-1)!.percent !== percent) shares.push({ at: clock.now(), percent });
  };
  const reader: MetricsReader & { fail?: Error } = {
    source: "the model",
    async read(w) {
      if (reader.fail) throw reader.fail;
      watch();
      reads.push(w);
      // Only what has been published by now.
      const end = Math.min(w.endMs, clock.now() - o.publishDelayMs);
      let requests = 0;
      shares.forEach((s, i) => {
        const from = Math.max(s.at, w.startMs);
        const to = Math.min(shares[i + 1]?.at ?? Infinity, end);
        if (to > from) requests += ((to - from) / 1000) * o.rate * (s.percent / 100);
      });
      requests = Math.floor(requests);
      return {
        requests,
        errors: Math.floor(requests * o.errorRate),
        ...(o.p99 ? { p99LatencyMs: o.p99 } : {}),
      };
    },
  };
  return { reader, reads, watch };
}

function rollout(
  o: { rate: number; errorRate: number; p99?: number; publishDelayMs?: number },
  a = strict,
  start: Traffic = [{ target: "api-a", percent: 100 }],
) {
  const clock = virtualClock(1_700_000_000_000);
  const service = new MemoryService(start);
  const { target } = memoryTarget(service, "api-b");
  const model = trafficModel(clock, service, "api-b", { publishDelayMs: 60_000, ...o });
  // The share changes as the release writes it: the model sees each write when it happens.
  const route = target.route.bind(target);
  target.route = async (...args) => {
    const r = await route(...args);
    model.watch();
    return r;
  };
  const lines: string[] = [];
  const run = () =>
    release(target, {
      clock,
      rollout: { steps: [20, 50], waitSeconds: 60 },
      analysis: { reader: model.reader, settings: a, errorsAre: "5xx" },
      log: (l) => lines.push(l),
    });
  return { clock, service, model, lines, run };
}

describe("a rollout judged by its own traffic", () => {
  it("a canary failing one request in five is returned at its first step, with one message", async () => {
    const t = rollout({ rate: 10, errorRate: 0.2 });
    const r = await t.run();
    expect(r.released).toBe(false);
    expect(r.released === false && r.message).toMatch(
      /^Cloud Run service api: release of api-b failed its traffic analysis at step 1 \(20%\) \(error rate 20% \(24 5xx of 120 requests\) > maxErrorRate 1%; the model, \d\d:\d\d:\d\d-\d\d:\d\d:\d\d UTC\); traffic: 100% on api-a, returned\. Fix the service/,
    );
    expect(t.service.traffic).toEqual([{ target: "api-a", percent: 100 }]);
    expect(r.released === false && r.reason).toBe("analysis.errorRate");
  });

  it("an update resumed at a step judges that step again by its own traffic, from the resume", async () => {
    // A killed update left the candidate at step 1, perhaps before its traffic was judged.
    const resumedAt: Traffic = [
      { target: "api-a", percent: 80 },
      { target: "api-b", percent: 20 },
    ];
    const failing = rollout({ rate: 10, errorRate: 0.2 }, strict, resumedAt);
    // It served that share for ten minutes before the resume: none of it belongs to the resumed window.
    await failing.clock.sleep(600_000);
    const start = failing.clock.now();
    const r = await failing.run();
    expect(r.released === false && r.message).toContain(
      "failed its traffic analysis at step 1 (20%) (error rate 20% (24 5xx of 120 requests) > maxErrorRate 1%",
    );
    expect(failing.service.traffic).toEqual([{ target: "api-a", percent: 100 }]);
    // Its window is the resumed step's own wait: nothing from before the resume is counted.
    expect(failing.model.reads[0]!.startMs).toBeGreaterThanOrEqual(start);
    expect(failing.model.reads[0]!.endMs - failing.model.reads[0]!.startMs).toBe(60_000);

    const healthy = rollout({ rate: 10, errorRate: 0 }, strict, resumedAt);
    expect((await healthy.run()).released).toBe(true);
    expect(healthy.lines.filter((l) => l.includes("traffic analysis"))).toEqual([
      expect.stringContaining("at step 1 (20%): pass (error rate 0% (0 5xx of 120 requests)"),
      expect.stringContaining("at step 2 (50%): pass (error rate 0% (0 5xx of 300 requests)"),
    ]);
    // The step's share was already written: resuming it moved nothing.
    expect(healthy.service.history.filter((h) => h.moved).map((h) => h.traffic)[0]).toEqual([
      { target: "api-a", percent: 50 },
      { target: "api-b", percent: 50 },
    ]);
  });

  it("reads once the delay has passed, and judges exactly the step's wait", async () => {
    const t = rollout({ rate: 10, errorRate: 0 });
    const r = await t.run();
    expect(r.released).toBe(true);
    // Two steps, each read once, each window its own 60 s wait: 120 requests at 20%, 300 at 50%.
    expect(t.model.reads.map((w) => w.endMs - w.startMs)).toEqual([60_000, 60_000]);
    expect(t.lines.filter((l) => l.includes("traffic analysis"))).toEqual([
      expect.stringContaining("at step 1 (20%): pass (error rate 0% (0 5xx of 120 requests)"),
      expect.stringContaining("at step 2 (50%): pass (error rate 0% (0 5xx of 300 requests)"),
    ]);
  });

  it("a metric delay set shorter than the cloud's judges a window that has not all arrived", async () => {
    const t = rollout({ rate: 10, errorRate: 0, publishDelayMs: 90_000 });
    await t.run();
    // Published 90 s late but read 60 s after: the first 30 s of the wait only, 60 requests, not 120.
    expect(t.lines.find((l) => l.includes("traffic analysis at step 1"))).toContain("0 5xx of 60 requests");
  });

  it("a slow canary is returned, naming the latency against its threshold", async () => {
    const t = rollout({ rate: 10, errorRate: 0, p99: 2400 });
    const r = await t.run();
    expect(r.released === false && r.message).toContain(
      "failed its traffic analysis at step 1 (20%) (p99 latency 2400 ms > maxP99LatencyMs 1500 ms (120 requests);",
    );
    expect(t.service.traffic).toEqual([{ target: "api-a", percent: 100 }]);
  });

  it("too few requests holds the step, reads again, then returns traffic at the limit", async () => {
    const t = rollout({ rate: 0.2, errorRate: 0 });
    const r = await t.run();
    expect(r.released === false && r.message).toMatch(
      /failed its traffic analysis at step 1 \(20%\) \(too few requests to judge: \d+ requests < minRequests 50; .*; held 120 s \(tooFewRequests: hold, maxHoldSeconds\)\); traffic: 100% on api-a, returned/,
    );
    // The first read, then one a minute while held.
    expect(t.model.reads.length).toBe(3);
    expect(t.service.traffic).toEqual([{ target: "api-a", percent: 100 }]);
  });

  it("too few requests passes, and says so, when tooFewRequests: pass", async () => {
    const t = rollout({ rate: 0.2, errorRate: 0 }, { ...strict, tooFewRequests: "pass" });
    const r = await t.run();
    expect(r.released).toBe(true);
    expect(t.lines).toContainEqual(
      expect.stringContaining("at step 1 (20%): passed unjudged, as tooFewRequests: pass says"),
    );
  });

  it("held long enough, a quiet canary gathers its requests and goes on", async () => {
    const t = rollout({ rate: 0.7, errorRate: 0 }, { ...strict, maxHoldSeconds: 600 });
    const r = await t.run();
    expect(r.released).toBe(true);
    expect(t.lines.some((l) => l.includes("at step 1 (20%): too-few"))).toBe(true);
  });

  it("metrics that cannot be read return traffic: an unjudged step never goes on", async () => {
    const t = rollout({ rate: 10, errorRate: 0 });
    t.model.reader.fail = Object.assign(new Error("Permission 'monitoring.timeSeries.list' denied"), {
      status: 403,
    });
    const r = await t.run();
    expect(r.released === false && r.message).toContain(
      "failed at step 1 (20%): Error: Permission 'monitoring.timeSeries.list' denied; traffic: 100% on api-a, returned",
    );
  });

  it("a throttled read is asked again, and the step is judged", async () => {
    const t = rollout({ rate: 10, errorRate: 0 });
    const read = t.model.reader.read.bind(t.model.reader);
    let calls = 0;
    t.model.reader.read = async (w) => {
      if (++calls === 1) throw Object.assign(new Error("429 RESOURCE_EXHAUSTED"), { status: 429 });
      return read(w);
    };
    expect((await t.run()).released).toBe(true);
    expect(t.lines).toContainEqual(expect.stringMatching(/read metrics: .*429.*; retrying in \d+ ms/));
  });
});
