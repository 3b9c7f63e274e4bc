/**
 * Issue 14's red-team classes, each with attacks and their legitimate look-alikes. Fixtures are typed
 * with the providers' own *Args, so they carry only properties the engine can send.
 */
import type * as aws from "@pulumi/aws";
import type * as awsNative from "@pulumi/aws-native";
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import type * as dockerbuild from "@pulumi/docker-build";
import type * as gcp from "@pulumi/gcp";
import { describe, expect, it } from "vitest";
import { buildPlatforms, credentialKind, goBool, policies, parseVerifyCommandLine } from "../../policy/rules";
import { evaluatePolicies, type PolicyInput } from "../../plan/policy";
import { SOURCE_DEPLOY_ANNOTATIONS } from "../../policy/rules/source-deploys";

const D = `sha256:${"ab".repeat(32)}`;
const SHA = "0123456789abcdef0123456789abcdef01234567";
const AR = "us-central1-docker.pkg.dev/acme/apps/api";
const ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/worker";
let n = 0;
const res = (type: string, name: string, props: object, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  type,
  name,
  urn: `urn:pulumi:test::p::${type}::${name}-${n++}`,
  props: props as Record<string, unknown>,
  ...extra,
});
const image = (props: Partial<dockerbuild.ImageArgs>) =>
  res("docker-build:index:Image", "img", {
    platforms: ["linux/arm64"],
    push: false,
    exports: [{ raw: `type=registry,name=${ECR},push-by-digest=true` }],
    ...props,
  } satisfies dockerbuild.ImageArgs);
const verify = (built: PolicyInput, create: string) =>
  res(
    "command:local:Command",
    "img-verify",
    { create, environment: { MULTICLOUD_DEPLOY_STEP: "verify-image" } } satisfies command.local.CommandArgs,
    { dependencies: [built.urn] },
  );
const run = (
  containers: gcp.types.input.cloudrunv2.ServiceTemplateContainer[],
  serviceAccount = "api-run@acme.iam.gserviceaccount.com",
) =>
  res("gcp:cloudrunv2/service:Service", "api", {
    location: "us-central1",
    name: "api",
    labels: { exposure: "private" },
    template: { serviceAccount, containers },
  } satisfies gcp.cloudrunv2.ServiceArgs);
const fn = (variables: Record<string, string>) =>
  res("aws:lambda/function:Function", "worker", {
    name: "worker",
    packageType: "Image",
    imageUri: `${ECR}@${D}`,
    architectures: ["arm64"],
    role: "arn:aws:iam::123456789012:role/worker",
    environment: { variables },
    tags: { exposure: "private" },
  } satisfies aws.lambda.FunctionArgs);
const ecr = (filters: string[]) =>
  res("aws:ecr/repository:Repository", "repo", {
    name: "team/worker",
    imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
    imageTagMutabilityExclusionFilters: filters.map((filter) => ({ filter, filterType: "WILDCARD" })),
    imageScanningConfiguration: { scanOnPush: true },
  } satisfies aws.ecr.RepositoryArgs);

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's preview sentinel

/** A Cloud Run service as a preview sees it: `containers` unknown, or one container whose image is. */
const previewService = (template: string[], containers: unknown = [{ image: UNKNOWN }]) =>
  res(
    "gcp:cloudrunv2/service:Service",
    "api",
    {
      location: "us-central1",
      name: "api",
      labels: { exposure: "private" },
      template: { serviceAccount: "a@b.iam.gserviceaccount.com", containers },
    },
    { propertyDependencies: { template } },
  );

async function fired(resources: PolicyInput[], rule: string): Promise<string[]> {
  const result = await evaluatePolicies(
    { inputs: resources, state: resources },
    { policies, packEnforcementLevel: "mandatory" },
  );
  return result.diagnostics.filter((d) => d.policyName === rule).map((d) => d.message);
}

