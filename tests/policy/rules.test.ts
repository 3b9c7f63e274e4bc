/**
 * The policy pack, called directly (policy/index.ts, which starts the analyzer server, is never
 * imported). Resources are given to the rules the way @pulumi/policy 1.21 gives them: serialized
 * properties through the SDK's deserializer and unknown-checking proxy (plan/policy.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as aws from "@pulumi/aws";
import type * as command from "@pulumi/command";
import type * as dockerbuild from "@pulumi/docker-build";
import type * as gcp from "@pulumi/gcp";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULTS, policies } from "../../policy/rules";
import {
  evaluatePolicies,
  evaluateRun,
  type PackConfig,
  type PolicyInput,
  type PolicyResult,
} from "../../plan/policy";
import { PROJECT_DIR, byName, runProgram, type ProgramRun, type RecordedResource } from "../../plan/run";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's preview sentinel
const D = `sha256:${"ab".repeat(32)}`;
const SHA = "0123456789abcdef0123456789abcdef01234567";
const AR = "us-central1-docker.pkg.dev/acme/apps/api";
const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/worker";
const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

let n = 0;
function res(
  type: string,
  name: string,
  props: Record<string, any>,
  extra: Partial<PolicyInput> = {},
): PolicyInput {
  return { type, name, urn: `urn:pulumi:test::p::${type}::${name}-${n++}`, props, ...extra };
}

// Fixtures are typed with the providers' own *Args: a property the engine never sends (`env` where the
// schema says `envs`) is a compile error here, not a green test of a rule that never fires.
const runService = (props: Partial<gcp.cloudrunv2.ServiceArgs> = {}, name = "api") =>
  res("gcp:cloudrunv2/service:Service", name, {
    location: "us-central1",
    name,
    labels: { exposure: "private" },
    template: {
      serviceAccount: "api-run@acme.iam.gserviceaccount.com",
      containers: [{ image: `${AR}@${D}` }],
    },
    ...props,
  });
const lambda = (props: Partial<aws.lambda.FunctionArgs> = {}, name = "worker") =>
  res("aws:lambda/function:Function", name, {
    name,
    packageType: "Image",
    imageUri: `${ECR}@${D}`,
    architectures: ["arm64"],
    tags: { exposure: "private" },
    ...props,
  });
const image = (props: Partial<dockerbuild.ImageArgs> = {}, name = "worker-image") =>
  res("docker-build:index:Image", name, {
    platforms: ["linux/arm64"],
    push: false,
    exports: [
      { raw: `type=registry,name=${ECR},push-by-digest=true,rewrite-timestamp=true,oci-mediatypes=true` },
    ],
    ...props,
  });
/** The verify step ContainerImage puts after a build: it checks the digest, then adds the commit tag. */
const verify = (built: PolicyInput, tag = `${SHA}-arm64-1a2b3c4d`) =>
  res(
    "command:local:Command",
    `${built.name.replace(/-image$/, "")}-verify`,
    {
      create: `node_modules/.bin/tsx scripts/verify-image.ts ${ECR}@${D} --platform linux/arm64 --tag ${tag}`,
      environment: { MULTICLOUD_DEPLOY_STEP: "verify-image" },
    } satisfies command.local.CommandArgs,
    { dependencies: [built.urn] },
  );

async function check(resources: PolicyInput[], config?: PackConfig): Promise<PolicyResult> {
  return evaluatePolicies(
    { inputs: resources, state: resources },
    { policies, config, packEnforcementLevel: "mandatory" },
  );
}
/** The messages one policy reported. */
async function messages(policy: string, resources: PolicyInput[], config?: PackConfig): Promise<string[]> {
  return (await check(resources, config)).diagnostics
    .filter((d) => d.policyName === policy)
    .map((d) => d.message);
}

