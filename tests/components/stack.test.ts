/** The program's staging and prod stacks under the mocks: what each component registers and how it is wired. */
import { beforeAll, describe, expect, it } from "vitest";
import { planNotes } from "../../scripts/plan-report";
import { byName, dependsOn, ofType, runProgram, type ProgramRun } from "../harness/run";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const env = { ...process.env, GITHUB_SHA: SHA };
let staging: ProgramRun;
let prod: ProgramRun;

beforeAll(async () => {
  staging = await runProgram({ stack: "staging", env, overrides: { commitSha: SHA } });
  prod = await runProgram({
    stack: "prod",
    env,
    stackOutputs: { "acme/multicloud-deploy/staging": staging.outputs },
  });
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
      Condition: { StringLike: { "aws:sourceArn": "arn:aws:lambda:us-east-1:123456789012:function:*" } },
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

describe("CloudRunService", () => {
  it("runs the verified image by digest and depends on the verification", () => {
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const verify = byName(staging, "command:local:Command", "api-verify");
    expect(svc.inputs.template.containers[0].image).toMatch(
      /^us-central1-docker\.pkg\.dev\/acme-apps-staging\/apps\/api@sha256:[0-9a-f]{64}$/,
    );
    expect(svc.dependencies).toContain(verify.urn);
    expect(svc.inputs).not.toHaveProperty("buildConfig");
    expect(svc.inputs.template.containers[0]).not.toHaveProperty("sourceCode");
  });

  it("runs as a dedicated service account that may read exactly its secrets, granted before the service", () => {
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const sa = byName(staging, "gcp:serviceaccount/account:Account", "api-sa");
    expect(svc.inputs.template.serviceAccount).toBe(sa.outputs.email);
    const grants = ofType(staging, "gcp:secretmanager/secretIamMember:SecretIamMember");
    expect(grants.map((g) => [g.inputs.secretId, g.inputs.role, g.inputs.member])).toEqual([
      ["api-key", "roles/secretmanager.secretAccessor", `serviceAccount:${sa.outputs.email}`],
    ]);
    expect(svc.dependencies).toContain(grants[0].urn);
  });

  it("sets NODE_ENV, APP_VERSION and secret references, never secret values", () => {
    const envs = byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].envs;
    expect(envs).toEqual([
      { name: "NODE_ENV", value: "staging" },
      { name: "APP_VERSION", value: SHA },
      { name: "LOG_LEVEL", value: "debug" },
      { name: "API_KEY", valueSource: { secretKeyRef: { secret: "api-key", version: "latest" } } },
    ]);
    expect(
      byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].envs[3].valueSource
        .secretKeyRef.version,
    ).toBe("3");
  });

  it("probes the health path at startup and while live", () => {
    const c = byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0];
    expect(c.startupProbe.httpGet).toEqual({ path: "/health", port: 8080 });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/health", port: 8080 });
  });

  it("grants allUsers only to public services and the configured members to private ones", async () => {
    expect(
      ofType(staging, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember").map((g) => g.inputs.member),
    ).toEqual(["allUsers"]);
    const run = await runProgram({
      stack: "staging",
      env,
      overrides: {
        services: {
          api: { exposure: "private", invokers: ["serviceAccount:caller@acme.iam.gserviceaccount.com"] },
        },
      },
    });
    const grants = ofType(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember");
    expect(grants.map((g) => [g.name, g.inputs.member])).toEqual([
      [
        "api-invoker-serviceaccount-caller-acme-iam-gserviceaccount-com",
        "serviceAccount:caller@acme.iam.gserviceaccount.com",
      ],
    ]);
    expect(ofType(run, "command:local:Command").map((c) => c.name)).not.toContain("api-health");
  });

  it("has deletion protection in prod only", () => {
    expect(byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(true);
    expect(byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(false);
  });

  it("runs the health gate after the service and again on each new revision", () => {
    const gate = byName(staging, "command:local:Command", "api-health");
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    expect(gate.dependencies).toContain(svc.urn);
    expect(gate.inputs.triggers).toEqual([svc.outputs.latestReadyRevision]);
    expect(gate.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/health-check.ts ${svc.outputs.uri}/health --expect healthy --attempts 10`,
    );
  });

  it("skips the health gate of a private service and says so in the plan", async () => {
    const run = await runProgram({
      stack: "staging",
      env,
      overrides: { services: { api: { exposure: "private" } } },
    });
    expect(run.resources.find((r) => r.name === "api-health")).toBeUndefined();
    expect(run.logs).toContainEqual({
      severity: "info",
      message:
        "health gate skipped: api is private and the gate sends no identity token; check /health with `gcloud run services proxy` or make a health check an invoker",
    });
    expect(planNotes(run)).toEqual([
      "Cloud Run service api: no health gate (private service, or healthGate: false); Cloud Run's startup probe still guards each revision",
    ]);
    expect(planNotes(staging)).toEqual([]);
  });
});

describe("LambdaFunction", () => {
  it("ships an image by digest, never a zip, with the architecture of its image", () => {
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    expect(fn.inputs.packageType).toBe("Image");
    expect(fn.inputs.imageUri).toMatch(
      /^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/multicloud-deploy-staging\/worker@sha256:[0-9a-f]{64}$/,
    );
    for (const key of ["code", "s3Bucket", "s3Key", "filename"]) expect(fn.inputs).not.toHaveProperty(key);
    expect(fn.inputs.architectures).toEqual(["arm64"]);
    expect(fn.dependencies).toContain(byName(staging, "command:local:Command", "worker-verify").urn);
  });

  it("derives x86_64 from a linux/amd64 image", async () => {
    const run = await runProgram({
      stack: "staging",
      env,
      overrides: { services: { worker: { architecture: undefined, platform: "linux/amd64" } } },
    });
    expect(byName(run, "aws:lambda/function:Function", "worker").inputs.architectures).toEqual(["x86_64"]);
    expect(byName(run, "docker-build:index:Image", "worker-image").inputs.platforms).toEqual(["linux/amd64"]);
  });

  it("has a role Lambda can assume with only the basic execution policy and its own secrets", () => {
    const trust = JSON.parse(byName(staging, "aws:iam/role:Role", "worker-role").inputs.assumeRolePolicy);
    expect(trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
    expect(
      ofType(staging, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.policyArn),
    ).toEqual(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]);
    const policy = JSON.parse(
      byName(staging, "aws:iam/rolePolicy:RolePolicy", "worker-secrets").inputs.policy,
    );
    expect(policy.Statement).toEqual([
      {
        Sid: "ReadOwnSecrets",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: ["arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf"],
      },
    ]);
    const vars = byName(staging, "aws:lambda/function:Function", "worker").inputs.environment.variables;
    expect(vars).toMatchObject({
      APP_VERSION: SHA,
      NODE_ENV: "staging",
      DB_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf",
    });
  });

  it("creates its log group first, with the stack's retention and JSON logs", () => {
    const logs = byName(staging, "aws:cloudwatch/logGroup:LogGroup", "worker-logs");
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    expect(logs.inputs).toMatchObject({ name: "/aws/lambda/worker", retentionInDays: 30 });
    expect(byName(prod, "aws:cloudwatch/logGroup:LogGroup", "worker-logs").inputs.retentionInDays).toBe(90);
    expect(fn.dependencies).toContain(logs.urn);
    expect(fn.inputs.loggingConfig).toEqual({ logFormat: "JSON", logGroup: "/aws/lambda/worker" });
  });

  it("uses AWS_IAM URL auth unless the function is public", async () => {
    expect(byName(staging, "aws:lambda/functionUrl:FunctionUrl", "worker-url").inputs.authorizationType).toBe(
      "AWS_IAM",
    );
    const run = await runProgram({
      stack: "staging",
      env,
      overrides: { services: { worker: { exposure: "public" } } },
    });
    expect(byName(run, "aws:lambda/functionUrl:FunctionUrl", "worker-url").inputs.authorizationType).toBe(
      "NONE",
    );
  });

  it("smoke-tests every new image by invocation, and a public URL over HTTP as well", async () => {
    const smoke = byName(staging, "aws:lambda/invocation:Invocation", "worker-health");
    expect(JSON.parse(smoke.inputs.input)).toEqual({ healthCheck: true, path: "/health" });
    expect(smoke.inputs.triggers).toEqual({
      imageUri: byName(staging, "aws:lambda/function:Function", "worker").inputs.imageUri,
    });
    // The staging URL is AWS_IAM: an unsigned GET could never pass, so there is no HTTP gate.
    expect(staging.resources.find((r) => r.name === "worker-url-health")).toBeUndefined();

    const run = await runProgram({
      stack: "staging",
      env,
      overrides: { services: { worker: { exposure: "public" } } },
    });
    const gate = byName(run, "command:local:Command", "worker-url-health");
    const url = byName(run, "aws:lambda/functionUrl:FunctionUrl", "worker-url");
    expect(gate.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/health-check.ts ${url.outputs.functionUrl.replace(/\/$/, "")}/health --expect healthy --attempts 10`,
    );
    for (const dep of [url, byName(run, "aws:lambda/permission:Permission", "worker-url-public")]) {
      expect(gate.dependencies).toContain(dep.urn);
    }
  });
});

describe("promotion", () => {
  it("prod builds nothing: it copies staging's verified digest into its own registry, verifies it there and deploys it", () => {
    expect(ofType(prod, "docker-build:index:Image")).toEqual([]);
    const { digest, tag } = staging.outputs.images.api;
    const promote = byName(prod, "command:local:Command", "api-promote");
    const verify = byName(prod, "command:local:Command", "api-verify");
    expect(promote.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/promote-image.ts us-central1-docker.pkg.dev/acme-apps-staging/apps/api@${digest} ` +
        "us-central1-docker.pkg.dev/acme-apps-prod/apps/api",
    );
    expect(verify.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/verify-image.ts us-central1-docker.pkg.dev/acme-apps-prod/apps/api@${digest} --platform linux/amd64 --tag ${tag}`,
    );
    expect(verify.dependencies).toContain(promote.urn);
    const svc = byName(prod, "gcp:cloudrunv2/service:Service", "api");
    expect(svc.inputs.template.containers[0].image).toBe(
      `us-central1-docker.pkg.dev/acme-apps-prod/apps/api@${digest}`,
    );
    expect(svc.dependencies).toContain(verify.urn);
    expect(byName(prod, "aws:lambda/function:Function", "worker").inputs.imageUri).toBe(
      `123456789012.dkr.ecr.us-east-1.amazonaws.com/multicloud-deploy-prod/worker@${staging.outputs.images.worker.digest}`,
    );
  });

  it("passes both registries' credentials to the copy as secrets, never on the command line", () => {
    const promote = byName(prod, "command:local:Command", "worker-promote");
    expect(Object.keys(promote.rawInputs.environment).sort()).toEqual([
      "REGISTRY_PASSWORD",
      "REGISTRY_USERNAME",
      "SOURCE_REGISTRY_PASSWORD",
      "SOURCE_REGISTRY_USERNAME",
    ]);
    expect(promote.rawInputs.environment.SOURCE_REGISTRY_PASSWORD).toMatchObject({
      value: "mock-ecr-password",
    });
    expect(promote.rawInputs.environment.REGISTRY_PASSWORD).toMatchObject({ value: "mock-ecr-password" });
    expect(promote.inputs.create).not.toContain("mock-ecr-password");
  });

  it("prod has no build cache repository and exports the same digests under the same names", () => {
    expect(ofType(prod, "gcp:artifactregistry/repository:Repository").map((r) => r.name)).toEqual([
      "images-repo",
    ]);
    for (const svc of ["api", "worker"]) {
      const { digest, tag, platform, commitSha } = staging.outputs.images[svc];
      expect(prod.outputs.images[svc]).toMatchObject({ digest, tag, platform, commitSha, verified: true });
    }
  });

  it("refuses to promote images of another commit on update, and only warns in a preview", async () => {
    const other = "f".repeat(40);
    const stackOutputs = { "acme/multicloud-deploy/staging": staging.outputs };
    const otherEnv = { ...env, GITHUB_SHA: other };
    await expect(runProgram({ stack: "prod", env: otherEnv, stackOutputs })).rejects.toThrow(
      `stack acme/multicloud-deploy/staging output images.api.commitSha is ${SHA} but this update deploys commit ${other}`,
    );
    const preview = await runProgram({ stack: "prod", env: otherEnv, stackOutputs, preview: true });
    expect(byName(preview, "gcp:cloudrunv2/service:Service", "api")).toBeDefined();
    expect(preview.logs).toContainEqual({
      severity: "warning",
      message:
        `api: acme/multicloud-deploy/staging runs commit ${SHA}, this preview is at ${other}; ` +
        "an update at this commit would be refused until that stack runs it",
    });
  });

  it("rolls a service back to an earlier digest from prod's own registry, whatever staging runs", async () => {
    const earlier = {
      digest: `sha256:${"e".repeat(64)}`,
      tag: `${"e".repeat(40)}-amd64-0badc0de`,
      commitSha: "e".repeat(40),
    };
    const run = await runProgram({
      stack: "prod",
      env,
      overrides: { rollback: { api: earlier } },
      // Staging no longer needs to export api at all.
      stackOutputs: {
        "acme/multicloud-deploy/staging": { images: { worker: staging.outputs.images.worker } },
      },
    });
    const repo = "us-central1-docker.pkg.dev/acme-apps-prod/apps/api";
    expect(byName(run, "command:local:Command", "api-promote").inputs.create).toBe(
      `node_modules/.bin/tsx scripts/promote-image.ts ${repo}@${earlier.digest} ${repo}`,
    );
    expect(byName(run, "command:local:Command", "api-verify").inputs.create).toContain(
      `--tag ${earlier.tag}`,
    );
    expect(byName(run, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].image).toBe(
      `${repo}@${earlier.digest}`,
    );
    expect(run.outputs.images.api).toMatchObject({ digest: earlier.digest, commitSha: earlier.commitSha });
    expect(run.outputs.images.worker.digest).toBe(staging.outputs.images.worker.digest);
    expect(run.logs.filter((l) => l.severity === "warning").map((l) => l.message)).toEqual([
      `api: rolled back to ${earlier.commitSha} (${earlier.digest}) by multicloud-deploy:rollback; remove the key once the fix is deployed`,
    ]);
  });

  it("stops before registering anything but the reference when staging's outputs are missing or malformed", async () => {
    const images = { api: { ...staging.outputs.images.api, digest: "latest" } };
    const run = runProgram({
      stack: "prod",
      env,
      stackOutputs: { "acme/multicloud-deploy/staging": { ...staging.outputs, images } },
    });
    await expect(run).rejects.toThrow(
      "cannot promote from acme/multicloud-deploy/staging: 2 problems (nothing was deployed)\n" +
        '  - stack acme/multicloud-deploy/staging output images.api.digest: expected a manifest digest "sha256:<64 hex>"\n' +
        "  - stack acme/multicloud-deploy/staging output images.worker is missing: deploy worker to acme/multicloud-deploy/staging first, or remove it from this stack",
    );
  });
});

describe("config errors", () => {
  it("stop the program before any resource is registered, naming file and key", async () => {
    await expect(
      runProgram({ stack: "staging", env, overrides: { services: { api: { memory: "lots" } } } }),
    ).rejects.toThrow(
      'Pulumi.staging.yaml: multicloud-deploy:services.api.memory: expected Cloud Run memory like "512Mi", got "lots"',
    );
  });
});