describe("class 3: values are read the way the real tools read them", () => {
  it.each([
    ["TRUE", true],
    ["t", true],
    ["1", true],
    ["FALSE", false],
    ["f", false],
    ["0", false],
    ["yes", undefined],
    ["", undefined],
  ] as const)("BUILDKIT_MULTI_PLATFORM=%j is Go's ParseBool %s", (value, expected) => {
    expect(goBool(value)).toBe(expected);
  });

  it.each(["TRUE", "t", "1", "on"])(
    "blocks BUILDKIT_MULTI_PLATFORM=%s (true, or nothing BuildKit accepts)",
    async (value) => {
      expect(
        await fired(
          [image({ buildArgs: { BUILDKIT_MULTI_PLATFORM: value } })],
          "image-build-no-attestations",
        ),
      ).toHaveLength(1);
    },
  );

  it.each(["FALSE", "f", "0"])(
    "lets BUILDKIT_MULTI_PLATFORM=%s through: it turns multi-platform off",
    async (value) => {
      expect(
        await fired(
          [image({ buildArgs: { BUILDKIT_MULTI_PLATFORM: value } })],
          "image-build-no-attestations",
        ),
      ).toEqual([]);
    },
  );

  it("counts platforms as buildx does, splitting entries on commas", async () => {
    expect(buildPlatforms(["linux/amd64,linux/arm64"])).toEqual(["linux/amd64", "linux/arm64"]);
    expect(
      await fired(
        [image({ platforms: ["linux/amd64,linux/arm64" as dockerbuild.Platform] })],
        "image-build-single-platform",
      ),
    ).toEqual([
      'image build "img" has 2 platforms (linux/amd64, linux/arm64), which makes a manifest list; set platforms to exactly one, e.g. ["linux/arm64"]',
    ]);
    expect(
      await fired(
        [image({ platforms: [" linux/arm64 " as dockerbuild.Platform] })],
        "image-build-single-platform",
      ),
    ).toEqual([]);
  });

  it("reads verify-image flags as --flag value and --flag=value, in any order", () => {
    const forms = [
      `tsx scripts/verify-image.ts ${ECR}@${D} --platform linux/arm64 --tag ${SHA}-arm64-1`,
      `tsx scripts/verify-image.ts --tag=${SHA}-arm64-1 --platform=linux/arm64 ${ECR}@${D}`,
      `tsx scripts/verify-image.ts --platform linux/arm64 ${ECR}@${D} --tag ${SHA}-arm64-1`,
    ];
    for (const f of forms) {
      expect(parseVerifyCommandLine(f), f).toEqual({
        ref: `${ECR}@${D}`,
        platform: "linux/arm64",
        tag: `${SHA}-arm64-1`,
      });
    }
  });

  it("follows a reordered verify step for the Lambda architecture check, and for the commit tag", async () => {
    const built = image({});
    const reordered = verify(
      built,
      `tsx scripts/verify-image.ts --platform=linux/amd64 --tag=${SHA}-amd64-1 ${ECR}@${D}`,
    );
    // The verify step says amd64 for the arm64 function's repository: the reordered flags are read.
    const arch = await fired([built, reordered, fn({})], "lambda-architecture-matches-image");
    expect(arch).toHaveLength(1);
    expect(arch[0]).toContain("is built for linux/amd64");
    expect(await fired([built, reordered], "image-build-commit-sha-tag")).toEqual([]);
  });

  it.each(["*", "*-*", "*arm64*", "3f*", "*-dirty-*"])(
    "blocks an ECR exclusion filter %j that lets commit tags move",
    async (filter) => {
      expect(await fired([ecr([filter])], "registry-immutable-tags")).toHaveLength(1);
    },
  );

  it.each(["buildcache-*", "cache-*", "buildcache-worker-arm64"])(
    "lets the cache filter %j through",
    async (filter) => {
      expect(await fired([ecr([filter])], "registry-immutable-tags")).toEqual([]);
    },
  );

  it("takes a push from exports image.push and raw type=registry too, for the commit tag", async () => {
    const viaImage = image({ exports: [{ image: { names: [ECR], push: true, pushByDigest: true } }] });
    const viaRaw = image({ exports: [{ raw: `type=registry,name=${ECR},push-by-digest=true` }] });
    const cacheOnly = image({ exports: [{ cacheonly: {} }] });
    expect(await fired([viaImage], "image-build-commit-sha-tag")).toHaveLength(1);
    expect(await fired([viaRaw], "image-build-commit-sha-tag")).toHaveLength(1);
    expect(await fired([cacheOnly], "image-build-commit-sha-tag")).toEqual([]);
  });

  it("treats the App Engine default account as a default account", async () => {
    expect(
      await fired(
        [run([{ image: `${AR}@${D}` }], "acme-prod@appspot.gserviceaccount.com")],
        "cloud-run-dedicated-service-account",
      ),
    ).toHaveLength(1);
    expect(
      await fired(
        [run([{ image: `${AR}@${D}` }], "api-run@acme-prod.iam.gserviceaccount.com")],
        "cloud-run-dedicated-service-account",
      ),
    ).toEqual([]);
  });

  it.each([
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf\nPASSWORD=hunter2",
    "xarn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
    "arn:aws:secretsmanager:us-east-1:1234:secret:db",
  ])("anchors the Secrets Manager ARN check: %j is not one", async (value) => {
    expect(await fired([fn({ DB_SECRET_ARN: value })], "no-plaintext-secrets-in-env")).toHaveLength(1);
  });

  it.each([
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
    "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf",
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:db-AbCdEf",
  ])("accepts a real Secrets Manager ARN %j", async (value) => {
    expect(await fired([fn({ DB_SECRET_ARN: value })], "no-plaintext-secrets-in-env")).toEqual([]);
  });
});