describe("each rule passes the safe form and names the fix for the unsafe one", () => {
  it("cloud-run-no-source-deploy", async () => {
    expect(await messages("cloud-run-no-source-deploy", [runService()])).toEqual([]);
    expect(
      await messages("cloud-run-no-source-deploy", [
        runService({ buildConfig: { sourceLocation: "gs://b/src.zip" } }),
      ]),
    ).toEqual([
      'Cloud Run service "api" has buildConfig: a source deploy (Cloud Build makes an image nobody verified); ' +
        "build the image with @pulumi/docker-build (one platform), verify it and deploy `repo@sha256:<digest>`",
    ]);
  });

  it("cloud-run-image-from-artifact-registry", async () => {
    expect(await messages("cloud-run-image-from-artifact-registry", [runService()])).toEqual([]);
    const hub = runService({
      template: { serviceAccount: "x@y.iam.gserviceaccount.com", containers: [{ image: "nginx:1.27" }] },
    });
    expect(await messages("cloud-run-image-from-artifact-registry", [hub])).toEqual([
      'Cloud Run service "api" container 0 pulls nginx:1.27 from Docker Hub (or an unqualified name); push it to Artifact Registry (allowed hosts: *-docker.pkg.dev) and deploy it by digest',
    ]);
  });

  it("cloud-run-image-pinned-by-digest", async () => {
    expect(await messages("cloud-run-image-pinned-by-digest", [runService()])).toEqual([]);
    const tagged = runService({
      template: { serviceAccount: "a@b.iam.gserviceaccount.com", containers: [{ image: `${AR}:${SHA}` }] },
    });
    expect(await messages("cloud-run-image-pinned-by-digest", [tagged])).toEqual([
      `Cloud Run service "api" container 0 runs "${AR}:${SHA}", a tag that can move (or be rebuilt for another platform); ` +
        "deploy the verified digest instead: <repo>@sha256:<64 hex> (ContainerImage.imageRef)",
    ]);
  });

  it("lambda-image-package-only", async () => {
    expect(await messages("lambda-image-package-only", [lambda()])).toEqual([]);
    const zip = lambda({ packageType: "Zip", imageUri: undefined, s3Bucket: "b", s3Key: "k.zip" });
    expect(await messages("lambda-image-package-only", [zip])).toEqual([
      'Lambda function "worker" has packageType "Zip": a zip deploy; set packageType: "Image" and imageUri to a verified ECR image by digest',
      'Lambda function "worker" sets s3Bucket, s3Key: a zip/source deploy; remove them and ship a container image ' +
        '(packageType: "Image", imageUri: <account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<digest>)',
    ]);
  });

  it("lambda-image-pinned-by-digest", async () => {
    expect(await messages("lambda-image-pinned-by-digest", [lambda()])).toEqual([]);
    expect(await messages("lambda-image-pinned-by-digest", [lambda({ imageUri: `${ECR}:latest` })])).toEqual([
      `Lambda function "worker" has imageUri "${ECR}:latest"; use an ECR image by digest: ` +
        "<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<64 hex> (ContainerImage.imageRef)",
    ]);
  });

  it("image-build-single-platform", async () => {
    expect(await messages("image-build-single-platform", [image()])).toEqual([]);
    expect(
      await messages("image-build-single-platform", [image({ platforms: ["linux/amd64", "linux/arm64"] })]),
    ).toEqual([
      'image build "worker-image" has 2 platforms (linux/amd64, linux/arm64), which makes a manifest list; set platforms to exactly one, e.g. ["linux/arm64"]',
    ]);
  });

  it("image-build-no-attestations", async () => {
    expect(await messages("image-build-no-attestations", [image()])).toEqual([]);
    expect(await messages("image-build-no-attestations", [image({ exec: true })])).toEqual([
      'image build "worker-image" has exec: true, which runs the docker CLI and turns BuildKit\'s default provenance attestation back on (an index, not a manifest); remove exec',
    ]);
  });

  it("image-build-no-attestations still checks what is known when a raw export is unknown (found on the real engine)", async () => {
    // The whole result, not only this rule's messages: the SDK turns a throwing read into an advisory
    // "can't run policy … during preview" that would hide the exec check.
    const result = await check([image({ exec: true, exports: [{ raw: UNKNOWN }] })]);
    expect(result.diagnostics.map((d) => [d.policyName, d.enforcementLevel, d.message])).toEqual([
      [
        "image-build-no-attestations",
        "mandatory",
        'image build "worker-image" has exec: true, which runs the docker CLI and turns BuildKit\'s default provenance attestation back on (an index, not a manifest); remove exec',
      ],
    ]);
  });

  it("image-build-commit-sha-tag: a push by digest is tagged with the commit by its verify step", async () => {
    const built = image();
    expect(await messages("image-build-commit-sha-tag", [built, verify(built)])).toEqual([]);
    expect(await messages("image-build-commit-sha-tag", [built])).toEqual([
      'image build "worker-image" pushes by digest and no verify step tags it with the commit (verify-image --tag <40-char commit sha>-<arch>-…); ContainerImage does this',
    ]);
    expect(await messages("image-build-commit-sha-tag", [built, verify(built, "latest")])).toEqual([
      'image build "worker-image" pushes by digest and no verify step tags it with the commit (verify-image --tag <40-char commit sha>-<arch>-…); ContainerImage does this',
    ]);
    const tagged = image({ tags: [`${ECR}:${SHA}-arm64-1a2b3c4d`] });
    expect(await messages("image-build-commit-sha-tag", [tagged, verify(tagged)])).toEqual([
      `image build "worker-image" pushes by digest but has tags (${ECR}:${SHA}-arm64-1a2b3c4d); BuildKit refuses that ("can't push tagged ref … by digest"): remove the tags and tag the verified digest instead`,
    ]);
  });

  it("image-build-commit-sha-tag: a tagged push carries the commit tag itself, never latest", async () => {
    const tagPush = (tags: string[]) => image({ push: true, exports: [], tags });
    expect(await messages("image-build-commit-sha-tag", [tagPush([`${ECR}:${SHA}-arm64`])])).toEqual([]);
    expect(await messages("image-build-commit-sha-tag", [tagPush([`${ECR}:latest`])])).toEqual([
      'image build "worker-image" pushes the tag latest, which moves and names no commit; tag it <40-char commit sha>-<arch>-… instead',
      'image build "worker-image" has no commit-SHA tag (tags: latest); add a tag that starts with the full 40-character commit SHA',
    ]);
  });

  it("lambda-architecture-matches-image", async () => {
    expect(await messages("lambda-architecture-matches-image", [image(), lambda()])).toEqual([]);
    expect(
      await messages("lambda-architecture-matches-image", [image(), lambda({ architectures: ["x86_64"] })]),
    ).toEqual([
      `Lambda function "worker" is x86_64 but its image ${ECR} is built for linux/arm64 ` +
        '(Lambda fails with "image manifest, config or layer media type … not supported"); derive architectures from the image platform (linux/arm64 → arm64)',
    ]);
  });

  it("registry-immutable-tags", async () => {
    const ecr = (props: Record<string, any>) =>
      res("aws:ecr/repository:Repository", "repo", {
        name: "team/worker",
        ...props,
      } satisfies aws.ecr.RepositoryArgs);
    const ar = (props: Record<string, any>) =>
      res("gcp:artifactregistry/repository:Repository", "images", {
        format: "DOCKER",
        repositoryId: "apps",
        ...props,
      } satisfies gcp.artifactregistry.RepositoryArgs);
    expect(
      await messages("registry-immutable-tags", [
        ecr({
          imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
          imageTagMutabilityExclusionFilters: [{ filter: "buildcache-*", filterType: "WILDCARD" }],
        }),
        ar({ dockerConfig: { immutableTags: true } }),
        ar({ labels: { "multicloud-deploy-role": "build-cache" } }),
      ]),
    ).toEqual([]);
    expect(
      await messages("registry-immutable-tags", [ecr({}), ar({ dockerConfig: { immutableTags: false } })]),
    ).toEqual([
      'ECR repository "repo" has imageTagMutability MUTABLE; set IMMUTABLE (or IMMUTABLE_WITH_EXCLUSION for the build-cache tag prefix only)',
      'Artifact Registry repository "images" allows tags to move; set dockerConfig.immutableTags: true (a build-cache repository is exempt when labelled multicloud-deploy-role: build-cache)',
    ]);
    expect(
      await messages("registry-immutable-tags", [
        ecr({
          imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
          imageTagMutabilityExclusionFilters: [{ filter: "*", filterType: "WILDCARD" }],
        }),
      ]),
    ).toEqual([
      'ECR repository "repo" lets commit tags move: the exclusion filter "*" matches tags like 3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-arm64-7e1f0a2b; exempt only the cache prefix, e.g. "buildcache-*"',
    ]);
  });

  it("ecr-scan-on-push is advisory", async () => {
    const repo = (scanOnPush: boolean) =>
      res("aws:ecr/repository:Repository", "repo", {
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush },
      } satisfies aws.ecr.RepositoryArgs);
    expect(await messages("ecr-scan-on-push", [repo(true)])).toEqual([]);
    const result = await check([repo(false)]);
    expect(result.diagnostics).toEqual([
      expect.objectContaining({
        policyName: "ecr-scan-on-push",
        enforcementLevel: "advisory",
        message:
          'ECR repository "repo" does not scan on push; set imageScanningConfiguration.scanOnPush: true',
      }),
    ]);
    expect(result.mandatory).toEqual([]);
  });

  it("no-plaintext-secrets-in-env", async () => {
    const env = (envs: gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[]) =>
      runService({
        template: {
          serviceAccount: "a@b.iam.gserviceaccount.com",
          containers: [{ image: `${AR}@${D}`, envs }],
        },
      });
    expect(
      await messages("no-plaintext-secrets-in-env", [
        env([
          { name: "API_KEY", valueSource: { secretKeyRef: { secret: "api-key", version: "3" } } },
          { name: "LOG_LEVEL", value: "debug" },
        ]),
        lambda({ environment: { variables: { DB_SECRET_ARN: SECRET_ARN, APP_VERSION: SHA } } }),
      ]),
    ).toEqual([]);
    expect(
      await messages("no-plaintext-secrets-in-env", [
        env([{ name: "API_KEY", value: "sk-live-123" }]),
        lambda({ environment: { variables: { DB_PASSWORD: "hunter2" } } }),
      ]),
    ).toEqual([
      'Cloud Run service "api" env API_KEY looks like a secret but is a plain value; use valueSource.secretKeyRef { secret, version } from Secret Manager',
      'Lambda function "worker" env DB_PASSWORD looks like a secret but is not a Secrets Manager ARN; store the value in Secrets Manager, pass its ARN and read it at run time',
    ]);
  });

  it("no-plaintext-secrets-in-env takes its name patterns and exemptions from pack config", async () => {
    const fn = lambda({ environment: { variables: { PUBLIC_KEY_ID: "k-1", DB_CREDENTIAL: "x" } } });
    const config = {
      "no-plaintext-secrets-in-env": { namePatterns: ["KEY", "CREDENTIAL"], allowNames: ["PUBLIC_KEY_ID"] },
    };
    expect(await messages("no-plaintext-secrets-in-env", [fn], config)).toEqual([
      'Lambda function "worker" env DB_CREDENTIAL looks like a secret but is not a Secrets Manager ARN; store the value in Secrets Manager, pass its ARN and read it at run time',
    ]);
  });

  it("cloud-run-dedicated-service-account", async () => {
    expect(await messages("cloud-run-dedicated-service-account", [runService()])).toEqual([]);
    const svc = runService({
      template: { serviceAccount: "123456789-compute@developer.gserviceaccount.com", containers: [] },
    });
    expect(await messages("cloud-run-dedicated-service-account", [svc])).toEqual([
      'Cloud Run service "api" runs as a default account (123456789-compute@developer.gserviceaccount.com, Editor on the project); create a dedicated service account with only the roles it needs',
    ]);
  });

  it("public-exposure-requires-opt-in: advisory by default, mandatory with the prod config", async () => {
    const grant = res("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "api-public-invoker", {
      name: "api",
      location: "us-central1",
      role: "roles/run.invoker",
      member: "allUsers",
    } satisfies gcp.cloudrunv2.ServiceIamMemberArgs);
    const url = res("aws:lambda/functionUrl:FunctionUrl", "worker-url", {
      functionName: "worker",
      qualifier: "live",
      authorizationType: "NONE",
    } satisfies aws.lambda.FunctionUrlArgs);
    expect(
      await messages("public-exposure-requires-opt-in", [
        runService({ labels: { exposure: "public" } }),
        grant,
        lambda({ tags: { exposure: "public" } }),
        url,
      ]),
    ).toEqual([]);
    const prodConfig = JSON.parse(
      fs.readFileSync(path.join(PROJECT_DIR, "policy/config.prod.json"), "utf8"),
    ) as PackConfig;
    const result = await check([runService(), grant, lambda(), url], prodConfig);
    // (These hand-made services have no pipeline steps: prod's image-signed-and-scanned reports them too.)
    const exposure = result.mandatory.filter((d) => d.policyName === "public-exposure-requires-opt-in");
    expect(exposure.map((d) => d.message)).toEqual([
      '"api-public-invoker" grants allUsers invoke on Cloud Run service "api", which is not labelled exposure: public; declare the service public (exposure: public) or grant named members only',
      'function URL "worker-url" has authorizationType NONE on Lambda function "worker", which is not tagged exposure: public; use AWS_IAM, or declare the function public (exposure: public)',
    ]);
    const staging = await check([runService(), grant]);
    expect(staging.diagnostics.map((d) => [d.policyName, d.enforcementLevel])).toEqual([
      ["public-exposure-requires-opt-in", "advisory"],
    ]);
  });
});

