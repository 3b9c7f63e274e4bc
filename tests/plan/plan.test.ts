import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { checkPolicies } from "../../plan/report";
import { PROJECT_DIR, runProgram } from "../../plan/run";

const SHA = "0123456789abcdef0123456789abcdef01234567";

describe("the offline plan runs the policy pack", () => {
  it("fails on a mandatory violation and names the policy, the resource and the fix", async () => {
    // The program cannot be configured into a violation (config validation stops it first), so
    // stand in for someone's edit: the worker's architecture no longer follows its image.
    const planned = await runProgram({ stack: "staging", commit: SHA });
    const run = {
      ...planned,
      resources: planned.resources.map((r) =>
        r.type === "aws:lambda/function:Function"
          ? {
              ...r,
              rawInputs: { ...r.rawInputs, architectures: ["x86_64"] },
              rawOutputs: { ...r.rawOutputs, architectures: ["x86_64"] },
            }
          : r,
      ),
    };
    const check = await checkPolicies(run);
    expect(check.failed).toBe(true);
    expect(check.configFile).toBe("policy/config.staging.json");
    expect(check.lines).toEqual([
      "Policy pack multicloud-deploy (16 policies, policy/config.staging.json): 1 mandatory, 0 advisory",
      expect.stringMatching(
        /^ {2}\[mandatory\] lambda-architecture-matches-image \(worker\): Lambda function "worker" is x86_64 but its image .*\/worker is built for linux\/arm64 /,
      ),
    ]);
  });

  it("passes the staging stack end to end through the CLI, exit 0", async () => {
    const { stdout } = await promisify(execFile)(
      path.join(PROJECT_DIR, "node_modules/.bin/tsx"),
      ["scripts/plan.ts", "--stack", "staging", "--json"],
      { cwd: PROJECT_DIR, env: { ...process.env, GITHUB_SHA: undefined, NO_COLOR: "1" } },
    );
    const plan = JSON.parse(stdout);
    expect(plan.policy).toEqual({ configFile: "policy/config.staging.json", diagnostics: [] });
    expect(plan.resources.length).toBeGreaterThan(20);
  });
});