describe("class 7: secret values, not just secret names", () => {
  const values: Array<[string, string]> = [
    ["postgres://app:s3cr3t-pw@db.internal:5432/app", "a URL with a user name and password"],
    ["-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----", "a PEM block"],
    ["AKIAIOSFODNN7EXAMPLE", "an AWS access key id"],
    [`ghp_${"a1B2".repeat(9)}`, "a GitHub token"],
    [`xoxb-${"1234567890".repeat(2)}-abc`, "a Slack token"],
    [`sk_live_${"x".repeat(24)}`, "a Stripe live key"],
  ];

  it.each(values)("flags %j under an innocent name, without quoting it", async (value, kind) => {
    expect(credentialKind(value)).toBe(kind);
    for (const r of [
      run([{ image: `${AR}@${D}`, envs: [{ name: "DATABASE", value }] }]),
      fn({ DATABASE: value }),
    ]) {
      const messages = await fired([r], "no-plaintext-secrets-in-env");
      expect(messages).toHaveLength(1);
      expect(messages[0]).toContain(`env DATABASE holds ${kind} in plain text`);
      // No part of the value is echoed.
      expect(messages[0]).not.toContain(value.slice(0, 6));
    }
  });

  it.each([
    ["https://api.example.com/v1", "a URL without credentials"],
    ["postgres://db.internal:5432/app", "a connection string without a password"],
    ["AKIA-not-a-key", "a look-alike prefix"],
    ["ghp_", "a bare prefix"],
    ["info", "a log level"],
  ])("lets %j (%s) through", async (value) => {
    expect(credentialKind(value)).toBeUndefined();
    expect(await fired([fn({ DATABASE_URL_HOST: value })], "no-plaintext-secrets-in-env")).toEqual([]);
  });

  it("keeps the allow-list for a name that must stay plain", async () => {
    const r = fn({ PUBLIC_KEY_ID: "k-1" });
    const result = await evaluatePolicies(
      { inputs: [r], state: [r] },
      {
        policies,
        packEnforcementLevel: "mandatory",
        config: { "no-plaintext-secrets-in-env": { allowNames: ["PUBLIC_KEY_ID"] } },
      },
    );
    expect(result.diagnostics).toEqual([]);
    expect(await fired([r], "no-plaintext-secrets-in-env")).toHaveLength(1);
  });

  it("never quotes a value in a name-based finding either", async () => {
    const messages = await fired([fn({ DB_PASSWORD: "hunter2-very-secret" })], "no-plaintext-secrets-in-env");
    expect(messages).toHaveLength(1);
    expect(messages[0]).not.toContain("hunter");
  });
});