describe("the catalog of source deploys and unsafe images", () => {
  const catalog: Array<[string, PolicyInput[], string]> = [
    [
      "Cloud Run buildConfig (gcloud run deploy --source)",
      [runService({ buildConfig: { functionTarget: "handler" } })],
      "cloud-run-no-source-deploy",
    ],
    [
      "Cloud Run container sourceCode",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [
              { image: `${AR}@${D}`, sourceCode: { cloudStorageSource: { bucket: "b", object: "o" } } },
            ],
          },
        }),
      ],
      "cloud-run-no-source-deploy",
    ],
    [
      "Cloud Run baseImageUri (automatic base updates)",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [
              {
                image: `${AR}@${D}`,
                baseImageUri: "us-central1-docker.pkg.dev/serverless-runtimes/google-22/runtimes/nodejs22",
              },
            ],
          },
        }),
      ],
      "cloud-run-no-source-deploy",
    ],
    [
      "Cloud Run job running a source-deploy image (the typed fixture refuses a job buildConfig or baseImageUri: the SDK has neither)",
      [
        res("gcp:cloudrunv2/job:Job", "batch", {
          location: "us-central1",
          template: {
            template: {
              serviceAccount: "a@b.iam.gserviceaccount.com",
              containers: [{ image: `us-central1-docker.pkg.dev/acme/cloud-run-source-deploy/batch@${D}` }],
            },
          },
        } satisfies gcp.cloudrunv2.JobArgs),
      ],
      "cloud-run-no-source-deploy",
    ],
    [
      "Cloud Run v1 source-build annotation",
      [
        res("gcp:cloudrun/service:Service", "legacy", {
          location: "us-central1",
          metadata: { annotations: { "run.googleapis.com/build-source-location": "gs://b/src.zip" } },
          template: { spec: { serviceAccountName: "a@b", containers: [{ image: `${AR}@${D}` }] } },
        } satisfies gcp.cloudrun.ServiceArgs),
      ],
      "cloud-run-no-source-deploy",
    ],
    [
      "cloud-run-source-deploy repository",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [{ image: `us-central1-docker.pkg.dev/acme/cloud-run-source-deploy/api@${D}` }],
          },
        }),
      ],
      "cloud-run-no-source-deploy",
    ],
    [
      "gcr.io image",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [{ image: `gcr.io/acme/api@${D}` }],
          },
        }),
      ],
      "cloud-run-image-from-artifact-registry",
    ],
    [
      "Docker Hub image",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [{ image: `library/node@${D}` }],
          },
        }),
      ],
      "cloud-run-image-from-artifact-registry",
    ],
    [
      ":latest on Cloud Run",
      [
        runService({
          template: {
            serviceAccount: "a@b.iam.gserviceaccount.com",
            containers: [{ image: `${AR}:latest` }],
          },
        }),
      ],
      "cloud-run-image-pinned-by-digest",
    ],
    [
      "SHA tag without digest on Lambda",
      [lambda({ imageUri: `${ECR}:${SHA}` })],
      "lambda-image-pinned-by-digest",
    ],
    [
      "Lambda zip from an S3 object (the typed fixture refuses `filename`: the SDK has no such input)",
      [lambda({ packageType: "Zip", imageUri: undefined, s3Bucket: "artifacts", s3Key: "worker.zip" })],
      "lambda-image-package-only",
    ],
    [
      "Lambda zip from an archive (code)",
      [
        lambda({
          packageType: undefined,
          imageUri: undefined,
          code: { "4dabf18193072939515e22adb298388d": "0def7320c3a5731c473e5ecbe6d01bc7", path: "dist" },
        }),
      ],
      "lambda-image-package-only",
    ],
    [
      "Lambda zip from S3",
      [lambda({ packageType: "Zip", imageUri: undefined, s3Bucket: "artifacts", s3Key: "worker.zip" })],
      "lambda-image-package-only",
    ],
    ["two platforms", [image({ platforms: ["linux/amd64", "linux/arm64"] })], "image-build-single-platform"],
    ["exec: true (provenance back on)", [image({ exec: true })], "image-build-no-attestations"],
    [
      "BUILDKIT_MULTI_PLATFORM build arg",
      [image({ buildArgs: { BUILDKIT_MULTI_PLATFORM: "1" } })],
      "image-build-no-attestations",
    ],
    [
      "latest tag pushed",
      [image({ push: true, exports: [], tags: [`${ECR}:latest`] })],
      "image-build-commit-sha-tag",
    ],
    [
      "a push by digest with tags (BuildKit refuses it)",
      [image({ tags: [`${ECR}:${SHA}-arm64`] })],
      "image-build-commit-sha-tag",
    ],
    [
      "arm64 image on an x86_64 function (seed 001)",
      [image(), lambda({ architectures: ["x86_64"] })],
      "lambda-architecture-matches-image",
    ],
  ];

  it.each(catalog)("blocks %s", async (_what, resources, policy) => {
    const result = await check(resources);
    expect(result.mandatory.map((d) => d.policyName)).toContain(policy);
  });

  it("has at least 12 variants", () => {
    expect(catalog.length).toBeGreaterThanOrEqual(12);
  });
});

