/** ContainerImage: one platform, embedded mode, push by digest, verify, tag. */
import { beforeAll, describe, expect, it } from "vitest";
import { byName, dependsOn, type ProgramRun } from "../harness/run";
import { SHA, stacks } from "../harness/stacks";

let staging: ProgramRun;
beforeAll(async () => {
  ({ staging } = await stacks());
}, 60_000);

describe("ContainerImage", () => {
  it("builds exactly one platform in embedded mode, pushes by digest and keeps the image on delete", () => {
    const api = byName(staging, "docker-build:index:Image", "api-image");
    expect(api.inputs.platforms).toEqual(["linux/amd64"]);
    expect(api.inputs.exec).toBeUndefined();
    expect(api.inputs.push).toBe(false);
    expect(api.inputs.exports).toEqual([
      { registry: { names: ["us-central1-docker.pkg.dev/acme-apps-staging/apps/api"], pushByDigest: true } },
    ]);
    expect(api.retainOnDelete).toBe(true);
    expect(byName(staging, "docker-build:index:Image", "worker-image").inputs.platforms).toEqual([
      "linux/arm64",
    ]);
  });

  it("tags with the full commit SHA, the architecture and a hash of the build inputs; never latest", () => {
    const tag = byName(staging, "docker-build:index:Image", "worker-image").inputs.tags[0] as string;
    expect(tag).toMatch(new RegExp(`:${SHA}(-dirty-[0-9a-f]{8})?-arm64-[0-9a-f]{8}$`));
    expect(tag).not.toContain("latest");
  });

  it("labels the image with its revision and sets SOURCE_DATE_EPOCH, with no wall-clock label", () => {
    const img = byName(staging, "docker-build:index:Image", "api-image");
    expect(img.inputs.labels["org.opencontainers.image.revision"]).toBe(SHA);
    expect(img.inputs.labels).not.toHaveProperty("org.opencontainers.image.created");
    expect(img.inputs.buildArgs.SOURCE_DATE_EPOCH).toMatch(/^\d+$/);
  });

  it("caches in the mutable cache repository (image-manifest cache for ECR)", () => {
    const api = byName(staging, "docker-build:index:Image", "api-image");
    expect(api.inputs.cacheTo[0].registry).toMatchObject({
      ref: "us-central1-docker.pkg.dev/acme-apps-staging/apps-cache/api:buildcache-api-amd64",
      mode: "max",
    });
    const worker = byName(staging, "docker-build:index:Image", "worker-image");
    expect(worker.inputs.cacheTo[0].registry).toMatchObject({
      imageManifest: true,
      ref: expect.stringMatching(/:buildcache-worker-arm64$/),
    });
  });

  it("passes registry credentials as secrets and verifies the pushed digest before tagging", () => {
    const verify = byName(staging, "command:local:Command", "api-verify");
    const image = byName(staging, "docker-build:index:Image", "api-image");
    expect(verify.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/verify-image.ts us-central1-docker.pkg.dev/acme-apps-staging/apps/api@${image.outputs.digest} --platform linux/amd64 --tag ${String(image.inputs.tags[0]).split(":").pop()}`,
    );
    const environment = JSON.stringify(verify.inputs.environment);
    expect(environment).toContain("oauth2accesstoken");
    expect(environment).toContain("ya29.mock-access-token");
    expect(verify.inputs.create).not.toContain("ya29.mock-access-token");
    expect(dependsOn(staging, verify, image)).toBe(true);
  });
});
