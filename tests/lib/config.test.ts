/** Config validation: each bad input and the exact error users see. */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CommitInfo } from "../../lib/commit";
import { ConfigError } from "../../lib/errors";
import { parseStackConfig, type ParseContext, type RawStackConfig } from "../../lib/config/parse";
import { AWS_SDK_CORE_VERSION } from "../../lib/config/regions";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const clean: CommitInfo = { sha: SHA, source: "git", dirty: false, timestamp: 1700000000, notes: [] };

function raw(project: Record<string, unknown> = {}): RawStackConfig {
  return {
    project: {
      services: JSON.stringify({
        api: { target: "cloudrun", context: "apps/api" },
        worker: { target: "lambda", context: "apps/worker" },
      }),
      ...project,
    },
    providers: { "gcp:project": "acme-staging", "gcp:region": "us-central1", "aws:region": "us-east-1" },
  };
}

/** Parses as stack prod in /project, where every path exists and the work tree is clean, unless overridden. */
function parse(r: RawStackConfig, ctx: Partial<ParseContext> = {}) {
  return parseStackConfig(r, {
    stack: "prod",
    file: "Pulumi.prod.yaml",
    projectDir: "/project",
    resolveCommit: () => clean,
    exists: () => true,
    ...ctx,
  });
}

function problemsOf(r: RawStackConfig, ctx?: Partial<ParseContext>): readonly string[] {
  try {
    parse(r, ctx);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const svc = (api: Record<string, unknown>) => JSON.stringify({ api });
/** A P-256 public key in PEM, as `gcloud kms keys versions get-public-key` gives one. */
const pem = () =>
  generateKeyPairSync("ec", { namedCurve: "P-256" })
    .publicKey.export({ type: "spki", format: "pem" })
    .toString();
/** What every promoting stack carries: the source stack's public keys. */
const KEYS = JSON.stringify({ gcp: pem(), aws: pem() });
const F = "Pulumi.prod.yaml: multicloud-deploy:";

describe("parseStackConfig rejects", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    [
      "Cloud Run memory that is not a quantity",
      { services: svc({ target: "cloudrun", context: "a", memory: "lots" }) },
      `${F}services.api.memory: expected Cloud Run memory like "512Mi", got "lots"`,
    ],
    [
      "a rollback of a service that does not exist, with a suggestion",
      {
        services: svc({ target: "cloudrun", context: "a" }),
        rollback: { apj: { digest: `sha256:${"a".repeat(64)}`, tag: "t", commitSha: "b".repeat(40) } },
      },
      `${F}rollback.apj: no service named "apj"; did you mean "api"? Remove it, or roll back a configured service`,
    ],
    [
      "a rollback to a tag instead of a digest",
      {
        services: svc({ target: "cloudrun", context: "a" }),
        rollback: { api: { digest: "latest", tag: "t", commitSha: "b".repeat(40) } },
      },
      `${F}rollback.api.digest: expected a manifest digest "sha256:<64 hex>", got "latest"`,
    ],
    [
      "a health-check account that is not a service account email",
      {
        services: svc({ target: "cloudrun", context: "a", healthGateServiceAccount: "user:me@example.com" }),
      },
      `${F}services.api.healthGateServiceAccount: expected a service account email like health-check@my-project.iam.gserviceaccount.com, got "user:me@example.com"`,
    ],
    [
      "a health gate that would never try, or wait longer than its limit",
      { services: svc({ target: "cloudrun", context: "a", healthGateRetry: { attempts: 0 } }) },
      `${F}services.api.healthGateRetry.attempts: expected a whole number from 1 to 30, got 0`,
    ],
    [
      "a health gate key that does not exist",
      { services: svc({ target: "lambda", context: "a", healthGateRetry: { retries: 3 } }) },
      `${F}services.api.healthGateRetry.retries: unknown key`,
    ],
    [
      "a traffic analysis threshold outside its limits",
      {
        services: svc({
          target: "cloudrun",
          context: "a",
          rollout: { steps: [10], analysis: { maxErrorRate: 5 } },
        }),
      },
      `${F}services.api.rollout.analysis.maxErrorRate: expected a number from 0 to 1, got 5`,
    ],
    [
      "a traffic analysis that neither holds nor passes with too few requests",
      {
        services: svc({
          target: "lambda",
          context: "a",
          rollout: { steps: [10], analysis: { tooFewRequests: "wait" } },
        }),
      },
      `${F}services.api.rollout.analysis.tooFewRequests: expected "hold" (wait for requests, then return traffic) or "pass", got "wait"`,
    ],
    [
      "a traffic analysis key that does not exist",
      {
        services: svc({
          target: "cloudrun",
          context: "a",
          rollout: { steps: [10], analysis: { minRequest: 5 } },
        }),
      },
      `${F}services.api.rollout.analysis.minRequest: unknown key; did you mean "minRequests"?`,
    ],
    [
      "a traffic analysis that is neither false nor settings",
      { services: svc({ target: "cloudrun", context: "a", rollout: { steps: [10], analysis: true } }) },
      `${F}services.api.rollout.analysis: expected false or { maxErrorRate, maxP99LatencyMs, minRequests, tooFewRequests, maxHoldSeconds, delaySeconds }, got true`,
    ],
    [
      "an unknown target",
      { services: svc({ target: "ecs", context: "a" }) },
      `${F}services.api.target: expected "cloudrun" or "lambda", got "ecs"`,
    ],
    [
      "a typo in a service key, with a suggestion",
      { services: svc({ target: "cloudrun", context: "a", memroy: "1Gi" }) },
      `${F}services.api.memroy: unknown key; did you mean "memory"?`,
    ],
    [
      "an unknown top-level key",
      { deletionProtecton: "true" },
      `${F}deletionProtecton: unknown key; did you mean "deletionProtection"?`,
    ],
    [
      "arm64 for Cloud Run",
      { services: svc({ target: "cloudrun", context: "a", platform: "linux/arm64" }) },
      `${F}services.api.platform: expected "linux/amd64": Cloud Run runs x86_64 images only, got "linux/arm64"`,
    ],
    [
      "a Lambda platform that contradicts its architecture",
      { services: svc({ target: "lambda", context: "a", platform: "linux/amd64", architecture: "arm64" }) },
      `${F}services.api: platform "linux/amd64" builds x86_64 images but architecture is "arm64"; set only one of them (the other is derived), e.g. architecture: "arm64"`,
    ],
    [
      "Lambda memory above 10240 MB",
      { services: svc({ target: "lambda", context: "a", memory: 20000 }) },
      `${F}services.api.memory: expected Lambda memory in MB, 128-10240, got 20000`,
    ],
    [
      "a Lambda timeout above 900 s",
      { services: svc({ target: "lambda", context: "a", timeoutSeconds: 901 }) },
      `${F}services.api.timeoutSeconds: expected a Lambda timeout in seconds, 1-900, got 901`,
    ],
    [
      "an uppercase service name",
      { services: JSON.stringify({ Api: { target: "cloudrun", context: "a" } }) },
      `${F}services.Api: service name "Api" must be 1-63 lowercase letters, digits or "-", start with a letter and not end with "-" (valid for both Cloud Run and Lambda)`,
    ],
    [
      "a service name longer than 63 characters",
      { services: JSON.stringify({ ["a".repeat(64)]: { target: "cloudrun", context: "a" } }) },
      `${F}services.${"a".repeat(64)}: service name "${"a".repeat(64)}" must be 1-63`,
    ],
    [
      "`latest` secret versions where versions must be pinned",
      {
        services: svc({
          target: "cloudrun",
          context: "a",
          secrets: { API_KEY: { secret: "api-key", version: "latest" } },
        }),
      },
      `${F}services.api.secrets.API_KEY.version: this stack must pin a numeric secret version (requirePinnedSecretVersions), got "latest"; set e.g. "3"`,
    ],
    [
      "a secret-looking plain env var",
      { services: svc({ target: "cloudrun", context: "a", env: { API_TOKEN: "abcdef" } }) },
      `${F}services.api.env.API_TOKEN: API_TOKEN looks like a secret but is a plain value (6 characters, not shown); move it to secrets (a Secret Manager reference)`,
    ],
    [
      "a build arg that looks like a secret (build args are stored in the image history)",
      { services: svc({ target: "cloudrun", context: "a", buildArgs: { NPM_TOKEN: "t" } }) },
      `${F}services.api.buildArgs.NPM_TOKEN: NPM_TOKEN looks like a secret, and build args are stored in the image's history for anyone who can pull it; remove it (a secret the build needs must not end up in the image)`,
    ],
    [
      "an env var the program sets itself",
      { services: svc({ target: "cloudrun", context: "a", env: { APP_VERSION: "1" } }) },
      `${F}services.api.env.APP_VERSION: APP_VERSION is set by this program; remove it from env`,
    ],
    [
      "minInstances above maxInstances",
      { services: svc({ target: "cloudrun", context: "a", minInstances: 5, maxInstances: 2 }) },
      `${F}services.api.minInstances: minInstances (5) is greater than maxInstances (2)`,
    ],
    [
      "allUsers in a private service's invokers",
      { services: svc({ target: "cloudrun", context: "a", invokers: ["allUsers"] }) },
      `${F}services.api.invokers[0]: "allUsers" would make the service public; set exposure: public instead`,
    ],
    [
      "a public Lambda without a URL",
      { services: svc({ target: "lambda", context: "a", exposure: "public" }) },
      `${F}services.api.exposure: a public Lambda needs a function URL to be reached; set functionUrl: true or exposure: private`,
    ],
    [
      "a boolean that is not a boolean",
      { allowDirtyBuilds: "yes" },
      `${F}allowDirtyBuilds: expected true or false, got "yes"`,
    ],
    [
      "a log retention CloudWatch does not offer",
      { logRetentionDays: "31" },
      `${F}logRetentionDays: expected a CloudWatch Logs retention in days, one of 1, 3, 5`,
    ],
    [
      "a malformed promoteFrom",
      { promoteFrom: "staging" },
      `${F}promoteFrom: expected a fully qualified stack name like acme/multicloud-deploy/staging, got "staging"`,
    ],
    [
      "a missing build context",
      { services: svc({ target: "cloudrun" }) },
      `${F}services.api.context: expected a build context directory relative to the project directory, got nothing`,
    ],
    [
      "a build context outside the project",
      { services: svc({ target: "cloudrun", context: "../elsewhere" }) },
      `${F}services.api.context: expected a build context directory inside the project directory (no absolute path, no ".."), got "../elsewhere"`,
    ],
    [
      "a malformed Secrets Manager ARN",
      {
        services: svc({
          target: "lambda",
          context: "a",
          secrets: { DB_SECRET_ARN: { secret: "arn:aws:s3:::bucket" } },
        }),
      },
      `${F}services.api.secrets.DB_SECRET_ARN.secret: expected a Secrets Manager secret ARN`,
    ],
    [
      "a functionName override over Lambda's 64 characters",
      { services: svc({ target: "lambda", context: "a", functionName: "f".repeat(65) }) },
      `${F}services.api.functionName: the function name "${"f".repeat(65)}" has 65 characters; Lambda allows 64. Set a shorter functionName`,
    ],
    [
      "a functionName whose execution role name would pass IAM's 64 characters",
      { services: svc({ target: "lambda", context: "a", functionName: "f".repeat(60) }) },
      `${F}services.api.functionName: the execution role name "${"f".repeat(60)}-role" has 65 characters; IAM allows 64. Set a functionName of at most 59 characters`,
    ],
    [
      "a functionName with characters Lambda refuses",
      { services: svc({ target: "lambda", context: "a", functionName: "acme.worker" }) },
      `${F}services.api.functionName: expected a Lambda function name: letters, digits, "-" and "_" only, got "acme.worker"`,
    ],
    [
      "an image consumer that is not an account id",
      { imageConsumers: { awsAccounts: ["prod"] } },
      `${F}imageConsumers.awsAccounts[0]: expected a 12-digit AWS account id like "222222222222", got "prod"`,
    ],
    [
      "an image consumer that is not an IAM member",
      { imageConsumers: { gcpMembers: ["deployer@acme-prod.iam.gserviceaccount.com"] } },
      `${F}imageConsumers.gcpMembers[0]: expected an IAM member like "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com", got "deployer@acme-prod.iam.gserviceaccount.com"`,
    ],
  ];
  it.each([
    [
      45,
      (n: string) =>
        `the function name "multicloud-deploy-prod-${n}" has 68 characters; Lambda allows 64. Set a shorter functionName`,
    ],
    [
      40,
      (n: string) =>
        `the execution role name "multicloud-deploy-prod-${n}-role" has 68 characters; IAM allows 64. Set a functionName of at most 59 characters`,
    ],
  ])(
    "names derived from the stack and a %i-character service name, when AWS would refuse them",
    (length, message) => {
      const name = "w".repeat(length);
      const problems = problemsOf({
        ...raw(),
        project: { services: JSON.stringify({ [name]: { target: "lambda", context: "a" } }) },
      });
      expect(problems).toEqual([`${F}services.${name}: ${message(name)}`]);
    },
  );

  it("never repeats any part of a secret-looking value", () => {
    const problems = problemsOf(
      raw({ services: svc({ target: "cloudrun", context: "a", env: { API_TOKEN: "sk-live-9f8e7d" } }) }),
    );
    expect(problems.join("\n")).not.toMatch(/sk-|9f8e/);
  });

  it("does not invent a pinning error from another key's mistake: the stack's own requirePinnedSecretVersions applies", () => {
    const problems = problemsOf(
      raw({
        logRetentionDays: "45",
        requirePinnedSecretVersions: "false",
        services: svc({
          target: "cloudrun",
          context: "a",
          secrets: { API_KEY: { secret: "api-key", version: "latest" } },
        }),
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^Pulumi\.prod\.yaml: multicloud-deploy:logRetentionDays: /);
  });

  it("still reports the pinning error when the stack asks for pins, next to another key's mistake", () => {
    const problems = problemsOf(
      raw({
        logRetentionDays: "45",
        services: svc({
          target: "cloudrun",
          context: "a",
          secrets: { API_KEY: { secret: "api-key", version: "latest" } },
        }),
      }),
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^Pulumi\.prod\.yaml: multicloud-deploy:logRetentionDays: /);
    expect(problems[1]).toMatch(
      /multicloud-deploy:services\.api\.secrets\.API_KEY\.version: this stack must pin/,
    );
  });

  it.each(cases)("%s", (_name, project, expected) => {
    const problems = problemsOf(raw(project));
    expect(
      problems.some((p) => p.startsWith(expected)),
      `got:\n${problems.join("\n")}`,
    ).toBe(true);
  });

  it("reports every problem at once, not the first only", () => {
    const problems = problemsOf(
      raw({
        services: svc({ target: "cloudrun", context: "a", memory: "lots", port: 0, cpuIdle: "no" }),
        buildOnPreview: "maybe",
      }),
    );
    expect(problems).toHaveLength(4);
  });

  it("refuses a dirty work tree where dirty builds are not allowed", () => {
    const problems = problemsOf(raw(), {
      resolveCommit: () => ({ ...clean, dirty: true, dirtyHash: "deadbeef" }),
    });
    expect(problems).toEqual([
      `${F}allowDirtyBuilds: the work tree has uncommitted changes and this stack forbids dirty builds; commit or stash them (images are tagged by commit, so what is deployed must be what was committed)`,
    ]);
  });

  it("names the provider key a target needs", () => {
    const r = raw();
    r.providers["aws:region"] = undefined;
    expect(problemsOf(r)).toEqual([
      "Pulumi.prod.yaml: aws:region: required by the Lambda functions; set it with `pulumi config set aws:region us-east-1`",
    ]);
  });

  it("names the build context that does not exist", () => {
    expect(() => parse(raw(), { exists: () => false })).toThrow(
      `${F}services.api.context: build context "apps/api" does not exist under /project`,
    );
  });
});

describe("one error never hides another (issue 15, class 1)", () => {
  const missingContext = `${F}services.api.context: build context "apps/api" does not exist under /project; fix the path or add the directory`;
  const noContext = (r: RawStackConfig) => problemsOf(r, { exists: (p) => !p.endsWith("/apps/api") });

  it.each<[string, Record<string, unknown>, string]>([
    [
      "a bad logRetentionDays",
      { logRetentionDays: "45" },
      `${F}logRetentionDays: expected a CloudWatch Logs retention in days, one of 1, 3, 5`,
    ],
    [
      "an artifactRegistry typo",
      { artifactRegistry: { repositryId: "apps" } },
      `${F}artifactRegistry.repositryId: unknown key; did you mean "repositoryId"?`,
    ],
    ["a bad rollback", { rollback: "[1]" }, `${F}rollback: expected a map of service name to`],
    [
      "an unknown service in rollback",
      { rollback: { apj: { digest: `sha256:${"a".repeat(64)}`, tag: "t", commitSha: "b".repeat(40) } } },
      `${F}rollback.apj: no service named "apj"; did you mean "api"?`,
    ],
  ])("%s is reported together with a missing build context", (_, project, first) => {
    const problems = noContext(raw(project));
    expect(problems).toHaveLength(2);
    expect(
      problems.some((p) => p.startsWith(first)),
      problems.join("\n"),
    ).toBe(true);
    expect(problems).toContain(missingContext);
  });

  it("resolves the commit from the stack's own commitSha when another key is wrong (no invented commit error)", () => {
    const seen: Array<string | undefined> = [];
    try {
      parse(raw({ commitSha: SHA, logRetentionDays: "45" }), {
        resolveCommit: (sha) => (seen.push(sha), clean),
      });
    } catch {
      // the retention error
    }
    expect(seen).toEqual([SHA]);
  });

  it("takes rollback: null (the key left empty) as no rollback", () => {
    expect(parse(raw({ rollback: "null" })).rollback).toEqual({});
  });

  it("does not look for the build context of a rolled-back service (it builds nothing)", () => {
    const rollback = { api: { digest: `sha256:${"a".repeat(64)}`, tag: "t", commitSha: "b".repeat(40) } };
    expect(noContext(raw({ rollback, logRetentionDays: "45" }))).toHaveLength(1);
  });

  it("checks build contexts even when promoteFrom is invalid? no: a promoting stack builds nothing", () => {
    expect(noContext(raw({ promoteFrom: "staging" }))).toEqual([
      `${F}promoteFrom: expected a fully qualified stack name like acme/multicloud-deploy/staging, got "staging"`,
    ]);
  });
});

describe("names Pulumi or the clouds would refuse (issue 15, classes 2, 3 and 7)", () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    [
      "two invokers whose grants would have one name (issue 21: one grant per member, named by it)",
      {
        services: svc({
          target: "cloudrun",
          context: "a",
          invokers: ["user:a.b@example.com", "user:a-b@example.com"],
        }),
      },
      [
        `${F}services.api.invokers[1]: "user:a-b@example.com" and "user:a.b@example.com" are different members whose grants would both be named "api-invoker-user-a-b-example-com"; grant one of them outside this stack`,
      ],
    ],
    [
      "two consumer members whose reader grants would have one name",
      {
        imageConsumers: JSON.stringify({
          gcpMembers: ["user:a.b@example.com", "user:a-b@example.com", "user:A.B@example.com"],
        }),
      },
      [
        `${F}imageConsumers.gcpMembers[1]: this and "user:a.b@example.com" are different members whose reader grants would have one name; grant one of them outside this stack, got "user:a-b@example.com"`,
        `${F}imageConsumers.gcpMembers[2]: this and "user:a-b@example.com" are different members whose reader grants would have one name; grant one of them outside this stack, got "user:A.B@example.com"`,
      ],
    ],
    [
      "two Lambda functions given one functionName",
      {
        services: JSON.stringify({
          a: { target: "lambda", context: "a", functionName: "shared" },
          b: { target: "lambda", context: "b", functionName: "shared" },
        }),
      },
      [
        `${F}services.b.functionName: b and a would both be the Lambda function "shared"; give each its own functionName`,
      ],
    ],
    [
      "a misspelt target key",
      { services: svc({ targt: "cloudrun", context: "a" }) },
      [`${F}services.api.targt: unknown key; did you mean "target"? (target is "cloudrun" or "lambda")`],
    ],
    [
      "an env var name with a dash, named",
      { services: svc({ target: "cloudrun", context: "a", env: { "LOG-LEVEL": "debug" } }) },
      [
        `${F}services.api.env.LOG-LEVEL: "LOG-LEVEL" is not a valid name: expected an environment variable name like API_URL (letters, digits and "_", not starting with a digit)`,
      ],
    ],
    [
      "a secret env var name starting with a digit, named",
      { services: svc({ target: "cloudrun", context: "a", secrets: { "1KEY": { secret: "a" } } }) },
      [
        `${F}services.api.secrets.1KEY: "1KEY" is not a valid name: expected an environment variable name like API_KEY (letters, digits and "_", not starting with a digit)`,
      ],
    ],
    [
      "a stack promoting from itself",
      { promoteFrom: "acme/multicloud-deploy/prod", signatureKeys: KEYS },
      [
        `${F}promoteFrom: a stack cannot promote from itself (acme/multicloud-deploy/prod is this stack); name the stack whose images this one deploys, e.g. acme/multicloud-deploy/staging, or remove promoteFrom to build here`,
      ],
    ],
  ])("%s", (_, project, expected) => {
    expect(problemsOf(raw(project))).toEqual(expected);
  });

  it("lets the stack's plainEnvNames allow-list through the secret-looking name check, exactly", () => {
    const api = {
      target: "cloudrun",
      context: "a",
      env: { PUBLIC_KEY_URL: "https://k" },
      buildArgs: { CACHE_KEY: "1" },
    };
    expect(problemsOf(raw({ services: svc(api) })).map((p) => p.split(": ")[1])).toEqual([
      "multicloud-deploy:services.api.env.PUBLIC_KEY_URL",
      "multicloud-deploy:services.api.buildArgs.CACHE_KEY",
    ]);
    const parsed = parse(raw({ services: svc(api), plainEnvNames: '["PUBLIC_KEY_URL","CACHE_KEY"]' }));
    expect(parsed.services[0]!.env).toEqual({ PUBLIC_KEY_URL: "https://k" });
  });
});