describe("class 6 (and the IAM shapes of class 2): public exposure by the service's identity", () => {
  const service = (name: string, location: string, exposure: string, project = "acme") =>
    res("gcp:cloudrunv2/service:Service", `${name}-${location}`, {
      project,
      location,
      name,
      labels: { exposure },
      template: {
        serviceAccount: "api-run@acme.iam.gserviceaccount.com",
        containers: [{ image: `${AR}@${D}` }],
      },
    } satisfies gcp.cloudrunv2.ServiceArgs);
  const member = (name: string, location: string, project = "acme") =>
    res("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", `grant-${location}`, {
      project,
      location,
      name,
      role: "roles/run.invoker",
      member: "allUsers",
    } satisfies gcp.cloudrunv2.ServiceIamMemberArgs);
  const RULE = "public-exposure-requires-opt-in";

  it("blocks allUsers on the private service of two that share a name in two regions", async () => {
    const resources = [
      service("api", "us-central1", "public"),
      service("api", "europe-west1", "private"),
      member("api", "europe-west1"),
    ];
    expect(await fired(resources, RULE)).toEqual([
      '"grant-europe-west1" grants allUsers invoke on Cloud Run service "api-europe-west1", which is not labelled exposure: public; declare the service public (exposure: public) or grant named members only',
    ]);
  });

  it("lets allUsers through on the public one of the two", async () => {
    const resources = [
      service("api", "us-central1", "public"),
      service("api", "europe-west1", "private"),
      member("api", "us-central1"),
    ];
    expect(await fired(resources, RULE)).toEqual([]);
  });

  it("tells projects apart too, and reads a full resource path as the name", async () => {
    const resources = [
      service("api", "us-central1", "public", "acme-a"),
      service("api", "us-central1", "private", "acme-b"),
      member("projects/acme-b/locations/us-central1/services/api", "us-central1", "acme-b"),
    ];
    expect(await fired(resources, RULE)).toHaveLength(1);
  });

  it("blocks invokerIamDisabled (public with no grant at all) unless labelled public", async () => {
    const open = (exposure: string) =>
      res("gcp:cloudrunv2/service:Service", "api", {
        location: "us-central1",
        name: "api",
        invokerIamDisabled: true,
        labels: { exposure },
        template: {
          serviceAccount: "api-run@acme.iam.gserviceaccount.com",
          containers: [{ image: `${AR}@${D}` }],
        },
      } satisfies gcp.cloudrunv2.ServiceArgs);
    expect(await fired([open("private")], RULE)).toHaveLength(1);
    expect(await fired([open("public")], RULE)).toEqual([]);
  });

  it("reads public members from policies and bindings, v2 and v1", async () => {
    const policyData = JSON.stringify({
      bindings: [{ role: "roles/run.invoker", members: ["allAuthenticatedUsers"] }],
    });
    const grants = [
      res("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", "p2", {
        location: "us-central1",
        name: "api",
        policyData,
      } satisfies gcp.cloudrunv2.ServiceIamPolicyArgs),
      res("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", "b2", {
        location: "us-central1",
        name: "api",
        role: "roles/run.invoker",
        members: ["allUsers"],
      } satisfies gcp.cloudrunv2.ServiceIamBindingArgs),
      res("gcp:cloudrun/iamPolicy:IamPolicy", "p1", {
        location: "us-central1",
        service: "api",
        policyData,
      } satisfies gcp.cloudrun.IamPolicyArgs),
      res("gcp:cloudrun/iamBinding:IamBinding", "b1", {
        location: "us-central1",
        service: "api",
        role: "roles/run.invoker",
        members: ["allUsers"],
      } satisfies gcp.cloudrun.IamBindingArgs),
    ];
    const privateSvc = service("api", "us-central1", "private");
    expect(await fired([privateSvc, ...grants], RULE)).toHaveLength(4);
    expect(await fired([service("api", "us-central1", "public"), ...grants], RULE)).toEqual([]);
    // A policy that grants a named member only is fine.
    const named = res("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", "p", {
      location: "us-central1",
      name: "api",
      policyData: JSON.stringify({
        bindings: [{ role: "roles/run.invoker", members: ["user:ops@acme.com"] }],
      }),
    } satisfies gcp.cloudrunv2.ServiceIamPolicyArgs);
    expect(await fired([privateSvc, named], RULE)).toEqual([]);
  });
});

