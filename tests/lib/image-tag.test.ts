import { describe, expect, it } from "vitest";
import type { CommitInfo } from "../../lib/commit";
import { buildInputsHash, cacheTag, imageTag, ociLabels, type BuildInputs } from "../../lib/image-tag";

const SHA = "3f2a000000000000000000000000000000009c1d";
const commit: CommitInfo = { sha: SHA, source: "config", dirty: false, timestamp: 1_700_000_000, notes: [] };
const inputs: BuildInputs = {
  platform: "linux/arm64",
  context: "apps/worker",
  dockerfile: "Dockerfile",
  buildArgs: { A: "1", B: "2" },
};

describe("imageTag", () => {
  it("is <full sha>-<arch>-<8 hex of the build inputs>", () => {
    expect(imageTag(commit, inputs)).toMatch(new RegExp(`^${SHA}-arm64-[0-9a-f]{8}$`));
  });

  it("is the same for the same commit and inputs, whatever the build-arg order", () => {
    const reordered = { ...inputs, buildArgs: { B: "2", A: "1" } };
    expect(imageTag(commit, reordered)).toBe(imageTag(commit, inputs));
  });

  it("changes when any build input changes at the same commit, so an immutable registry never sees a clash", () => {
    const variants: BuildInputs[] = [
      { ...inputs, platform: "linux/amd64" },
      { ...inputs, context: "apps/api" },
      { ...inputs, dockerfile: "Dockerfile.prod" },
      { ...inputs, buildArgs: { A: "1", B: "3" } },
      { ...inputs, buildTarget: "runtime" },
    ];
    const hashes = new Set([inputs, ...variants].map(buildInputsHash));
    expect(hashes.size).toBe(variants.length + 1);
  });

  it("marks a dirty work tree with the hash of its changes", () => {
    const dirty = { ...commit, dirty: true, dirtyHash: "abcdef12" };
    expect(imageTag(dirty, inputs)).toBe(`${SHA}-dirty-abcdef12-arm64-${buildInputsHash(inputs)}`);
  });

  it("is never latest and never longer than the 128 characters registries allow", () => {
    const tag = imageTag({ ...commit, dirty: true, dirtyHash: "abcdef12" }, inputs);
    expect(tag).not.toContain("latest");
    expect(tag.length).toBeLessThanOrEqual(128);
    expect(tag).toMatch(/^[\w][\w.-]{0,127}$/);
  });
});

describe("cacheTag and ociLabels", () => {
  it("gives each service and platform its own mutable cache tag under the exempt prefix", () => {
    expect(cacheTag("api", "linux/amd64")).toBe("buildcache-api-amd64");
    expect(cacheTag("api", "linux/arm64")).toBe("buildcache-api-arm64");
  });

  it("labels revision, version and source, and nothing time-based", () => {
    expect(ociLabels(commit, "t", "https://github.com/acme/x")).toEqual({
      "org.opencontainers.image.revision": SHA,
      "org.opencontainers.image.version": "t",
      "org.opencontainers.image.source": "https://github.com/acme/x",
    });
    expect(ociLabels(commit, "t", undefined)).not.toHaveProperty(["org.opencontainers.image.source"]);
  });
});
