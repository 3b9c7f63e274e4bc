/** The release logic: who gets traffic when, and what a failed release says. No cloud: an in-memory target. */
import { describe, expect, it } from "vitest";
import {
  baselineOf,
  describeTraffic,
  parseReleaseCommandLine,
  release,
  releaseCommandLine,
  rolloutProblems,
  splitAt,
  type ReleaseStep,
  type ReleaseTarget,
  type Traffic,
} from "../../lib/release";

/** A target that records every split it is sent, and whose gate answers from a script. */
function memoryTarget(start: Traffic, candidate: string, answers: boolean[]) {
  const routed: Traffic[] = [];
  const gatedAt: Traffic[] = [];
  let now = start;
  const target: ReleaseTarget = {
    label: "Cloud Run service api",
    candidate,
    current: async () => now,
    prepare: async () => {},
    route: async (t) => {
      routed.push(t);
      now = t;
    },
    gate: async () => {
      gatedAt.push(now);
      const healthy = answers.shift() ?? true;
      return { healthy, last: healthy ? '200 "healthy"' : '503 "unhealthy"' };
    },
  };
  return { target, routed, gatedAt, now: () => now };
}

const noWait = { sleep: async () => {} };

describe("release", () => {
  it("gates the candidate before it has any traffic, then gives it all", async () => {
    const m = memoryTarget([{ target: "api-a", percent: 100 }], "api-b", [true]);
    const r = await release(m.target, noWait);
    expect(r).toMatchObject({ released: true, gateRuns: 1, traffic: [{ target: "api-b", percent: 100 }] });
    expect(m.gatedAt[0]).toEqual([{ target: "api-a", percent: 100 }]);
    expect(m.routed).toEqual([[{ target: "api-b", percent: 100 }]]);
  });

  it("a failed gate leaves traffic where it was, untouched, and says so in one message", async () => {
    const m = memoryTarget([{ target: "api-00041-abc", percent: 100 }], "api-00042-def", [false]);
    const r = await release(m.target, noWait);
    expect(r.released).toBe(false);
    expect(m.routed).toEqual([]);
    expect(r).toMatchObject({
      message:
        'Cloud Run service api: release of api-00042-def failed its health gate before any traffic (last answer: 503 "unhealthy"); ' +
        "traffic: 100% on api-00041-abc, unchanged. Fix the service and run the update again: a re-run at this commit retries the release",
    });
  });

  it("steps through a rollout, waiting and gating at each step, then 100", async () => {
    const waits: number[] = [];
    const m = memoryTarget([{ target: "1", percent: 100 }], "2", [true, true, true]);
    const r = await release(m.target, {
      rollout: { steps: [10, 50], waitSeconds: 30 },
      sleep: async (ms) => void waits.push(ms),
    });
    expect(r).toMatchObject({ released: true, gateRuns: 3 });
    expect(m.routed).toEqual([
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
    const r = await release(m.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait });
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
    await release(healthy.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait });
    expect(healthy.now()).toEqual([{ target: "b", percent: 100 }]);
    // The 10% step it had reached is not routed again.
    expect(healthy.routed[0]).toEqual([
      { target: "a", percent: 50 },
      { target: "b", percent: 50 },
    ]);

    const broken = memoryTarget(split, "b", [false]);
    const r = await release(broken.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait });
    expect(broken.now()).toEqual([{ target: "a", percent: 100 }]);
    expect(r.released === false && r.message).toContain("traffic: 100% on a, returned");
  });

  it("a re-run after success gates again and leaves all traffic on it", async () => {
    const m = memoryTarget([{ target: "b", percent: 100 }], "b", [true]);
    const r = await release(m.target, { rollout: { steps: [10, 50], waitSeconds: 0 }, ...noWait });
    expect(r.released).toBe(true);
    expect(m.routed).toEqual([[{ target: "b", percent: 100 }]]);
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
    const r = await release(m.target, { rollout: { steps: [10], waitSeconds: 0 }, ...noWait });
    // Two versions at most at any time (a Lambda alias's limit), and all-old after the failure.
    expect(m.routed[0]).toEqual([
      { target: "1", percent: 90 },
      { target: "3", percent: 10 },
    ]);
    expect(m.now()).toEqual([{ target: "1", percent: 100 }]);
    expect(r.released === false && r.message).toContain("traffic: 100% on 1, returned");
  });

  it("a first release has nothing to protect: a failed gate says so", async () => {
    const m = memoryTarget([], "1", [false]);
    const r = await release(m.target, noWait);
    expect(m.routed).toEqual([]);
    expect(r.released === false && r.message).toContain(
      "traffic: no traffic (no earlier revision or version served: nothing to return to)",
    );
  });

  it("without a gate, traffic moves at once and no gate runs", async () => {
    const m = memoryTarget([{ target: "a", percent: 100 }], "b", [false]);
    const r = await release(m.target, { gated: false, ...noWait });
    expect(r).toMatchObject({ released: true, gateRuns: 0 });
  });
});

