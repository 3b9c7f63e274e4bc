/** Traffic arithmetic: baselines, splits, rollout rules. */
import { describe, expect, it } from "vitest";
import {
  baselineOf,
  describeTraffic,
  releaseTrigger,
  rolloutProblems,
  splitAt,
  type Traffic,
} from "../../../lib/release";

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

  it("never returns to another release's unfinished candidate (its tag), even the candidate itself", () => {
    // An interrupted release of b at 10%, then the stack goes back to a: a failure ends all on a.
    const split: Traffic = [
      { target: "a", percent: 90 },
      { target: "b", percent: 10 },
    ];
    expect(baselineOf(split, "a", "b")).toEqual([{ target: "a", percent: 100 }]);
    // A new release c after it: from a, never from b.
    const mostlyB: Traffic = [
      { target: "a", percent: 40 },
      { target: "b", percent: 60 },
    ];
    expect(baselineOf(mostlyB, "c", "b")).toEqual([{ target: "a", percent: 100 }]);
    // Its own tag: the candidate is what is judged, never the baseline.
    expect(baselineOf(split, "b", "b")).toEqual([{ target: "a", percent: 100 }]);
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

describe("the release step's trigger", () => {
  const R = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
  it.each<
    [string, { type?: string; revision?: string; percent?: number; tag?: string }[] | undefined, string[]]
  >([
    ["all on it", [{ type: R, revision: "api-b", percent: 100 }], ["api-b"]],
    [
      "all on it, a team's own tag beside",
      [
        { revision: "api-b", percent: 100 },
        { revision: "api-a", percent: 0, tag: "stable" },
      ],
      ["api-b"],
    ],
    ["a new revision, not live yet", [{ revision: "api-a", percent: 100 }], ["api-b"]],
    ["nothing known (a first preview)", undefined, ["api-b"]],
    [
      "a split an interrupted release left, going back to a revision it had released",
      [
        { revision: "api-b", percent: 90 },
        { revision: "api-c", percent: 10, tag: "next" },
      ],
      ["api-b", "converge: 90% on api-b, 10% on api-c, tag next on api-c"],
    ],
    [
      "all on it, but another revision's candidate tag left behind",
      [
        { revision: "api-b", percent: 100 },
        { revision: "api-c", percent: 0, tag: "next" },
      ],
      ["api-b", "converge: 100% on api-b, tag next on api-c"],
    ],
    [
      "its own interrupted release or convergence (its tag): converged whether or not its step is in the state",
      [
        { revision: "api-a", percent: 90 },
        { revision: "api-b", percent: 10, tag: "next" },
      ],
      ["api-b", "converge: 90% on api-a, 10% on api-b, tag next on api-b"],
    ],
    [
      "a split made by hand, no tag",
      [
        { revision: "api-a", percent: 50 },
        { revision: "api-b", percent: 50 },
      ],
      ["api-b", "converge: 50% on api-a, 50% on api-b"],
    ],
  ])("%s", (_, live, expected) => {
    expect(releaseTrigger("api-b", live)).toEqual(expected);
  });
});