describe("where each service's image comes from, decided once", () => {
  const old = { digest: `sha256:${"a".repeat(64)}`, tag: "t", commitSha: "b".repeat(40) };

  it("a stack without promoteFrom builds every service but a rolled-back one", () => {
    const c = parse(raw({ rollback: JSON.stringify({ worker: old }) }));
    expect(c.builds).toBe(true);
    expect(c.imageSources).toEqual({ api: "build", worker: "rollback" });
  });

  it("a promoting stack builds nothing: it promotes every service but a rolled-back one", () => {
    const c = parse(
      raw({
        promoteFrom: "acme/multicloud-deploy/staging",
        signatureKeys: KEYS,
        rollback: JSON.stringify({ api: old }),
      }),
    );
    expect(c.builds).toBe(false);
    expect(c.imageSources).toEqual({ api: "rollback", worker: "promote" });
  });
});

describe("signing and signature keys (docs/signing.md)", () => {
  const ED25519 = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
  const GCP_KEY =
    "projects/acme-apps-staging/locations/us-central1/keyRings/r/cryptoKeys/image-signing/cryptoKeyVersions/1";
  it.each<[string, Record<string, unknown>, string[]]>([
    [
      "a building stack that signs needs a key for each cloud it builds for",
      { signing: JSON.stringify({ gcpKmsKey: GCP_KEY }) },
      [
        `${F}signing.awsKmsKey: required: this stack builds Lambda images (ECR) and signs what it builds; set the key (docs/signing.md), or remove signing`,
      ],
    ],
    [
      "a promoting stack needs the source stack's public key for each cloud it promotes",
      { promoteFrom: "acme/multicloud-deploy/staging", signatureKeys: JSON.stringify({ gcp: pem() }) },
      [
        `${F}signatureKeys.aws: required: this stack promotes Lambda images (ECR) from acme/multicloud-deploy/staging and deploys only what that stack signed; set its public key in PEM (docs/signing.md, "What prod needs")`,
      ],
    ],
    [
      "a promoting stack never signs",
      {
        promoteFrom: "acme/multicloud-deploy/staging",
        signatureKeys: KEYS,
        signing: JSON.stringify({ gcpKmsKey: GCP_KEY, awsKmsKey: "alias/image-signing" }),
      },
      [
        `${F}signing: this stack promotes from acme/multicloud-deploy/staging and builds nothing: it must never sign as the stack it promotes from; remove signing (the source stack signs, this one checks with signatureKeys)`,
      ],
    ],
    [
      "a key version that is not pinned, and a public key that is not P-256",
      {
        signing: JSON.stringify({
          gcpKmsKey: GCP_KEY.replace(/\/cryptoKeyVersions\/1$/, ""),
          awsKmsKey: "alias/k",
        }),
        signatureKeys: JSON.stringify({
          gcp: ED25519,
        }),
      },
      [
        `${F}signatureKeys.gcp: expected an ECDSA P-256 public key in PEM (-----BEGIN PUBLIC KEY-----), as \`gcloud kms keys versions get-public-key\` or \`aws kms get-public-key\` gives it, got ${JSON.stringify(ED25519)}`,
        `${F}signing.gcpKmsKey: expected a Cloud KMS key version like projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1, got "${GCP_KEY.replace(/\/cryptoKeyVersions\/1$/, "")}"`,
      ],
    ],
    [
      "Binary Authorization belongs to a promoting stack: the building stack signs its payload and never attests",
      { binaryAuthorization: JSON.stringify({}) },
      [
        `${F}binaryAuthorization: only a promoting stack attests (it deploys what the stack it promotes from signed); this stack builds, and its signing step already signs the attestation payload of every Artifact Registry image: remove binaryAuthorization here and set it in the promoting stack`,
      ],
    ],
    [
      "an attestor id Binary Authorization would refuse",
      {
        promoteFrom: "acme/multicloud-deploy/staging",
        signatureKeys: KEYS,
        binaryAuthorization: JSON.stringify({ attestor: "prod attestor" }),
      },
      [
        `${F}binaryAuthorization.attestor: expected an attestor id like "multicloud-deploy": letters, digits, - and _, got "prod attestor"`,
      ],
    ],
  ])("%s", (_, project, expected) => {
    expect([...problemsOf(raw(project))].sort()).toEqual([...expected].sort());
  });

  it("Binary Authorization's attestor defaults to multicloud-deploy", () => {
    const c = parse(
      raw({
        promoteFrom: "acme/multicloud-deploy/staging",
        signatureKeys: KEYS,
        binaryAuthorization: JSON.stringify({}),
      }),
    );
    expect(c.binaryAuthorization).toEqual({ attestor: "multicloud-deploy", enforce: true });
  });

  it("parses both, as each cloud's step reads them", () => {
    const key = pem();
    const c = parse(
      raw({ signing: JSON.stringify({ gcpKmsKey: GCP_KEY, awsKmsKey: "alias/image-signing" }) }),
    );
    expect(c.signing).toEqual({ gcpKmsKey: GCP_KEY, awsKmsKey: "alias/image-signing" });
    const p = parse(
      raw({
        promoteFrom: "acme/multicloud-deploy/staging",
        signatureKeys: JSON.stringify({ gcp: key, aws: key }),
      }),
    );
    expect(p.signatureKeys).toEqual({ gcp: key, aws: key });
  });
});

