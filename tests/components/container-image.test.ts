/** ContainerImage: one platform, embedded mode, push by digest (untagged), verify, then tag. */
import * as dockerbuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { byName, dependsOn, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";

let staging: ProgramRun;
beforeAll(async () => {
  ({ staging } = await stacks());
}, 60_000);

const verifiedTag = (run: ProgramRun, service: string) =>
  /--tag (\S+)$/.exec(byName(run, "command:local:Command", `${service}-verify`).inputs.create as string)![1]!;

describe("ContainerImage", () => {
  it("builds exactly one platform in embedded mode, pushes by digest with no tags and keeps the image on delete", () => {
    const api = byName(staging, "docker-build:index:Image", "api-image");
    expect(api.inputs.platforms).toEqual(["linux/amd64"]);
    expect(api.inputs.exec).toBeUndefined();
    expect(api.inputs.push).toBe(false);
    // A tag here would make BuildKit refuse the push ("can't push tagged ref … by digest").
    expect(api.inputs.tags).toBeUndefined();
    expect(api.inputs.exports).toEqual([
      {
        raw: "type=registry,name=us-central1-docker.pkg.dev/acme-apps-staging/apps/api,push-by-digest=true,rewrite-timestamp=true,oci-mediatypes=true",
      },
    ]);
    expect(api.retainOnDelete).toBe(true);
    expect(byName(staging, "docker-build:index:Image", "worker-image").inputs.platforms).toEqual([
      "linux/arm64",
    ]);
  });

  it("gives the commit tag (full SHA, architecture, inputs hash; never latest) only after verification", () => {
    const tag = verifiedTag(staging, "worker");
    expect(tag).toMatch(new RegExp(`^${SHA}(-dirty-[0-9a-f]{8})?-arm64-[0-9a-f]{8}$`));
    expect(tag).not.toContain("latest");
  });

  it("labels the image with its revision and pins every timestamp to the commit (SOURCE_DATE_EPOCH + rewrite-timestamp)", () => {
    const img = byName(staging, "docker-build:index:Image", "api-image");
    expect(img.inputs.labels["org.opencontainers.image.revision"]).toBe(SHA);
    expect(img.inputs.labels).not.toHaveProperty("org.opencontainers.image.created");
    expect(img.inputs.buildArgs.SOURCE_DATE_EPOCH).toMatch(/^\d+$/);
    expect(img.inputs.exports[0].raw).toContain("rewrite-timestamp=true");
  });

  it("writes the cache in the mutable cache repository when previews do not build (image-manifest cache for ECR)", () => {
    const api = byName(staging, "docker-build:index:Image", "api-image");
    expect(api.inputs.buildOnPreview).toBe(false);
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

  it("never writes the cache from a stack whose previews build: a pull request must not poison it", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      preview: true,
      overrides: { commitSha: SHA, buildOnPreview: true },
    });
    for (const name of ["api-image", "worker-image"]) {
      const img = byName(run, "docker-build:index:Image", name);
      expect(img.inputs.buildOnPreview).toBe(true);
      expect(img.inputs.cacheTo ?? []).toEqual([]);
      expect(img.inputs.cacheFrom[0].registry.ref).toMatch(/buildcache-/);
      // It builds in preview (docker-build does, with known inputs), so the digest is known already.
      expect(img.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });

  it("leaves the digest unknown in a preview that does not build", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      preview: true,
      overrides: { commitSha: SHA },
    });
    expect(byName(run, "docker-build:index:Image", "api-image").outputs.digest).toBeUndefined();
  });

  it("verifies the pushed digest before tagging, logging in at run time: no token among its inputs", () => {
    const verify = byName(staging, "command:local:Command", "api-verify");
    const image = byName(staging, "docker-build:index:Image", "api-image");
    expect(verify.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/verify-image.ts us-central1-docker.pkg.dev/acme-apps-staging/apps/api@${image.outputs.digest} --platform linux/amd64 --tag ${verifiedTag(staging, "api")}`,
    );
    expect(verify.inputs.logging).toBe("stderr");
    expect(verify.inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "verify-image",
      REGISTRY_LOGIN: '{"kind":"gcp"}',
    });
    expect(JSON.stringify(verify.rawInputs)).not.toContain("ya29.mock-access-token");
    expect(byName(staging, "command:local:Command", "worker-verify").inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "verify-image",
      REGISTRY_LOGIN: '{"kind":"ecr","region":"us-east-1","registryId":"111111111111"}',
    });
    // The build itself pushes with the token, as a secret; docker-build leaves passwords out of its diff.
    expect(image.rawInputs.registries[0].password).toMatchObject({ value: "ya29.mock-access-token" });
    expect(dependsOn(staging, verify, image)).toBe(true);
  });
});

describe("the docker-build mock refuses what BuildKit refuses", () => {
  /** A stack with one docker-build Image, registered with the given args, under the harness's mocks. */
  const register = (args: dockerbuild.ImageArgs) =>
    runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { commitSha: SHA },
      program: () => {
        new dockerbuild.Image("probe", args);
        return {};
      },
    });
  const base = {
    context: { location: "apps/api" },
    platforms: [dockerbuild.Platform.Linux_amd64],
    push: false,
  } satisfies dockerbuild.ImageArgs;

  it("fails the update when a push by digest also has tags", async () => {
    await expect(
      register({
        ...base,
        tags: ["registry.example.com/apps/api:v1"],
        exports: [{ registry: { names: ["registry.example.com/apps/api"], pushByDigest: true } }],
      }),
    ).rejects.toThrow("can't push tagged ref registry.example.com/apps/api:v1 by digest");
  });

  it("fails the same way for a raw export", async () => {
    await expect(
      register({
        ...base,
        tags: ["registry.example.com/apps/api:v1"],
        exports: [{ raw: "type=registry,name=registry.example.com/apps/api,push-by-digest=true" }],
      }),
    ).rejects.toThrow("can't push tagged ref");
  });

  it("accepts an untagged push by digest and a tagged push without it", async () => {
    const run = await register({
      ...base,
      exports: [
        { raw: pulumi.output("type=registry,name=registry.example.com/apps/api,push-by-digest=true") },
      ],
    });
    expect(byName(run, "docker-build:index:Image", "probe").outputs.digest).toMatch(/^sha256:/);
    await expect(
      register({ ...base, push: true, tags: ["registry.example.com/apps/api:v1"] }),
    ).resolves.toBeTruthy();
  });
});