/** A recorded resource as if it did not depend on `urn`, neither directly nor through any input. */
function withoutDependency(r: RecordedResource, urn: string): RecordedResource {
  return {
    ...r,
    dependencies: r.dependencies.filter((u) => u !== urn),
    propertyDependencies: Object.fromEntries(
      Object.entries(r.propertyDependencies).map(([k, urns]) => [k, urns.filter((u) => u !== urn)]),
    ),
  };
}

describe("the project's own stacks", () => {
  let staging: ProgramRun;
  let preview: ProgramRun;
  let prod: ProgramRun;
  beforeAll(async () => {
    staging = await runProgram({ stack: "staging", commit: SHA });
    preview = await runProgram({ stack: "staging", commit: SHA, preview: true });
    prod = await runProgram({
      stack: "prod",
      commit: SHA,
      stackOutputs: { "acme/multicloud-deploy/staging": staging.outputs },
    });
  }, 60_000);

  const configFor = (stack: string) =>
    JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, `policy/config.${stack}.json`), "utf8")) as PackConfig;

  it("raise no violation at all, in update and preview, under their pack configs", async () => {
    for (const [run, stack] of [
      [staging, "staging"],
      [preview, "staging"],
      [prod, "prod"],
    ] as const) {
      const result = await evaluateRun(run, {
        policies,
        config: configFor(stack),
        packEnforcementLevel: "mandatory",
      });
      expect(result.diagnostics, `${stack}${run.preview ? " preview" : ""}`).toEqual([]);
    }
  });

  it("prove during preview, through property dependencies, that services will run a verified build", async () => {
    // The digest really is unknown in the preview run ...
    const svc = byName(preview, "gcp:cloudrunv2/service:Service", "api");
    expect(svc.rawInputs.template.containers[0].image).toBe(UNKNOWN);
    expect(byName(preview, "aws:lambda/function:Function", "worker").rawInputs.imageUri).toBe(UNKNOWN);
    // ... and a service whose image does not follow the verification is reported, not waved through.
    const verify = byName(preview, "command:local:Command", "api-verify");
    const tampered = preview.resources.map((r) => (r.urn === svc.urn ? withoutDependency(r, verify.urn) : r));
    const result = await evaluateRun(
      { ...preview, resources: tampered },
      { policies, packEnforcementLevel: "mandatory" },
    );
    expect(result.mandatory).toEqual([
      expect.objectContaining({
        policyName: "cloud-run-image-pinned-by-digest",
        message:
          'Cloud Run service "api" container 0: its template is unknown until the update and does not depend on a verify-image Command; make the image reference depend on the verification (ContainerImage.imageRef does)',
      }),
    ]);

    // An image reference that follows a verification of something no docker-build image produced.
    const built = byName(preview, "docker-build:index:Image", "api-image");
    const unbuilt = preview.resources.map((r) =>
      r.urn === svc.urn || r.urn === verify.urn ? withoutDependency(r, built.urn) : r,
    );
    const second = await evaluateRun(
      { ...preview, resources: unbuilt },
      { policies, packEnforcementLevel: "mandatory" },
    );
    expect(second.mandatory.map((d) => d.message)).toEqual([
      'Cloud Run service "api" container 0: its template is unknown until the update and comes from no docker-build image (or promotion copy) that its verify step follows; deploy a docker-build image\'s digest through ContainerImage.imageRef',
      // Detached from its verification, the build has no commit tag either.
      'image build "api-image" pushes by digest and no verify step tags it with the commit (verify-image --tag <40-char commit sha>-<arch>-…); ContainerImage does this',
    ]);
  });
});