describe("class 5: an unknown value defers one resource's check, never the rule", () => {
  const built = () => image({});
  const verifyOf = (b: PolicyInput) =>
    verify(b, `tsx scripts/verify-image.ts ${ECR}@${D} --platform linux/arm64 --tag ${SHA}-arm64-1`);

  it("an unknown container list still owes the proof: through the template's dependencies", async () => {
    const b = built();
    const v = verifyOf(b);
    const svc = (deps: string[]) => previewService(deps, UNKNOWN);
    expect(await fired([b, v, svc([b.urn, v.urn])], "cloud-run-image-pinned-by-digest")).toEqual([]);
    const unproven = await fired([b, v, svc([])], "cloud-run-image-pinned-by-digest");
    expect(unproven).toHaveLength(1);
    expect(unproven[0]).toContain("does not depend on a verify-image Command");
  });

  it("a Lambda function with an unknown packageType does not stop the digest check of the next one", async () => {
    const unknownType = res("aws:lambda/function:Function", "first", {
      name: "first",
      packageType: UNKNOWN,
      imageUri: `${ECR}@${D}`,
      tags: { exposure: "private" },
    });
    const tagged = fn({});
    tagged.props = { ...tagged.props, imageUri: `${ECR}:v1` };
    const result = await evaluatePolicies(
      { inputs: [unknownType, tagged], state: [unknownType, tagged] },
      { policies, packEnforcementLevel: "mandatory" },
    );
    const pinned = result.diagnostics.filter((d) => d.policyName === "lambda-image-pinned-by-digest");
    expect(pinned.map((d) => [d.enforcementLevel, d.message.split(";")[0]])).toEqual([
      ["mandatory", `Lambda function "worker" has imageUri "${ECR}:v1"`],
    ]);
  });

  it("a function URL with an unknown auth type does not hide a public grant on a private service", async () => {
    const svc = res("gcp:cloudrunv2/service:Service", "api", {
      location: "us-central1",
      name: "api",
      labels: { exposure: "private" },
      template: { serviceAccount: "a@b.iam.gserviceaccount.com", containers: [{ image: `${AR}@${D}` }] },
    });
    const unknownGrant = res("aws:lambda/functionUrl:FunctionUrl", "unknown", {
      functionName: "worker",
      authorizationType: UNKNOWN,
    });
    const publicGrant = res("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "open", {
      location: "us-central1",
      name: "api",
      role: "roles/run.invoker",
      member: "allUsers",
    });
    const result = await evaluatePolicies(
      { inputs: [svc, unknownGrant, publicGrant], state: [svc, unknownGrant, publicGrant] },
      { policies, packEnforcementLevel: "mandatory" },
    );
    const exposure = result.diagnostics.filter((d) => d.policyName === "public-exposure-requires-opt-in");
    expect(exposure.map((d) => d.message)).toEqual([
      '"open" grants allUsers invoke on Cloud Run service "api", which is not labelled exposure: public; declare the service public (exposure: public) or grant named members only',
    ]);
  });
});

