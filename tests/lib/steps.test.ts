/** Each step's command line has one writer and one reader (lib/verify-step.ts): what is written reads back. */
import { describe, expect, it } from "vitest";
import {
  healthCheckCommandLine,
  parseHealthCheckCommandLine,
  parsePromoteCommandLine,
  promoteCommandLine,
} from "../../lib/verify-step";
import { decodeStepLine, lastValues, splitStepArgs } from "../../lib/step-args";

const REF = `us-central1-docker.pkg.dev/acme/apps/api@sha256:${"a".repeat(64)}`;

describe("step command lines", () => {
  it("reads a promotion back, and tells a rollback (same repository) from a copy", () => {
    const copy = { source: REF, destination: "us-central1-docker.pkg.dev/acme-prod/apps/api" };
    expect(parsePromoteCommandLine(promoteCommandLine(copy))).toEqual(copy);
    const rollback = parsePromoteCommandLine(
      promoteCommandLine({ source: REF, destination: "us-central1-docker.pkg.dev/acme/apps/api" }),
    );
    expect(rollback?.source.split("@")[0]).toBe(rollback?.destination);
  });

  it("reads a health gate back", () => {
    const gate = { url: "https://api-1.us-central1.run.app/health", expect: "healthy", attempts: 10 };
    expect(parseHealthCheckCommandLine(healthCheckCommandLine(gate))).toEqual(gate);
  });

  it("reads nothing from other commands", () => {
    expect(parsePromoteCommandLine("echo hello")).toBeUndefined();
    expect(parseHealthCheckCommandLine("echo hello")).toBeUndefined();
  });
});

describe("the step CLIs' argument grammar (lib/step-args.ts)", () => {
  it("takes --flag value and --flag=value, keeps repeats in order, and reads switches without a value", () => {
    const { flags, positional } = splitStepArgs(
      [
        REF,
        "--allow",
        "CVE-1:2027-01-01",
        "--allow=CVE-2:2027-02-01",
        "--allow-unscanned",
        "--max-critical",
        "0",
      ],
      ["allow-unscanned"],
    );
    expect(positional).toEqual([REF]);
    expect(Object.fromEntries(flags)).toEqual({
      allow: ["CVE-1:2027-01-01", "CVE-2:2027-02-01"],
      "allow-unscanned": ["true"],
      "max-critical": ["0"],
    });
    expect(lastValues(flags).allow).toBe("CVE-2:2027-02-01");
  });

  it("finds a step's line by its script, with or without .ts, and nothing else", () => {
    const decode = (args: readonly string[]) => (args.length ? { args: [...args] } : { problem: "none" });
    expect(
      decodeStepLine(`node_modules/.bin/tsx scripts/sign-image.ts ${REF}`, "sign-image", decode),
    ).toEqual({
      args: [REF],
    });
    expect(decodeStepLine(`sign-image ${REF}`, "sign-image", decode)).toEqual({ args: [REF] });
    expect(decodeStepLine(`scripts/design-image.ts ${REF}`, "sign-image", decode)).toBeUndefined();
    expect(decodeStepLine("scripts/sign-image.ts", "sign-image", decode)).toBeUndefined();
  });
});
