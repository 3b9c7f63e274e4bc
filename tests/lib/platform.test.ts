import { describe, expect, it } from "vitest";
import {
  LAMBDA_ARCHITECTURES,
  PLATFORMS,
  architectureForPlatform,
  platformForArchitecture,
  platformTagSuffix,
  splitPlatform,
} from "../../lib/platform";

describe("platform ↔ Lambda architecture", () => {
  it.each([
    ["linux/arm64", "arm64"],
    ["linux/amd64", "x86_64"],
  ] as const)("maps %s to %s and back", (platform, arch) => {
    expect(architectureForPlatform(platform)).toBe(arch);
    expect(platformForArchitecture(arch)).toBe(platform);
  });

  it("covers every platform and architecture exactly once", () => {
    expect(new Set(PLATFORMS.map(architectureForPlatform))).toEqual(new Set(LAMBDA_ARCHITECTURES));
  });

  it("splits a platform as an OCI config spells it and names the tag suffix", () => {
    expect(splitPlatform("linux/arm64")).toEqual({ os: "linux", architecture: "arm64" });
    expect(platformTagSuffix("linux/amd64")).toBe("amd64");
  });
});
