/**
 * Each component rendered on its own from its args (no stack file, no program): what a user of the
 * component gets, the component defaults (lib/service-defaults.ts), and the `transform` escape hatch
 * on a child.
 */
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import { describe, expect, it } from "vitest";
import {
  ArtifactRegistryRepository,
  CloudRunService,
  ContainerImage,
  EcrRepository,
  LambdaFunction,
} from "../../components";
import type { CloudRunServiceArgs } from "../../components/cloud-run-service";
import type { CommitInfo } from "../../lib/commit";
import { ComponentArgError } from "../../lib/errors";
import { CLOUD_RUN_DEFAULTS, LAMBDA_DEFAULTS } from "../../lib/service-defaults";
import { byName, dependsOn, runProgram } from "../../plan/run";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const commit: CommitInfo = { sha: SHA, source: "config", dirty: false, timestamp: 1_700_000_000, notes: [] };
const DIGEST = `sha256:${"a".repeat(64)}`;

/** An image already in a registry (promoted mode: no build), as a component user would pass one. */
function image(name: string, repositoryUrl: string, platform: "linux/amd64" | "linux/arm64") {
  return new ContainerImage(name, {
    repositoryUrl,
    platform,
    tag: `${SHA}-${platform.split("/")[1]}`,
    commit,
    registryAuth: {
      address: repositoryUrl.split("/")[0]!,
      username: "u",
      password: "p",
      login: { kind: "none" },
    },
    promoted: {
      sourceRepositoryUrl: `${repositoryUrl}-source`,
      digest: DIGEST,
      sourceLogin: { kind: "none" },
    },
  });
}

const render = (program: () => void) =>
  runProgram({
    stack: "staging",
    commit: SHA,
    program: () => {
      program();
      return {};
    },
  });

/** One CloudRunService "api" on its own image, with the component's defaults and `extra`. */
const renderApi = (extra: Partial<CloudRunServiceArgs> = {}) =>
  render(() => {
    const img = image("api", "us-central1-docker.pkg.dev/p-123456/apps/api", "linux/amd64");
    new CloudRunService("api", {
      project: "p-123456",
      region: "us-central1",
      image: img,
      appVersion: SHA,
      nodeEnv: "production",
      ...extra,
    });
  });

describe("CloudRunService on its own", () => {
  it("runs the image it is given by digest, after its verification, with the component defaults", async () => {
    const run = await renderApi();
    const svc = byName(run, "gcp:cloudrunv2/service:Service", "api");
    const container = svc.inputs.template.containers[0];
    expect(container.image).toBe(`us-central1-docker.pkg.dev/p-123456/apps/api@${DIGEST}`);
    expect(container.ports).toMatchObject({ containerPort: CLOUD_RUN_DEFAULTS.port });
    expect(container.resources.limits).toEqual({
      cpu: CLOUD_RUN_DEFAULTS.cpu,
      memory: CLOUD_RUN_DEFAULTS.memory,
    });
    expect(svc.inputs.template.scaling).toMatchObject({ maxInstanceCount: CLOUD_RUN_DEFAULTS.maxInstances });
    expect(svc.inputs.deletionProtection).toBe(CLOUD_RUN_DEFAULTS.deletionProtection);
    expect(dependsOn(run, svc, byName(run, "command:local:Command", "api-verify"))).toBe(true);
    // Private by default: no public invoker.
    expect(
      run.resources.filter((r) => r.type === "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"),
    ).toEqual([]);
  });

  it("lets a transform set a field the component does not expose, on that child only", async () => {
    const run = await renderApi({
      transform: {
        service: (args: gcp.cloudrunv2.ServiceArgs) => ({ ...args, description: "owned by team-a" }),
        serviceAccount: (_args, opts) => {
          opts.protect = true;
        },
      },
    });
    expect(byName(run, "gcp:cloudrunv2/service:Service", "api").inputs.description).toBe("owned by team-a");
    expect(byName(run, "gcp:serviceaccount/account:Account", "api-sa").protect).toBe(true);
  });
});

