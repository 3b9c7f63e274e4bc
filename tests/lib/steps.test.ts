/** Each step's command line has one writer and one reader (lib/verify-step.ts): what is written reads back. */
import { describe, expect, it } from "vitest";
import {
  healthCheckCommandLine,
  parseHealthCheckCommandLine,
  parsePromoteCommandLine,
  promoteCommandLine,
} from "../../lib/verify-step";

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