describe("parseStackConfig defaults", () => {
  it("applies the documented defaults in one place", () => {
    const c = parse(raw({ requirePinnedSecretVersions: "false" }));
    expect(c.deletionProtection).toBe(true);
    expect(c.protectRegistries).toBe(true);
    expect(c.buildOnPreview).toBe(false);
    expect(c.allowDirtyBuilds).toBe(false);
    expect(c.logRetentionDays).toBe(30);
    expect(c.gcp?.artifactRegistry).toMatchObject({
      repositoryId: "apps",
      cacheRepositoryId: "apps-cache",
      keepTaggedVersions: 20,
      deleteUntaggedAfterDays: 7,
      project: "acme-staging",
      location: "us-central1",
    });
    const [api, worker] = c.services;
    expect(api).toMatchObject({
      name: "api",
      platform: "linux/amd64",
      memory: "512Mi",
      cpu: "1",
      port: 8080,
      concurrency: 80,
      exposure: "private",
      healthPath: "/health",
    });
    expect(worker).toMatchObject({
      name: "worker",
      platform: "linux/arm64",
      architecture: "arm64",
      memory: 512,
      timeoutSeconds: 30,
      logRetentionDays: 30,
      functionUrl: false,
    });
  });

  it("derives the image platform from a Lambda architecture and back", () => {
    const fromArch = parse(
      raw({ services: JSON.stringify({ w: { target: "lambda", context: "a", architecture: "x86_64" } }) }),
    );
    expect(fromArch.services[0]).toMatchObject({ platform: "linux/amd64", architecture: "x86_64" });
    const fromPlatform = parse(
      raw({ services: JSON.stringify({ w: { target: "lambda", context: "a", platform: "linux/arm64" } }) }),
    );
    expect(fromPlatform.services[0]).toMatchObject({ platform: "linux/arm64", architecture: "arm64" });
  });
});