describe("splits", () => {
  it.each([
    // current, candidate, baseline
    [[{ target: "a", percent: 100 }], "b", [{ target: "a", percent: 100 }]],
    [
      [
        { target: "a", percent: 90 },
        { target: "b", percent: 10 },
      ],
      "b",
      [{ target: "a", percent: 100 }],
    ],
    [
      [
        { target: "a", percent: 50 },
        { target: "c", percent: 30 },
        { target: "b", percent: 20 },
      ],
      "b",
      [{ target: "a", percent: 100 }],
    ],
    [[{ target: "b", percent: 100 }], "b", []],
  ] as [Traffic, string, Traffic][])("baseline of %j without %s", (current, candidate, expected) => {
    expect(baselineOf(current, candidate)).toEqual(expected);
  });

  it("keeps every split at exactly 100, whatever the rounding", () => {
    const base: Traffic = [
      { target: "a", percent: 33 },
      { target: "c", percent: 67 },
    ];
    for (let p = 1; p <= 100; p++) {
      const s = splitAt(base, "b", p);
      expect(s.reduce((n, t) => n + t.percent, 0)).toBe(100);
      expect(s.find((t) => t.target === "b")?.percent).toBe(p);
    }
  });

  it("describes traffic the way the failure message and the plan write it", () => {
    expect(describeTraffic([{ target: "api-00041-abc", percent: 100 }])).toBe("100% on api-00041-abc");
    expect(describeTraffic([])).toBe("no traffic");
  });
});

describe("rollout rules", () => {
  it.each([
    [{ steps: [10, 50], waitSeconds: 60 }, []],
    [{ steps: [], waitSeconds: 60 }, ["steps is empty; give at least one percentage, e.g. [10, 50]"]],
    [{ steps: [50, 10], waitSeconds: 60 }, ["steps[1] is 10, not above steps[0] (50); steps must ascend"]],
    [
      { steps: [0, 100], waitSeconds: 60 },
      [
        "steps[0] is 0; each step is a whole percentage 1-99 (100 always comes last)",
        "steps[1] is 100; each step is a whole percentage 1-99 (100 always comes last)",
      ],
    ],
    [{ steps: [10], waitSeconds: 7200 }, ["waitSeconds is 7200; expected whole seconds 0-3600"]],
    [
      { steps: [10.5], waitSeconds: 1 },
      ["steps[0] is 10.5; each step is a whole percentage 1-99 (100 always comes last)"],
    ],
  ])("%j", (rollout, expected) => {
    expect(rolloutProblems(rollout)).toEqual(expected);
  });
});

describe("the release command line", () => {
  it.each<ReleaseStep>([
    {
      target: "cloudrun",
      service: "projects/p/locations/us-central1/services/api",
      revision: "api-0123456-abcde",
      healthPath: "/health",
      gate: { idTokenFor: "gate@p.iam.gserviceaccount.com" },
      rollout: { steps: [10, 50], waitSeconds: 60 },
    },
    {
      target: "lambda",
      functionArn: "arn:aws:lambda:us-east-1:111111111111:function:worker",
      version: "7",
      alias: "live",
      healthPath: "/health",
      gate: "invoke",
    },
  ])("reads back what it writes: %j", (step) => {
    expect(parseReleaseCommandLine(releaseCommandLine(step))).toEqual(step);
  });

  it("is not a verify or promote command line", () => {
    expect(
      parseReleaseCommandLine(
        "node_modules/.bin/tsx scripts/verify-image.ts r@sha256:x --platform linux/amd64",
      ),
    ).toBeUndefined();
  });
});
