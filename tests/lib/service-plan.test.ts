/** The composition root's pure decisions: where each service's image comes from, and component settings. */
import { describe, expect, it } from "vitest";
import type { CommitInfo } from "../../lib/commit";
import type { CloudRunServiceConfig, LambdaServiceConfig } from "../../lib/config/services";
import { cloudRunSettings, imageArgs, imageSource, lambdaSettings } from "../../lib/service-plan";
import type { ImageOutput } from "../../lib/promotion";

const commit: CommitInfo = { sha: "a".repeat(40), source: "git", dirty: false, timestamp: 1, notes: [] };
const svc = {
  name: "api",
  target: "cloudrun",
  platform: "linux/amd64",
  context: "apps/api",
  dockerfile: "Dockerfile",
  buildArgs: {},
} as unknown as CloudRunServiceConfig;
const promotedImage: ImageOutput = {
  repositoryUrl: "us-docker.pkg.dev/staging/apps/api",
  digest: `sha256:${"b".repeat(64)}`,
  tag: "t-promoted",
  platform: "linux/amd64",
  commitSha: "c".repeat(40),
};
const rollback = { digest: `sha256:${"d".repeat(64)}`, tag: "t-old", commitSha: "e".repeat(40) };

describe("imageSource", () => {
  it("builds at this commit when nothing else is asked", () => {
    expect(
      imageSource({ rollback: {}, commit, imageSources: { api: "build" } }, svc, undefined),
    ).toMatchObject({
      kind: "build",
      commitSha: commit.sha,
      tag: expect.stringMatching(new RegExp(`^${commit.sha}-amd64-`)),
    });
  });

  it("promotes the source stack's image, with its tag and commit", () => {
    expect(
      imageSource({ rollback: {}, commit, imageSources: { api: "promote" } }, svc, { api: promotedImage }),
    ).toEqual({
      kind: "promote",
      image: promotedImage,
      tag: "t-promoted",
      commitSha: promotedImage.commitSha,
    });
  });

  it("a promoted service without its image read is a program error, never a silent build", () => {
    expect(() => imageSource({ rollback: {}, commit, imageSources: { api: "promote" } }, svc, {})).toThrow(
      /no promoted image was read for api/,
    );
  });

  it("rolls back before promoting: the rollback names this service explicitly", () => {
    expect(
      imageSource({ rollback: { api: rollback }, commit, imageSources: { api: "rollback" } }, svc, {
        api: promotedImage,
      }),
    ).toEqual({
      kind: "rollback",
      ...rollback,
    });
  });
});