describe("parseStackConfig accepts what the clouds accept", () => {
  const parseOk = (project: Record<string, unknown>) => parse(raw(project));

  it.each(["us", "europe", "asia", "us-central1", "europe-west4"])(
    "an Artifact Registry location %s (regions and multi-regions)",
    (location) => {
      expect(parseOk({ artifactRegistry: JSON.stringify({ location }) }).gcp?.artifactRegistry.location).toBe(
        location,
      );
    },
  );

  it("refuses an Artifact Registry location that is neither", () => {
    expect(problemsOf(raw({ artifactRegistry: JSON.stringify({ location: "mars" }) }))).toEqual([
      `${F}artifactRegistry.location: expected a region like "us-central1" or a multi-region "us", "europe" or "asia", got "mars"`,
    ]);
  });

  it("takes an empty env: or secrets: as empty", () => {
    const c = parseOk({
      services: JSON.stringify({
        api: { target: "cloudrun", context: "a", env: null, secrets: null },
        worker: { target: "lambda", context: "w", env: null, secrets: null },
      }),
    });
    expect(c.services.map((s) => [s.env, s.secrets])).toEqual([
      [{}, {}],
      [{}, {}],
    ]);
  });

  it("refuses a Cloud Run service name whose release tag URL Cloud Run would refuse (over 42 characters), naming it", () => {
    const name = `a${"p".repeat(42)}`;
    expect(
      problemsOf(raw({ services: JSON.stringify({ [name]: { target: "cloudrun", context: "a" } }) })),
    ).toEqual([
      `${F}services.${name}: Cloud Run service names are at most 42 characters here (the release gate's tag URL, "next---<service>", must fit Cloud Run's 46-character limit for tag and name); "${name}" has 43. Rename the service`,
    ]);
    expect(
      parseOk({ services: JSON.stringify({ [name.slice(0, 42)]: { target: "cloudrun", context: "a" } }) })
        .services,
    ).toHaveLength(1);
  });

  it.each([
    [
      "steps that do not ascend",
      { target: "lambda", context: "a", rollout: { steps: [50, 10] } },
      [`${F}services.api.rollout: steps[1] is 10, not above steps[0] (50); steps must ascend`],
    ],
    [
      "a step of 100 (it always comes last)",
      { target: "cloudrun", context: "a", exposure: "public", rollout: { steps: [10, 100], waitSeconds: 5 } },
      [
        `${F}services.api.rollout: steps[1] is 100; each step is a whole percentage 1-99 (100 always comes last)`,
      ],
    ],
    [
      "a wait out of bounds",
      { target: "lambda", context: "a", rollout: { steps: [10], waitSeconds: 86400 } },
      [`${F}services.api.rollout: waitSeconds is 86400; expected whole seconds 0-3600`],
    ],
    [
      "a rollout with no gate to run at each step",
      { target: "lambda", context: "a", healthGate: false, rollout: { steps: [10] } },
      [
        `${F}services.api.rollout: a rollout gates each step, and this service has healthGate: false; set healthGate: true or remove rollout`,
      ],
    ],
    [
      "a rollout of a private Cloud Run service that cannot be called",
      { target: "cloudrun", context: "a", rollout: { steps: [10] } },
      [
        `${F}services.api.rollout: a rollout gates each step, and this private service has no healthGateServiceAccount to call it with; set one or remove rollout`,
      ],
    ],
    [
      "a rollout that is not an object",
      { target: "lambda", context: "a", rollout: [10, 50] },
      [`${F}services.api.rollout: expected { steps: [10, 50], waitSeconds: 60 }, got [10,50]`],
    ],
    [
      "a health gate that internal ingress keeps out",
      { target: "cloudrun", context: "a", exposure: "public", ingress: "internal" },
      [
        `${F}services.api.ingress: the health gate asks the new revision's tag URL (https://next---<service>….run.app), which ingress "internal" closes to every caller outside the VPC, the deploy runner included, so no release could pass it; set healthGate: false (the revision's startup probe must still pass before it takes traffic) or ingress: all`,
      ],
    ],
    [
      "a private service's gate behind internal-and-cloud-load-balancing ingress",
      {
        target: "cloudrun",
        context: "a",
        healthGateServiceAccount: "health-gate@acme-staging.iam.gserviceaccount.com",
        ingress: "internal-and-cloud-load-balancing",
      },
      [
        `${F}services.api.ingress: the health gate asks the new revision's tag URL (https://next---<service>….run.app), which ingress "internal-and-cloud-load-balancing" closes to every caller outside the VPC, the deploy runner included, so no release could pass it; set healthGate: false (the revision's startup probe must still pass before it takes traffic) or ingress: all`,
      ],
    ],
  ])("refuses %s, naming the file and key", (_, api, expected) => {
    expect(problemsOf(raw({ services: svc(api) }))).toEqual(expected);
  });

  it.each([
    { exposure: "public", ingress: "internal", healthGate: false },
    // A private service without a gate account has no gate to keep out.
    { ingress: "internal" },
  ])("lets internal ingress through when no gate would run: %j", (extra) => {
    const config = parse(raw({ services: svc({ target: "cloudrun", context: "a", ...extra }) }));
    expect(config.services[0]).toMatchObject({ ingress: "internal" });
  });

  it.each(["artifactRegistry", "ecr"])(
    "keeps at least two tagged images in %s: the previous release's serves during a release and is the rollback",
    (key) => {
      const field = key === "ecr" ? "keepTaggedImages" : "keepTaggedVersions";
      expect(problemsOf(raw({ [key]: { [field]: 1 } }))).toEqual([
        `${F}${key}.${field}: expected a whole number, 2 or more: the previous release's image must outlive the next push, for the traffic it still serves during a release and for rollback, got 1`,
      ]);
    },
  );

  it("takes a valid rollout, with a 60 s wait by default", () => {
    const c = parseOk({ services: svc({ target: "lambda", context: "a", rollout: { steps: [10, 50] } }) });
    expect(c.services[0]!.rollout).toEqual({ steps: [10, 50], waitSeconds: 60 });
  });
});

