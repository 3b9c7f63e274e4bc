/** ArtifactRegistryRepository and EcrRepository: immutable tags, cleanup, scanning, pull policy, protection, adoption. */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import { beforeAll, describe, expect, it } from "vitest";
import { AR_ADOPTION_IGNORED } from "../../components/artifact-registry-repository";
import {
  ECR_ADOPTION_IGNORED,
  ecrLifecyclePolicy,
  ecrTagPatternMatches,
} from "../../components/ecr-repository";
import { byName, ofType, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

describe("registries", () => {
  it("makes Artifact Registry tags immutable with cleanup and a separate mutable cache repository", async () => {
    const repo = byName(staging, "gcp:artifactregistry/repository:Repository", "images-repo");
    expect(repo.inputs).toMatchObject({ format: "DOCKER", dockerConfig: { immutableTags: true } });
    expect(repo.inputs.cleanupPolicies.map((p: { id: string }) => p.id)).toEqual([
      "keep-most-recent",
      "delete-older-tagged",
      "delete-untagged",
    ]);
    // keepTaggedVersions is 10; staging signs, and each image's .sig is a version of the same package:
    // twice as many versions are kept, so ten images and their signatures stay.
    expect(repo.inputs.cleanupPolicies[0].mostRecentVersions.keepCount).toBe(20);
    const unsigned = await runProgram({ stack: "staging", commit: SHA, overrides: { signing: null } });
    expect(
      byName(unsigned, "gcp:artifactregistry/repository:Repository", "images-repo").inputs.cleanupPolicies[0]
        .mostRecentVersions.keepCount,
    ).toBe(10);
    // Prod copies staging's signature with each image: its repository counts them apart too.
    // (Pulumi.prod.yaml keeps 50.)
    expect(
      byName(prod, "gcp:artifactregistry/repository:Repository", "images-repo").inputs.cleanupPolicies[0]
        .mostRecentVersions.keepCount,
    ).toBe(100);
    const cache = byName(staging, "gcp:artifactregistry/repository:Repository", "images-cache");
    expect(cache.inputs.dockerConfig.immutableTags).toBe(false);
    expect(cache.inputs.labels["multicloud-deploy-role"]).toBe("build-cache");
  });

  it("states dockerConfig as the provider reads it back, so neither repository shows a diff on every update (issue 21)", () => {
    // The stand-in reads dockerConfig back as the provider's flatten does: one block, false when unset.
    for (const name of ["images-repo", "images-cache"]) {
      const repo = byName(staging, "gcp:artifactregistry/repository:Repository", name);
      expect(repo.inputs.dockerConfig, name).toEqual(repo.outputs.dockerConfig);
    }
  });

  it("expires cosign's .sig images in ECR as many as the images it keeps, newest kept, never matched by the commit-tag rule", () => {
    const lifecycle = JSON.parse(
      byName(staging, "aws:ecr/lifecyclePolicy:LifecyclePolicy", "worker-repo-lifecycle").inputs.policy,
    );
    const [, images, signatures] = lifecycle.rules;
    expect(signatures).toEqual({
      rulePriority: 3,
      description: `Keep the signatures of the ${images.selection.countNumber} most recent images`,
      selection: {
        tagStatus: "tagged",
        tagPatternList: ["sha256-*.sig"],
        countType: "imageCountMoreThan",
        countNumber: images.selection.countNumber,
      },
      action: { type: "expire" },
    });
    // ECR's wildcard: `*` matches any characters. A .sig tag never matches the commit-tag rule.
    const wildcard = (p: string) =>
      new RegExp(
        `^${p
          .split("*")
          .map((x) => x.replace(/[.]/g, "\\."))
          .join(".*")}$`,
      );
    const sig = `sha256-${"ab".repeat(32)}.sig`;
    expect(wildcard(images.selection.tagPatternList[0]).test(sig)).toBe(false);
    expect(wildcard(signatures.selection.tagPatternList[0]).test(sig)).toBe(true);
  });

  it("counts signatures with the images when the tag pattern matches them too (ECR counts what a higher rule identified)", () => {
    const sig = `sha256-${"ab".repeat(32)}.sig`;
    expect(ecrTagPatternMatches("*", sig)).toBe(true);
    expect(ecrTagPatternMatches("*-arm64-*", sig)).toBe(false);
    expect(ecrTagPatternMatches("sha256-*.sig", "sha256-abc.sigx")).toBe(false);
    // A repository with signatures under `*`: one rule keeps images and signatures, twice as many.
    const all = ecrLifecyclePolicy("*", 20, 7, true);
    expect(all.rules.map((r) => [r.rulePriority, r.selection.countNumber])).toEqual([
      [1, 7],
      [2, 40],
    ]);
    // Without signatures, or with a pattern no signature matches, nothing is doubled.
    expect(ecrLifecyclePolicy("*", 20, 7, false).rules[1]!.selection.countNumber).toBe(20);
    expect(ecrLifecyclePolicy("*-arm64-*", 20, 7, true).rules.map((r) => r.selection.countNumber)).toEqual([
      7, 20, 20,
    ]);
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

  it("adopts a hand-made repository: the import id each provider expects, and the settings it lacks left for the next update", async () => {
    // Under the mocks' import rule, an import whose inputs differ from the hand-made repository fails
    // the run: this passes only because the differing settings are in ignoreChanges.
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: {
        commitSha: SHA,
        artifactRegistry: { adoptExisting: true },
        services: { worker: { adoptExistingRepository: true } },
      },
    });
    const ar = byName(run, "gcp:artifactregistry/repository:Repository", "images-repo");
    expect(ar.importId).toBe("projects/acme-apps-staging/locations/us-central1/repositories/apps");
    expect(ar.ignoreChanges).toEqual([...AR_ADOPTION_IGNORED]);
    const ecr = byName(run, "aws:ecr/repository:Repository", "worker-repo");
    expect(ecr.importId).toBe("multicloud-deploy-staging/worker");
    expect(ecr.ignoreChanges).toEqual([...ECR_ADOPTION_IGNORED]);
    // Once adopted (adoptExisting back to false), the component's settings apply and nothing is ignored.
    expect(byName(staging, "aws:ecr/repository:Repository", "worker-repo")).toMatchObject({
      importId: undefined,
      ignoreChanges: [],
    });
  });

  describe("the mocks' import rule (the engine's: declared inputs must equal the existing resource's)", () => {
    const importing = (ignoreChanges: string[]) =>
      runProgram({
        stack: "staging",
        commit: SHA,
        program: () => {
          new aws.ecr.Repository(
            "adopted",
            {
              name: "team/worker",
              imageTagMutability: "IMMUTABLE",
              forceDelete: false,
            } satisfies aws.ecr.RepositoryArgs,
            { import: "team/worker", ignoreChanges },
          );
          return {};
        },
      });

    it("fails an import that declares settings the hand-made repository does not have", async () => {
      await expect(importing([])).rejects.toThrow(
        "inputs to import do not match the existing resource; the following properties differed: forceDelete, imageTagMutability",
      );
    });

    it("accepts it when those settings are ignored for the import", async () => {
      await expect(importing(["imageTagMutability", "forceDelete"])).resolves.toBeTruthy();
    });

    it("accepts an Artifact Registry import that declares only what gcloud sets", async () => {
      const run = await runProgram({
        stack: "staging",
        commit: SHA,
        program: () => {
          new gcp.artifactregistry.Repository(
            "adopted",
            {
              project: "acme-apps-staging",
              location: "us-central1",
              repositoryId: "apps",
              format: "DOCKER",
            } satisfies gcp.artifactregistry.RepositoryArgs,
            { import: "projects/acme-apps-staging/locations/us-central1/repositories/apps" },
          );
          return {};
        },
      });
      expect(ofType(run, "gcp:artifactregistry/repository:Repository")).toHaveLength(1);
    });
  });

  it("lets the stacks that promote from this one pull: prod's account in the ECR policy, prod's deployer on Artifact Registry", () => {
    const policy = JSON.parse(
      byName(staging, "aws:ecr/repositoryPolicy:RepositoryPolicy", "worker-repo-lambda-pull").inputs.policy,
    );
    expect(policy.Statement[1]).toEqual({
      Sid: "ConsumerAccountsPull",
      Effect: "Allow",
      Principal: { AWS: ["arn:aws:iam::222222222222:root"] },
      Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
    });
    const grants = ofType(staging, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember").filter(
      (g) => g.name.startsWith("images-reader-"),
    );
    expect(grants.map((g) => g.inputs)).toEqual([
      {
        project: "acme-apps-staging",
        location: "us-central1",
        repository: "apps",
        role: "roles/artifactregistry.reader",
        member: "serviceAccount:deployer@acme-apps-prod.iam.gserviceaccount.com",
      },
    ]);
    // Prod has no consumers: Lambda alone may pull there.
    const prodPolicy = JSON.parse(
      byName(prod, "aws:ecr/repositoryPolicy:RepositoryPolicy", "worker-repo-lambda-pull").inputs.policy,
    );
    expect(prodPolicy.Statement).toHaveLength(1);
  });
});
