/**
 * Properties the benchmarks measure, guarded without timings: an unchanged commit gives identical
 * inputs, services deploy in parallel (the critical path does not grow with the number of services),
 * and provider lookups happen once per stack, not once per service.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { criticalPath, inputDifferences, syntheticConfig } from "../../bench/analysis";
import { runProgram, type ProgramRun, type RecordedResource } from "../../plan/run";

const commit = "0123456789abcdef0123456789abcdef01234567";
let small: ProgramRun;
let large: ProgramRun;
beforeAll(async () => {
  small = await runProgram({ stack: "staging", commit, config: syntheticConfig(4) });
  large = await runProgram({ stack: "staging", commit, config: syntheticConfig(24) });
}, 60_000);

describe("an unchanged commit", () => {
  it("registers every resource with byte-identical inputs on a second run", async () => {
    const again = await runProgram({ stack: "staging", commit, config: syntheticConfig(24) });
    expect(inputDifferences(large, again)).toEqual([]);
    expect(again.resources.length).toBe(large.resources.length);
  });

  it("is told apart from a changed one (the comparison can fail)", async () => {
    const other = await runProgram({
      stack: "staging",
      commit: "f".repeat(40),
      config: syntheticConfig(4),
    });
    expect(inputDifferences(small, other).length).toBeGreaterThan(0);
  });
});

describe("services deploy in parallel", () => {
  it("has the same critical path for 4 and 24 services: build, verify, service, release, alias, URL", () => {
    const a = criticalPath(small);
    const b = criticalPath(large);
    expect(b.length).toBe(a.length);
    expect(a.length).toBeGreaterThanOrEqual(4);
    // The longest chain stays within one service (plus the shared registry it starts from).
    const services = new Set(b.chain.map((c) => /\b((?:api|fn)-\d{3})/.exec(c)?.[1]).filter(Boolean));
    expect(services.size).toBe(1);
  });

  it("would notice services chained one after another", () => {
    const chained: ProgramRun = {
      ...small,
      resources: small.resources.map((r): RecordedResource => {
        if (r.name !== "fn-002" || r.type !== "aws:lambda/function:Function") return r;
        const other = small.resources.find((x) => x.name === "api-001-release")!;
        return { ...r, dependencies: [...r.dependencies, other.urn] };
      }),
    };
    expect(criticalPath(chained).length).toBeGreaterThan(criticalPath(small).length);
  });

  it("looks up provider data once per stack, whatever the number of services", () => {
    // Except whether each ECR repository exists already (program.ts checkExistingEcrRepositories),
    // and each Cloud Run service's live revisions (lib/release/revision.ts): one read per service.
    const ECR = "aws:ecr/getRepository:getRepository";
    const RUN = "gcp:cloudrunv2/getService:getService";
    const perStack = (r: ProgramRun) => r.invokes.filter((t) => t !== ECR && t !== RUN).sort();
    expect(perStack(large)).toEqual(perStack(small));
    expect(new Set(perStack(large)).size).toBe(perStack(large).length);
    const count = (r: ProgramRun, target: string) =>
      r.config!.services.filter((s) => s.target === target).length;
    expect(large.invokes.filter((t) => t === ECR)).toHaveLength(count(large, "lambda"));
    expect(count(large, "lambda")).toBeGreaterThan(count(small, "lambda"));
    expect(large.invokes.filter((t) => t === RUN)).toHaveLength(count(large, "cloudrun"));
    expect(count(large, "cloudrun")).toBeGreaterThan(count(small, "cloudrun"));
  });
});