describe("Cloud Run CPU and memory, as Cloud Run documents them", () => {
  const svcWith = (cpu: string, memory: string) =>
    raw({ services: svc({ target: "cloudrun", context: "a", cpu, memory }) });

  it.each([
    [
      "4",
      "512Mi",
      'Cloud Run gives 4 CPU between 2Gi and 16Gi of memory, got "512Mi"; set memory between 2Gi and 16Gi, or cpu to "1" or "2"',
    ],
    [
      "1",
      "8Gi",
      'Cloud Run gives 1 CPU between 128Mi and 4Gi of memory, got "8Gi"; set memory between 128Mi and 4Gi, or cpu to "2" or "4" or "6" or "8"',
    ],
    [
      "8",
      "64Gi",
      'Cloud Run gives 8 CPU between 4Gi and 32Gi of memory, got "64Gi"; set memory between 4Gi and 32Gi (Cloud Run allows 128Mi to 32Gi)',
    ],
    [
      "1",
      "64Mi",
      'Cloud Run gives 1 CPU between 128Mi and 4Gi of memory, got "64Mi"; set memory between 128Mi and 4Gi (Cloud Run allows 128Mi to 32Gi)',
    ],
  ])("refuses %s CPU with %s", (cpu, memory, message) => {
    expect(problemsOf(svcWith(cpu, memory))).toEqual([`${F}services.api.memory: ${message}`]);
  });

  it.each([
    ["1", "512Mi"],
    ["1", "4Gi"],
    ["2", "8Gi"],
    ["4", "2Gi"],
    ["8", "32Gi"],
  ])("accepts %s CPU with %s", (cpu, memory) => {
    expect(() => parse(svcWith(cpu, memory))).not.toThrow();
  });
});

