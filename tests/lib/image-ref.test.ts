import { describe, expect, it } from "vitest";
import { digestRef, parseImageRef } from "../../lib/image-ref";

const D = `sha256:${"a".repeat(64)}`;

describe("digestRef", () => {
  it("forms repo@sha256:<64 hex>", () => {
    expect(digestRef("us-central1-docker.pkg.dev/p/apps/api", D)).toBe(
      `us-central1-docker.pkg.dev/p/apps/api@${D}`,
    );
  });

  it.each([
    ["a tag", "v1", 'expected a manifest digest like "sha256:<64 hex>", got "v1"'],
    ["a short digest", "sha256:abc", 'expected a manifest digest like "sha256:<64 hex>", got "sha256:abc"'],
    ["an unknown preview value", "", 'expected a manifest digest like "sha256:<64 hex>", got ""'],
  ])("refuses %s", (_what, digest, message) => {
    expect(() => digestRef("r/x", digest)).toThrow(message);
  });

  it("refuses a repository that already carries a digest", () => {
    expect(() => digestRef(`r/x@${D}`, D)).toThrow(`expected a repository without a digest, got "r/x@${D}"`);
  });
});

describe("parseImageRef", () => {
  it.each([
    [
      "us-central1-docker.pkg.dev/p/apps/api@" + D,
      { registry: "us-central1-docker.pkg.dev", repository: "p/apps/api", digest: D },
    ],
    ["127.0.0.1:5000/team/app:v1", { registry: "127.0.0.1:5000", repository: "team/app", tag: "v1" }],
    ["localhost/app", { registry: "localhost", repository: "app" }],
    ["nginx", { registry: "docker.io", repository: "library/nginx" }],
    ["nginx:latest", { registry: "docker.io", repository: "library/nginx", tag: "latest" }],
    ["acme/app:1", { registry: "docker.io", repository: "acme/app", tag: "1" }],
    ["gcr.io/p/app:" + "b".repeat(40), { registry: "gcr.io", repository: "p/app", tag: "b".repeat(40) }],
  ])("takes %s apart as Docker does", (ref, expected) => {
    expect(parseImageRef(ref)).toEqual({ tag: undefined, digest: undefined, ...expected });
  });

  it("names the malformed digest", () => {
    expect(() => parseImageRef("r.io/x@sha256:zz")).toThrow(
      'image reference "r.io/x@sha256:zz" has a malformed digest "sha256:zz"',
    );
  });
});