describe("pack config", () => {
  it("the example configs name only real policies and settings their schemas declare", () => {
    const byName = new Map(policies.map((p) => [p.name, p]));
    for (const stack of ["staging", "prod"]) {
      const config = JSON.parse(
        fs.readFileSync(path.join(PROJECT_DIR, `policy/config.${stack}.json`), "utf8"),
      ) as Record<string, unknown>;
      for (const [key, value] of Object.entries(config)) {
        if (key === "all") continue;
        const policy = byName.get(key);
        expect(policy, `policy/config.${stack}.json: ${key}`).toBeDefined();
        if (typeof value === "object" && value !== null) {
          const declared = Object.keys(policy!.configSchema?.properties ?? {});
          for (const setting of Object.keys(value)) {
            if (setting !== "enforcementLevel") expect(declared, `${key}.${setting}`).toContain(setting);
          }
        }
      }
    }
  });

  it("the schemas' defaults are the defaults the rules apply", () => {
    for (const [name, defaults] of Object.entries(DEFAULTS)) {
      const props = policies.find((p) => p.name === name)!.configSchema!.properties;
      for (const [key, value] of Object.entries(defaults))
        expect(props[key]?.default, `${name}.${key}`).toEqual(value);
    }
  });

  it("an allow-list in config admits another registry", async () => {
    const svc = runService({
      template: {
        serviceAccount: "a@b.iam.gserviceaccount.com",
        containers: [{ image: `registry.internal.example/api@${D}` }],
      },
    });
    expect(await messages("cloud-run-image-from-artifact-registry", [svc])).toHaveLength(1);
    expect(
      await messages("cloud-run-image-from-artifact-registry", [svc], {
        "cloud-run-image-from-artifact-registry": {
          allowedHosts: ["*-docker.pkg.dev", "registry.internal.example"],
        },
      }),
    ).toEqual([]);
  });
});