describe("class 2: other resource types reach the same outcome", () => {
  it("blocks a v1 Cloud Run service with a source build, automatic base-image updates, a default account or a plain secret", async () => {
    const v1 = (
      annotations: Record<string, string>,
      spec: Partial<gcp.types.input.cloudrun.ServiceTemplateSpec>,
    ) =>
      res("gcp:cloudrun/service:Service", "legacy", {
        location: "us-central1",
        name: "legacy",
        metadata: { labels: { exposure: "private" } },
        template: {
          metadata: { annotations },
          spec: {
            containers: [{ image: `${AR}@${D}` }],
            serviceAccountName: "legacy-run@acme.iam.gserviceaccount.com",
            ...spec,
          },
        },
      } satisfies gcp.cloudrun.ServiceArgs);
    expect(
      await fired(
        [v1({ "run.googleapis.com/source-location": "gs://b/src.zip" }, {})],
        "cloud-run-no-source-deploy",
      ),
    ).toHaveLength(1);
    expect(
      await fired(
        [
          v1(
            {
              "run.googleapis.com/base-images":
                '{"":"us-docker.pkg.dev/serverless-runtimes/google-22/runtimes/nodejs22"}',
            },
            {},
          ),
        ],
        "cloud-run-no-source-deploy",
      ),
    ).toHaveLength(1);
    // Every key gcloud writes for a source deploy (issue 21: the list is read from gcloud's source).
    for (const key of SOURCE_DEPLOY_ANNOTATIONS) {
      expect(await fired([v1({ [key]: "x" }, {})], "cloud-run-no-source-deploy"), key).toHaveLength(1);
    }
    expect(
      await fired([v1({ "run.googleapis.com/client-name": "gcloud" }, {})], "cloud-run-no-source-deploy"),
    ).toEqual([]);
    expect(
      await fired(
        [v1({}, { serviceAccountName: "123456789012-compute@developer.gserviceaccount.com" })],
        "cloud-run-dedicated-service-account",
      ),
    ).toHaveLength(1);
    expect(
      await fired(
        [v1({}, { containers: [{ image: `${AR}@${D}`, envs: [{ name: "API_KEY", value: "k" }] }] })],
        "no-plaintext-secrets-in-env",
      ),
    ).toHaveLength(1);
    // The legitimate v1 service: digest image, dedicated account, secret from Secret Manager.
    const ok = v1(
      { "autoscaling.knative.dev/maxScale": "3" },
      {
        containers: [
          {
            image: `${AR}@${D}`,
            envs: [{ name: "API_KEY", valueFrom: { secretKeyRef: { name: "api-key", key: "3" } } }],
          },
        ],
      },
    );
    for (const rule of [
      "cloud-run-no-source-deploy",
      "cloud-run-dedicated-service-account",
      "no-plaintext-secrets-in-env",
    ]) {
      expect(await fired([ok], rule), rule).toEqual([]);
    }
  });

  it("checks Cloud Run jobs and worker pools like services", async () => {
    const job = res("gcp:cloudrunv2/job:Job", "batch", {
      location: "us-central1",
      template: { template: { containers: [{ image: "docker.io/library/busybox:latest" }] } },
    } satisfies gcp.cloudrunv2.JobArgs);
    const pool = res("gcp:cloudrunv2/workerPool:WorkerPool", "pool", {
      location: "us-central1",
      template: { containers: [{ image: `${AR}@${D}`, envs: [{ name: "DB_PASSWORD", value: "x" }] }] },
    } satisfies gcp.cloudrunv2.WorkerPoolArgs);
    expect(await fired([job], "cloud-run-image-from-artifact-registry")).toHaveLength(1);
    expect(await fired([job], "cloud-run-dedicated-service-account")).toHaveLength(1);
    expect(await fired([pool], "no-plaintext-secrets-in-env")).toHaveLength(1);
    expect(await fired([pool], "cloud-run-dedicated-service-account")).toHaveLength(1);
  });

  it("blocks Cloud Functions v2 (always a source build)", async () => {
    const fn2 = res("gcp:cloudfunctionsv2/function:Function", "hook", {
      location: "us-central1",
      buildConfig: {
        runtime: "nodejs22",
        entryPoint: "handler",
        source: { storageSource: { bucket: "b", object: "src.zip" } },
      },
    } satisfies gcp.cloudfunctionsv2.FunctionArgs);
    expect(await fired([fn2], "cloud-run-no-source-deploy")).toEqual([
      `Cloud Function "hook" is built from source by Cloud Build (buildConfig); build the image with @pulumi/docker-build (one platform), verify it and deploy \`repo@sha256:<digest>\` and run it on Cloud Run`,
    ]);
  });

  it("checks aws-native Lambda functions: zip code blocked, an image by digest passes, a tag does not", async () => {
    const native = (props: Partial<awsNative.lambda.FunctionArgs>) =>
      res("aws-native:lambda:Function", "native", {
        role: "arn:aws:iam::123456789012:role/worker",
        code: {},
        ...props,
      } satisfies awsNative.lambda.FunctionArgs);
    expect(
      await fired(
        [native({ packageType: "Zip", code: { s3Bucket: "b", s3Key: "w.zip" } })],
        "lambda-image-package-only",
      ),
    ).toHaveLength(2);
    expect(
      await fired(
        [native({ packageType: "Image", code: { imageUri: `${ECR}@${D}` } })],
        "lambda-image-package-only",
      ),
    ).toEqual([]);
    expect(
      await fired(
        [native({ packageType: "Image", code: { imageUri: `${ECR}@${D}` } })],
        "lambda-image-pinned-by-digest",
      ),
    ).toEqual([]);
    expect(
      await fired(
        [native({ packageType: "Image", code: { imageUri: `${ECR}:v1` } })],
        "lambda-image-pinned-by-digest",
      ),
    ).toHaveLength(1);
  });

  it("blocks the classic @pulumi/docker Image and RegistryImage, and a docker-build Index", async () => {
    const classic = res("docker:index/image:Image", "old", {
      imageName: `${ECR}:v1`,
      build: { context: "apps/api", platform: "linux/amd64" },
    } satisfies docker.ImageArgs);
    const registryImage = res("docker:index/registryImage:RegistryImage", "push", {
      name: `${ECR}:v1`,
    } satisfies docker.RegistryImageArgs);
    const index = res("docker-build:index:Index", "list", {
      tag: `${ECR}:v1`,
      sources: [`${ECR}@${D}`, `${ECR}@sha256:${"cd".repeat(32)}`],
    } satisfies dockerbuild.IndexArgs);
    expect(await fired([classic], "image-build-no-attestations")).toHaveLength(1);
    expect(await fired([registryImage], "image-build-no-attestations")).toHaveLength(1);
    expect(await fired([index], "image-build-single-platform")).toHaveLength(1);
  });

  it("checks ECR repository creation templates (repositories created on push) for tag immutability", async () => {
    const template = (imageTagMutability: string, filters: string[] = []) =>
      res("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "on-push", {
        prefix: "apps",
        appliedFors: ["CREATE_ON_PUSH"],
        imageTagMutability,
        imageTagMutabilityExclusionFilters: filters.map((filter) => ({ filter, filterType: "WILDCARD" })),
      } satisfies aws.ecr.RepositoryCreationTemplateArgs);
    expect(await fired([template("MUTABLE")], "registry-immutable-tags")).toHaveLength(1);
    expect(
      await fired([template("IMMUTABLE_WITH_EXCLUSION", ["*-*"])], "registry-immutable-tags"),
    ).toHaveLength(1);
    expect(await fired([template("IMMUTABLE")], "registry-immutable-tags")).toEqual([]);
    expect(
      await fired([template("IMMUTABLE_WITH_EXCLUSION", ["buildcache-*"])], "registry-immutable-tags"),
    ).toEqual([]);
  });
});