describe("imageArgs", () => {
  const scanGate = { maxCritical: 0, maxHigh: 3, deadlineSeconds: 900, allow: [], allowUnscanned: false };
  const repo = {
    repositoryUrl: "us-docker.pkg.dev/prod/apps/api",
    cacheRef: "us-docker.pkg.dev/prod/apps-cache/api:buildcache-api-amd64",
    cacheImageManifest: false,
    login: { kind: "gcp" },
    sourceLogin: (url: string) => ({ kind: "gcp", from: url }),
  };
  const config = {
    buildOnPreview: false,
    builder: "remote",
    sourceUrl: "https://example.com/r",
    stack: "prod",
    signing: undefined,
    signatureKeys: undefined,
    aws: undefined,
    promoteFrom: undefined,
    scanGate,
  };
  const KEY = "projects/acme-apps-staging/locations/us-central1/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3";

  it("a build gets the service's build settings and this repository's cache", () => {
    const source = imageSource({ rollback: {}, commit, imageSources: { api: "build" } }, svc, undefined);
    expect(imageArgs(config, { ...svc, buildTarget: "runtime" }, source, repo)).toEqual({
      scanGate,
      build: {
        context: "apps/api",
        dockerfile: "Dockerfile",
        buildArgs: {},
        target: "runtime",
        cacheRef: repo.cacheRef,
        cacheImageManifest: false,
        buildOnPreview: false,
        builder: "remote",
        sourceUrl: "https://example.com/r",
      },
    });
  });

  it("a promotion copies the source stack's digest, logging in to the source's registry", () => {
    const source = imageSource({ rollback: {}, commit, imageSources: { api: "promote" } }, svc, {
      api: promotedImage,
    });
    expect(imageArgs(config, svc, source, repo)).toEqual({
      scanGate,
      promoted: {
        sourceRepositoryUrl: promotedImage.repositoryUrl,
        digest: promotedImage.digest,
        sourceLogin: { kind: "gcp", from: promotedImage.repositoryUrl },
      },
    });
  });

  it("a build in a signing stack is signed with its cloud's key, as this stack", () => {
    const source = imageSource({ rollback: {}, commit, imageSources: { api: "build" } }, svc, undefined);
    const signed = { ...config, stack: "staging", signing: { gcpKmsKey: KEY } };
    expect(imageArgs(signed, svc, source, repo)).toMatchObject({
      signing: { key: { cloud: "gcp", keyVersion: KEY }, stack: "staging" },
    });
    // No key for this cloud: nothing is signed (parse.ts refuses that combination in a signing stack).
    expect(imageArgs({ ...signed, signing: { awsKmsKey: "alias/k" } }, svc, source, repo)).not.toHaveProperty(
      "signing",
    );
  });

  it("a promotion requires the source stack's signature by its cloud's public key, for the image's commit", () => {
    const source = imageSource({ rollback: {}, commit, imageSources: { api: "promote" } }, svc, {
      api: promotedImage,
    });
    const pem = "-----BEGIN PUBLIC KEY-----\nstaging\n-----END PUBLIC KEY-----\n";
    const prod = { ...config, signatureKeys: { gcp: pem }, promoteFrom: "acme/multicloud-deploy/staging" };
    expect(imageArgs(prod, svc, source, repo)).toMatchObject({
      promoted: { signature: { publicKeyPem: pem, commit: promotedImage.commitSha, stack: "staging" } },
    });
  });

  it("a promoting stack's rollback checks the signature its promotion copied, for the rolled-back commit", () => {
    const source = imageSource(
      { rollback: { api: rollback }, commit, imageSources: { api: "rollback" } },
      svc,
      { api: promotedImage },
    );
    const pem = "-----BEGIN PUBLIC KEY-----\nstaging\n-----END PUBLIC KEY-----\n";
    const prod = { ...config, signatureKeys: { gcp: pem }, promoteFrom: "acme/multicloud-deploy/staging" };
    expect(imageArgs(prod, svc, source, repo)).toMatchObject({
      promoted: {
        sourceRepositoryUrl: repo.repositoryUrl,
        digest: rollback.digest,
        signature: { publicKeyPem: pem, commit: rollback.commitSha, stack: "staging" },
      },
    });
  });

  it("a rollback copies within this stack's own repository, with its own login, which proves the image is there", () => {
    const source = imageSource(
      { rollback: { api: rollback }, commit, imageSources: { api: "rollback" } },
      svc,
      { api: promotedImage },
    );
    // Rolled back to or not, the image passes this stack's scan gate again.
    expect(imageArgs(config, svc, source, repo)).toEqual({
      scanGate,
      promoted: { sourceRepositoryUrl: repo.repositoryUrl, digest: rollback.digest, sourceLogin: repo.login },
    });
  });
});

describe("component settings carry every configured value", () => {
  it("Cloud Run", () => {
    const s = {
      ...svc,
      port: 9000,
      cpu: "2",
      memory: "1Gi",
      minInstances: 1,
      maxInstances: 4,
      invokers: ["group:x"],
    };
    expect(
      cloudRunSettings(
        { deletionProtection: false, nodeEnv: "staging", keepRetainedGrants: false },
        s as CloudRunServiceConfig,
      ),
    ).toMatchObject({
      port: 9000,
      cpu: "2",
      memory: "1Gi",
      minInstances: 1,
      maxInstances: 4,
      invokers: ["group:x"],
      deletionProtection: false,
      nodeEnv: "staging",
    });
  });

  it("Lambda, renaming memory and timeoutSeconds to the component's memorySize and timeout", () => {
    const s = { name: "w", functionName: "fn-w", memory: 1024, timeoutSeconds: 60, ephemeralStorageMb: 2048 };
    expect(lambdaSettings({ nodeEnv: "prod" }, s as unknown as LambdaServiceConfig)).toMatchObject({
      functionName: "fn-w",
      memorySize: 1024,
      timeout: 60,
      ephemeralStorageMb: 2048,
      nodeEnv: "prod",
    });
  });
});