describe("provider settings the clouds would refuse", () => {
  const withProviders = (providers: Record<string, string>) => ({
    ...raw(),
    providers: {
      "gcp:project": "acme-staging",
      "gcp:region": "us-central1",
      "aws:region": "us-east-1",
      ...providers,
    },
  });

  it.each([
    [
      { "gcp:project": "Acme_Staging" },
      'Pulumi.prod.yaml: gcp:project: expected a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, got "Acme_Staging"',
    ],
    [
      { "gcp:project": "acme" },
      'Pulumi.prod.yaml: gcp:project: expected a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, got "acme"',
    ],
    [
      { "gcp:region": "us-central" },
      'Pulumi.prod.yaml: gcp:region: expected a Google Cloud region like "us-central1", got "us-central"',
    ],
    [
      { "aws:region": "us-east" },
      'Pulumi.prod.yaml: aws:region: expected an AWS region like "us-east-1", got "us-east"',
    ],
    [
      // The right shape, but no AWS partition has it (issue 21: the SDK's list, not only the shape).
      { "aws:region": "us-east-9" },
      `Pulumi.prod.yaml: aws:region: "us-east-9" is not a region the AWS SDK's partition table lists; check the spelling, e.g. "us-east-1" (a region launched after @aws-sdk/core ${AWS_SDK_CORE_VERSION} needs a newer one: npm update @aws-sdk/core)`,
    ],
    [
      { "aws:region": "aws-global" },
      `Pulumi.prod.yaml: aws:region: expected an AWS region like "us-east-1", got "aws-global"`,
    ],
  ])("refuses %j", (providers, message) => {
    expect(problemsOf(withProviders(providers))).toEqual([message]);
  });

  it.each<Record<string, string>>([
    { "aws:region": "us-gov-west-1" },
    { "aws:region": "cn-north-1" },
    { "aws:region": "ap-southeast-7" },
    { "gcp:project": "acme-apps-prod-2026" },
  ])("accepts %j", (providers) => {
    expect(() => parse(withProviders(providers))).not.toThrow();
  });
});
