import { describe, expect, it } from "vitest";
import { parseChallenge, isLoopbackHost } from "../../../lib/registry/client";
import {
  MEDIA_TYPES,
  checkImageConfig,
  classifyManifest,
  type ImageConfig,
  type ImageManifest,
} from "../../../lib/registry/manifest-check";

const layer = (n: number) => ({
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 1,
});
const manifest = (layers: number): ImageManifest => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${"c".repeat(64)}`,
    size: 2,
  },
  layers: Array.from({ length: layers }, (_, i) => layer(i + 1)),
});
const config = (arch: string, diffIds: number): ImageConfig => ({
  os: "linux",
  architecture: arch,
  rootfs: { type: "layers", diff_ids: Array.from({ length: diffIds }, () => `sha256:${"d".repeat(64)}`) },
});

describe("classifyManifest", () => {
  it("accepts a single image manifest", () => {
    expect(classifyManifest(JSON.stringify(manifest(1)), undefined).kind).toBe("manifest");
  });

  it("names an index's manifests, its attestation and the fix", () => {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: "sha256:1",
          size: 1,
          platform: { os: "linux", architecture: "arm64" },
        },
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: "sha256:2",
          size: 1,
          platform: { os: "unknown", architecture: "unknown" },
          annotations: { "vnd.docker.reference.type": "attestation-manifest" },
        },
      ],
    };
    expect(classifyManifest(JSON.stringify(index), undefined)).toEqual({
      kind: "index",
      problem:
        "image is an OCI index with 2 manifests (1 attestation) for linux/arm64; Lambda and this program accept only a " +
        "single-platform image manifest: rebuild without attestations (docker-build embedded mode, exec: false, no provenance/SBOM) " +
        "so the registry gets a single manifest",
    });
  });

  it("takes the media type from the Content-Type when the body has none", () => {
    expect(
      classifyManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), MEDIA_TYPES.dockerList).kind,
    ).toBe("index");
  });

  it.each([
    ["not JSON", "<html>", undefined, "the registry returned a manifest that is not JSON"],
    [
      "schema 1",
      JSON.stringify({ schemaVersion: 1 }),
      undefined,
      "image uses the deprecated Docker schema 1 manifest; rebuild it with a current BuildKit",
    ],
    [
      "an unknown type",
      JSON.stringify({ schemaVersion: 2, mediaType: "text/plain" }),
      undefined,
      'unsupported manifest media type "text/plain"',
    ],
  ])("rejects %s", (_what, body, contentType, problem) => {
    expect(classifyManifest(body, contentType)).toEqual({ kind: "invalid", problem });
  });
});

describe("checkImageConfig", () => {
  it("passes layers equal to diff_ids on the asked platform", () => {
    expect(checkImageConfig(manifest(2), config("arm64", 2), "linux/arm64")).toEqual([]);
  });

  it("quotes Cloud Run's own words for 1 layer and 0 diff_ids (seed 000)", () => {
    expect(checkImageConfig(manifest(1), config("amd64", 0), "linux/amd64")).toEqual([
      'image has 1 manifest layer but 0 config diff_ids (Cloud Run refuses it: "got 1 Manifest.Layers vs 0 ConfigFile.RootFS.DiffIDs"); ' +
        "the image is malformed: rebuild it with docker-build instead of a source deploy",
    ]);
  });

  it("reports every problem at once: no layers and the wrong architecture (seed 001)", () => {
    const problems = checkImageConfig(manifest(0), config("amd64", 0), "linux/arm64");
    expect(problems).toHaveLength(2);
    expect(problems[0]).toBe("image has no layers; rebuild it (an image without a filesystem cannot run)");
    expect(problems[1]).toMatch(
      /^image is built for linux\/amd64 but linux\/arm64 was asked for .*rebuild it with platforms: \["linux\/arm64"\]$/,
    );
  });
});

describe("registry auth helpers", () => {
  it("parses a Bearer challenge with quoted and escaped parameters", () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull,push",
      },
    });
    expect(parseChallenge('Basic realm="x \\"y\\""')).toEqual({
      scheme: "basic",
      params: { realm: 'x "y"' },
    });
  });

  it.each([
    ["127.0.0.1:5000", true],
    ["localhost:5000", true],
    ["[::1]:5000", true],
    ["us-central1-docker.pkg.dev", false],
    ["127.example.com", false],
  ])("treats %s as loopback: %s (plain HTTP only there)", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