describe("LambdaFunction on its own", () => {
  it("takes its architecture from the image it is given, and the component defaults", async () => {
    const run = await render(() => {
      const img = image("fn", "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/fn", "linux/arm64");
      new LambdaFunction("fn", { image: img, appVersion: SHA, nodeEnv: "production", partition: "aws" });
    });
    const fn = byName(run, "aws:lambda/function:Function", "fn");
    expect(fn.inputs).toMatchObject({
      packageType: "Image",
      imageUri: `111111111111.dkr.ecr.us-east-1.amazonaws.com/team/fn@${DIGEST}`,
      architectures: ["arm64"],
      memorySize: LAMBDA_DEFAULTS.memorySize,
      timeout: LAMBDA_DEFAULTS.timeout,
    });
    expect(byName(run, "aws:cloudwatch/logGroup:LogGroup", "fn-logs").inputs.retentionInDays).toBe(
      LAMBDA_DEFAULTS.logRetentionDays,
    );
  });

  it("lets a transform change the function's args", async () => {
    const run = await render(() => {
      const img = image("fn", "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/fn", "linux/arm64");
      new LambdaFunction("fn", {
        image: img,
        appVersion: SHA,
        nodeEnv: "production",
        partition: "aws",
        transform: {
          function: (args: aws.lambda.FunctionArgs) => ({ ...args, description: "batch worker" }),
        },
      });
    });
    expect(byName(run, "aws:lambda/function:Function", "fn").inputs.description).toBe("batch worker");
  });
});

describe("registries on their own", () => {
  it("ArtifactRegistryRepository.grantReader grants one member pull on the image repository", async () => {
    const run = await render(() => {
      const repo = new ArtifactRegistryRepository("images", {
        project: "p-123456",
        location: "us-central1",
        repositoryId: "apps",
      });
      repo.grantReader("group:auditors@example.com");
    });
    expect(
      byName(
        run,
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "images-reader-group-auditors-example-com",
      ).inputs,
    ).toMatchObject({
      role: "roles/artifactregistry.reader",
      member: "group:auditors@example.com",
      repository: "apps",
    });
  });

  it("EcrRepository lets a transform change the repository", async () => {
    const run = await render(() => {
      new EcrRepository("repo", {
        repositoryName: "team/fn",
        accountId: "111111111111",
        region: "us-east-1",
        partition: "aws",
        imageTagPattern: "*-arm64-*",
        transform: { repository: (args: aws.ecr.RepositoryArgs) => ({ ...args, tags: { team: "a" } }) },
      });
    });
    expect(byName(run, "aws:ecr/repository:Repository", "repo").inputs.tags).toEqual({ team: "a" });
  });
});

describe("caller mistakes", () => {
  it("are ComponentArgErrors naming the component, its name and the arg", async () => {
    await expect(
      render(() => {
        const img = image("fn", "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/fn", "linux/arm64");
        new LambdaFunction("fn", {
          image: img,
          appVersion: SHA,
          nodeEnv: "production",
          functionName: "my fn",
        });
      }),
    ).rejects.toThrow('LambdaFunction fn: functionName: "my fn" must be 1-64 letters, digits, "-" or "_"');
    // A rollout's traffic analysis out of its limits, before any child is registered.
    await expect(
      renderApi({
        rollout: { steps: [10], waitSeconds: 60, analysis: { minRequests: 0, maxErrorRate: 2 } },
      }),
    ).rejects.toThrow(
      "CloudRunService api: rollout: analysis.maxErrorRate is 2; expected a number from 0 to 1; analysis.minRequests is 0; expected a whole number from 1 to 1000000",
    );
    let thrown: unknown;
    await render(() => {
      try {
        new ContainerImage("both", {
          repositoryUrl: "r.example/x",
          platform: "linux/amd64",
          tag: SHA,
          commit,
          registryAuth: { address: "r.example", username: "u", password: "p", login: { kind: "none" } },
          build: { context: "apps/api", dockerfile: "Dockerfile", cacheRef: "r.example/x:cache" },
          promoted: { sourceRepositoryUrl: "r.example/y", digest: DIGEST, sourceLogin: { kind: "none" } },
        });
      } catch (err) {
        thrown = err;
      }
    });
    expect(thrown).toBeInstanceOf(ComponentArgError);
    expect((thrown as Error).message).toBe("ContainerImage both: build, promoted: give exactly one of them");
  });
});