describe("class 4: a verification is the verification of this image", () => {
  const RULE = "cloud-run-image-pinned-by-digest";

  it("accepts the ContainerImage wiring: the reference follows a build that its marked verify step follows", async () => {
    const b = image({});
    const v = verify(
      b,
      `tsx scripts/verify-image.ts ${ECR}@${D} --platform linux/arm64 --tag ${SHA}-arm64-1`,
    );
    expect(await fired([b, v, previewService([b.urn, v.urn])], RULE)).toEqual([]);
  });

  it("refuses a Command that only looks like a verify step (text and name, no marker)", async () => {
    const b = image({});
    const lookalike = res(
      "command:local:Command",
      "api-verify",
      { create: `echo verify-image ${ECR}@${D} --platform linux/arm64` } satisfies command.local.CommandArgs,
      { dependencies: [b.urn] },
    );
    const messages = await fired([b, lookalike, previewService([b.urn, lookalike.urn])], RULE);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("does not depend on a verify-image Command");
  });

  it("refuses a real verify step of another build next to the one the service runs", async () => {
    const deployed = image({});
    const other = image({});
    const v = verify(
      other,
      `tsx scripts/verify-image.ts ${ECR}@${D} --platform linux/arm64 --tag ${SHA}-arm64-1`,
    );
    const messages = await fired([deployed, other, v, previewService([deployed.urn, v.urn])], RULE);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("that its verify step follows");
  });

  it("refuses a known digest whose verify step checked another digest", async () => {
    const b = image({});
    const v = verify(b, `tsx scripts/verify-image.ts ${AR}@sha256:${"ef".repeat(32)} --platform linux/amd64`);
    const svc = res(
      "gcp:cloudrunv2/service:Service",
      "api",
      {
        location: "us-central1",
        name: "api",
        labels: { exposure: "private" },
        template: { serviceAccount: "a@b.iam.gserviceaccount.com", containers: [{ image: `${AR}@${D}` }] },
      } satisfies gcp.cloudrunv2.ServiceArgs,
      { propertyDependencies: { template: [b.urn, v.urn] } },
    );
    const messages = await fired([b, v, svc], RULE);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain(
      `depends on verify steps that checked ${AR}@sha256:${"ef".repeat(32)}, not this image`,
    );
    // The same service with the step that checked its own digest is clean.
    const good = verify(b, `tsx scripts/verify-image.ts ${AR}@${D} --platform linux/amd64`);
    const svcGood = { ...svc, propertyDependencies: { template: [b.urn, good.urn] } };
    expect(await fired([b, good, svcGood], RULE)).toEqual([]);
  });
});