describe("lambda-traffic-through-alias", () => {
  const url = (qualifier?: string) =>
    res("aws:lambda/functionUrl:FunctionUrl", "worker-url", {
      functionName: "worker",
      authorizationType: "AWS_IAM",
      ...(qualifier === undefined ? {} : { qualifier }),
    } satisfies aws.lambda.FunctionUrlArgs);
  const permission = (action: string, qualifier?: string) =>
    res("aws:lambda/permission:Permission", "worker-url-public", {
      function: "worker",
      action,
      principal: "*",
      ...(qualifier === undefined ? {} : { qualifier }),
    } satisfies aws.lambda.PermissionArgs);

  it.each([
    [
      "an unqualified URL",
      url(),
      'function URL "worker-url" targets the unqualified function, which serves $LATEST: new code takes this traffic before any health gate. Set qualifier to the function\'s live alias',
    ],
    [
      "a URL on $LATEST",
      url("$LATEST"),
      'function URL "worker-url" targets $LATEST, not an alias: releases cannot move its traffic behind a health gate. Set qualifier to the function\'s live alias',
    ],
    [
      "an invoke permission on a fixed version",
      permission("lambda:InvokeFunction", "7"),
      'Lambda permission "worker-url-public" targets version 7, not an alias: releases cannot move its traffic behind a health gate. Set qualifier to the function\'s live alias',
    ],
  ])("refuses %s", async (_, resource, message) => {
    expect(await messages("lambda-traffic-through-alias", [resource])).toEqual([message]);
  });

  it("passes a URL and invoke permissions on an alias, and permissions that carry no traffic", async () => {
    expect(
      await messages("lambda-traffic-through-alias", [
        url("live"),
        permission("lambda:InvokeFunctionUrl", "live"),
        permission("lambda:GetFunction"),
      ]),
    ).toEqual([]);
  });
});
