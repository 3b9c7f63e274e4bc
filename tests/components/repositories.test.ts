/** ArtifactRegistryRepository and EcrRepository: immutable tags, cleanup, scanning, pull policy, protection, adoption. */
import { beforeAll, describe, expect, it } from "vitest";
import { byName, runProgram, type ProgramRun } from "../harness/run";
import { env, stacks } from "../harness/stacks";

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

describe("registries", () => {
  it("makes Artifact Registry tags immutable with cleanup and a separate mutable cache repository", () => {
    const repo = byName(staging, "gcp:artifactregistry/repository:Repository", "images-repo");
    expect(repo.inputs).toMatchObject({ format: "DOCKER", dockerConfig: { immutableTags: true } });
    expect(repo.inputs.cleanupPolicies.map((p: { id: string }) => p.id)).toEqual([
      "keep-most-recent",
      "delete-older-tagged",
      "delete-untagged",
    ]);
    expect(repo.inputs.cleanupPolicies[0].mostRecentVersions.keepCount).toBe(10);
    const cache = byName(staging, "gcp:artifactregistry/repository:Repository", "images-cache");
    expect(cache.inputs.dockerConfig.immutableTags).toBe(false);
    expect(cache.inputs.labels["multicloud-deploy-role"]).toBe("build-cache");
  });

  it("makes ECR tags immutable except the cache prefix, scans on push and lets only this account's Lambda pull", () => {
    const repo = byName(staging, "aws:ecr/repository:Repository", "worker-repo");
    expect(repo.inputs).toMatchObject({
      name: "multicloud-deploy-staging/worker",
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filter: "buildcache-*", filterType: "WILDCARD" }],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfigurations: [{ encryptionType: "AES256" }],
    });
    const policy = JSON.parse(
      byName(staging, "aws:ecr/repositoryPolicy:RepositoryPolicy", "worker-repo-lambda-pull").inputs.policy,
    );
    expect(policy.Statement[0]).toMatchObject({
      Principal: { Service: "lambda.amazonaws.com" },
      Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Condition: { StringLike: { "aws:sourceArn": "arn:aws:lambda:us-east-1:111111111111:function:*" } },
    });
  });

  it("protects registries in prod and leaves staging destroyable", () => {
    expect(byName(prod, "gcp:artifactregistry/repository:Repository", "images-repo")).toMatchObject({
      protect: true,
      retainOnDelete: true,
    });
    expect(byName(prod, "aws:ecr/repository:Repository", "worker-repo")).toMatchObject({
      protect: true,
      retainOnDelete: true,
    });
    expect(byName(staging, "aws:ecr/repository:Repository", "worker-repo").protect).toBe(false);
  });

  it("adopts an existing repository with the import id each provider expects", async () => {
    const run = await runProgram({
      stack: "staging",
      env,
      overrides: {
        artifactRegistry: { adoptExisting: true },
        services: { worker: { adoptExistingRepository: true } },
      },
    });
    expect(byName(run, "gcp:artifactregistry/repository:Repository", "images-repo").importId).toBe(
      "projects/acme-apps-staging/locations/us-central1/repositories/apps",
    );
    expect(byName(run, "aws:ecr/repository:Repository", "worker-repo").importId).toBe(
      "multicloud-deploy-staging/worker",
    );
  });
});