describe("what already worked keeps working: legitimate configurations stay clean", () => {
  const service = (image: string) =>
    res("gcp:cloudrunv2/service:Service", "api", {
      location: "us-central1",
      name: "api",
      labels: { exposure: "private" },
      template: { serviceAccount: "api-run@acme.iam.gserviceaccount.com", containers: [{ image }] },
    } satisfies gcp.cloudrunv2.ServiceArgs);
  const clean = async (resources: PolicyInput[], config?: Record<string, unknown>) => {
    const result = await evaluatePolicies(
      { inputs: resources, state: resources },
      { policies, packEnforcementLevel: "mandatory", config: config as never },
    );
    return result.diagnostics.map((d) => `${d.policyName}: ${d.message}`);
  };

  it.each([
    `us-central1-docker.pkg.dev/acme/apps/api@${D}`,
    `us-docker.pkg.dev/acme/apps/api@${D}`,
    `europe-docker.pkg.dev/acme/apps/api@${D}`,
    `us-central1-docker.pkg.dev/acme/apps/api:${SHA}-amd64-1@${D}`,
  ])("a Cloud Run image %s (regional, multi-region, tag@digest)", async (image) => {
    expect(await clean([service(image)])).toEqual([]);
  });

  it("a digest-pinned public image allowed by config", async () => {
    const config = {
      "cloud-run-image-from-artifact-registry": { allowedHosts: ["*-docker.pkg.dev", "docker.io"] },
    };
    expect(await clean([service(`docker.io/library/nginx@${D}`)], config)).toEqual([]);
    expect(await clean([service(`docker.io/library/nginx@${D}`)])).toHaveLength(1);
  });

  it.each([
    `${ECR}@${D}`,
    `123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/worker@${D}`,
    `${ECR}:${SHA}-arm64-1@${D}`,
  ])("a Lambda image %s (ECR, ECR in aws-cn, tag@digest)", async (imageUri) => {
    const f = fn({});
    f.props = { ...f.props, imageUri };
    expect(await clean([f])).toEqual([]);
  });
});
