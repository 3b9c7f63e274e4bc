/**
 * The stack configuration schema: every `multicloud-deploy:*` key, its type, its default and the rules
 * that tie keys together. Defaults live here and nowhere else. Parsing is in `./parse.ts`.
 */
import { z } from "zod";
import { PLATFORMS, LAMBDA_ARCHITECTURES } from "../platform";
import { CLOUD_RUN_DEFAULTS, LAMBDA_DEFAULTS, REGISTRY_DEFAULTS } from "../service-defaults";
import { memberSlug } from "../names";
import { GCP_PROJECT_ID, GCP_PROJECT_ID_PATTERN, GCP_SERVICE_ACCOUNT_PATTERN } from "./cloud-ids";

/** The Pulumi project name, which is also the config namespace of every key below. */
export const PROJECT = "multicloud-deploy";

const e = (message: string) => ({ error: message });

/** A whole number in [min, max] whose every failure reads `message`. */
const wholeNumber = (message: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.number(e(message)).int(e(message)).min(min, e(message)).max(max, e(message));

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/**
 * Service names become the Cloud Run service name (at most 63 characters, lowercase letters, digits
 * and `-`, starting with a letter) and the Lambda function name (at most 64 of `[A-Za-z0-9_-]`). The
 * rule below is what both accept.
 */
export const SERVICE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names the program sets itself on every service; config may not set them. */
export const PROGRAM_ENV = ["APP_VERSION", "NODE_ENV"] as const;
/** Reserved by Cloud Run's container contract. */
export const CLOUD_RUN_RESERVED_ENV = ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"] as const;
/** Reserved by the Lambda runtime (plus every `AWS_*` name). */
export const LAMBDA_RESERVED_ENV = [
  "_HANDLER",
  "_X_AMZN_TRACE_ID",
  "LAMBDA_TASK_ROOT",
  "LAMBDA_RUNTIME_DIR",
  "TZ",
] as const;

/** Env names that look like they hold a secret: these must come from a secret reference. */
export const SECRET_LOOKING_ENV = /KEY|SECRET|TOKEN|PASSWORD/i;

const envMap = z.record(
  z
    .string()
    .regex(
      ENV_NAME,
      e(
        'expected an environment variable name like API_URL (letters, digits and "_", not starting with a digit)',
      ),
    ),
  z.string(e("expected a string value (quote numbers and booleans in YAML)")),
  e("expected a map of environment variable names to string values"),
);

const buildArgs = z.record(
  z.string().regex(ENV_NAME, e("expected a build argument name like NODE_VERSION")),
  z.string(e("expected a string value (quote numbers and booleans in YAML)")),
  e("expected a map of build argument names to string values"),
);

const relativePath = (what: string) =>
  z
    .string(e(`expected ${what} relative to the project directory`))
    .min(1, e(`expected ${what} relative to the project directory`))
    .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), {
      message: `expected ${what} inside the project directory (no absolute path, no "..")`,
    });

const exposure = z
  .enum(["public", "private"], e('expected "public" (anyone on the internet may call it) or "private"'))
  .default(CLOUD_RUN_DEFAULTS.exposure);

/** `env:` or `secrets:` left empty in YAML is null: it means an empty map. */
const emptyIsNone = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === null ? undefined : v), schema);

const platform = z.enum(PLATFORMS, e(`expected one of ${PLATFORMS.map((p) => `"${p}"`).join(", ")}`));

/** Settings every service has, whichever cloud it runs on. */
const commonService = {
  /** Build context directory, relative to the project. */
  context: relativePath("a build context directory"),
  /** Dockerfile path relative to the build context. */
  dockerfile: z
    .string(e("expected a Dockerfile path relative to the build context"))
    .min(1, e("expected a Dockerfile path relative to the build context"))
    .default("Dockerfile"),
  /** Build arguments (never secrets: they end up in the image history). */
  buildArgs: buildArgs.default({}),
  /** Multi-stage build target. */
  buildTarget: z.string(e("expected the name of a build stage")).min(1).optional(),
  exposure,
  env: emptyIsNone(envMap.default({})),
  /** Gate each new revision or version on its own before it takes traffic. */
  healthGate: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.healthGate),
  /**
   * A gradual release: the new revision or version's share at each step, then 100, with a wait and
   * the gate after each. Off by default: traffic moves at once after the gate. Rules: lib/release.ts.
   */
  rollout: z
    .strictObject(
      {
        steps: z.array(
          z.number(e("expected a percentage")),
          e("expected a list of percentages like [10, 50]"),
        ),
        waitSeconds: z.number(e("expected a number of seconds")).default(60),
      },
      e("expected { steps: [10, 50], waitSeconds: 60 }"),
    )
    .optional(),
};

// ---------------------------------------------------------------------------------------------
// Cloud Run
// ---------------------------------------------------------------------------------------------

const SECRET_ID = new RegExp(`^(?:projects/${GCP_PROJECT_ID}/secrets/)?[A-Za-z0-9_-]{1,255}$`);
/** IAM members; `allUsers`/`allAuthenticatedUsers` pass here and are refused by the exposure rule in parse.ts. */
const IAM_MEMBER =
  /^(?:(?:user|serviceAccount|group|domain|principal|principalSet):\S+|allUsers|allAuthenticatedUsers)$/;
const CLOUD_RUN_MEMORY = /^(?:\d+(?:Mi|Gi))$/;

const cloudRunSecret = z.strictObject(
  {
    /** Secret Manager secret id (`api-key`) or full name (`projects/p/secrets/api-key`). */
    secret: z.string(e('expected a Secret Manager secret id like "api-key"')).regex(SECRET_ID, {
      message: 'expected a Secret Manager secret id like "api-key" or "projects/my-project/secrets/api-key"',
    }),
    /** `latest` or a version number. */
    version: z
      .union([z.string(), z.number()], e('expected a secret version: a number like "3", or "latest"'))
      .transform((v) => String(v))
      .refine((v) => v === "latest" || /^[1-9]\d*$/.test(v), {
        message: 'expected a secret version: a number like "3", or "latest"',
      })
      .default("latest"),
  },
  e('expected { secret: "<secret id>", version: "<number or latest>" }'),
);

export const cloudRunServiceSchema = z.strictObject({
  target: z.literal("cloudrun"),
  ...commonService,
  /** Cloud Run runs linux/amd64 images only (container runtime contract: "Linux x86_64 ABI"). */
  platform: z
    .literal("linux/amd64", e('expected "linux/amd64": Cloud Run runs x86_64 images only'))
    .default("linux/amd64"),
  secrets: emptyIsNone(
    z
      .record(
        z
          .string()
          .regex(
            ENV_NAME,
            e(
              'expected an environment variable name like API_KEY (letters, digits and "_", not starting with a digit)',
            ),
          ),
        cloudRunSecret,
      )
      .default({}),
  ),
  /**
   * A service account the deployer may mint identity tokens for
   * (`roles/iam.serviceAccountOpenIdTokenCreator`): it is made an invoker, and the health gate of a
   * private service calls it with that account's identity token. Without it a private service has
   * no health gate (the plan says so).
   */
  healthGateServiceAccount: z
    .string(e("expected a service account email like health-check@my-project.iam.gserviceaccount.com"))
    .regex(
      GCP_SERVICE_ACCOUNT_PATTERN,
      e("expected a service account email like health-check@my-project.iam.gserviceaccount.com"),
    )
    .optional(),
  /**
   * Seconds the first deploy (or a new secret) waits after its accessor grants, before the service:
   * Cloud Run does not retry a permission denied on a secret while a grant propagates. 0 never waits.
   */
  grantPropagationSeconds: z
    .number(e("expected a number of seconds, 0-600"))
    .int(e("expected a whole number of seconds"))
    .min(0, e("expected a number of seconds, 0-600"))
    .max(600, e("expected a number of seconds, 0-600"))
    .default(CLOUD_RUN_DEFAULTS.grantPropagationSeconds),
  /** IAM members allowed to invoke a private service. */
  invokers: z
    .array(
      z.string().regex(IAM_MEMBER, {
        message: 'expected an IAM member like "serviceAccount:caller@my-project.iam.gserviceaccount.com"',
      }),
      e("expected a list of IAM members"),
    )
    .default([]),
  port: wholeNumber("expected a port number 1-65535", 1, 65535).default(CLOUD_RUN_DEFAULTS.port),
  cpu: z
    .enum(["1", "2", "4", "6", "8"], e('expected Cloud Run CPU "1", "2", "4", "6" or "8" (quoted)'))
    .default(CLOUD_RUN_DEFAULTS.cpu),
  memory: z
    .string(e('expected Cloud Run memory like "512Mi"'))
    .regex(CLOUD_RUN_MEMORY, e('expected Cloud Run memory like "512Mi"'))
    .default(CLOUD_RUN_DEFAULTS.memory),
  /** Throttle CPU between requests (request-based billing). */
  cpuIdle: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.cpuIdle),
  startupCpuBoost: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.startupCpuBoost),
  concurrency: wholeNumber("expected a whole number 1-1000", 1, 1000).default(CLOUD_RUN_DEFAULTS.concurrency),
  timeoutSeconds: wholeNumber("expected a request timeout in seconds, 1-3600", 1, 3600).default(
    CLOUD_RUN_DEFAULTS.timeoutSeconds,
  ),
  minInstances: wholeNumber("expected a whole number of instances, 0 or more", 0).default(
    CLOUD_RUN_DEFAULTS.minInstances,
  ),
  maxInstances: wholeNumber("expected a whole number of instances, 1 or more", 1).default(
    CLOUD_RUN_DEFAULTS.maxInstances,
  ),
  ingress: z
    .enum(
      ["all", "internal", "internal-and-cloud-load-balancing"],
      e('expected "all", "internal" or "internal-and-cloud-load-balancing"'),
    )
    .default(CLOUD_RUN_DEFAULTS.ingress),
  /** Path of the HTTP health endpoint used by the probes and the health gate. */
  healthPath: z
    .string(e('expected an absolute URL path like "/health"'))
    .regex(/^\/\S*$/, e('expected an absolute URL path like "/health"'))
    .default(CLOUD_RUN_DEFAULTS.healthPath),
});

// ---------------------------------------------------------------------------------------------
// Lambda
// ---------------------------------------------------------------------------------------------

const SECRETS_MANAGER_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const SECRETS_MANAGER_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
/** Values CloudWatch Logs accepts for retention. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const logRetention = z
  .number(e("expected a CloudWatch Logs retention in days"))
  .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
    message: `expected a CloudWatch Logs retention in days, one of ${LOG_RETENTION_DAYS.join(", ")}`,
  });

const lambdaSecret = z.strictObject(
  {
    /** Secrets Manager secret ARN, or its name (the ARN is then looked up at deploy time). */
    secret: z
      .string(e("expected a Secrets Manager secret ARN or name"))
      .refine((s) => SECRETS_MANAGER_ARN.test(s) || (!s.startsWith("arn:") && SECRETS_MANAGER_NAME.test(s)), {
        message:
          'expected a Secrets Manager secret ARN ("arn:aws:secretsmanager:<region>:<account>:secret:<name>") or name',
      }),
  },
  e('expected { secret: "<Secrets Manager ARN or name>" }'),
);

/**
 * A Lambda function's architecture when neither `architecture` nor `platform` is given (arm64 costs
 * less per GB-second). When one is given the other is derived from it, in parse.ts.
 */
export const DEFAULT_LAMBDA_ARCHITECTURE = "arm64" satisfies (typeof LAMBDA_ARCHITECTURES)[number];

export const lambdaServiceSchema = z.strictObject({
  target: z.literal("lambda"),
  ...commonService,
  /** Image platform; the function's architecture is derived from it. Give this or `architecture`. */
  platform: platform.optional(),
  /**
   * Physical function name; the log group is `/aws/lambda/<name>` and the execution role `<name>-role`.
   * Defaults to `multicloud-deploy-<stack>-<service>`, so two stacks in one account never collide.
   */
  functionName: z
    .string(e('expected a Lambda function name like "acme-staging-worker"'))
    .regex(/^[A-Za-z0-9_-]+$/, e('expected a Lambda function name: letters, digits, "-" and "_" only'))
    .optional(),
  /** Lambda architecture; the image platform is derived from it. Give this or `platform`. */
  architecture: z
    .enum(LAMBDA_ARCHITECTURES, e('expected Lambda architecture "arm64" or "x86_64"'))
    .optional(),
  /** Env var name → Secrets Manager secret; the function receives the ARN, never the value. */
  secrets: emptyIsNone(
    z
      .record(
        z
          .string()
          .regex(
            ENV_NAME,
            e(
              'expected an environment variable name like DB_SECRET_ARN (letters, digits and "_", not starting with a digit)',
            ),
          ),
        lambdaSecret,
      )
      .default({}),
  ),
  /** A customer-managed KMS key the secrets are encrypted with (adds kms:Decrypt on that key only). */
  secretsKmsKeyArn: z
    .string(e("expected a KMS key ARN"))
    .regex(KMS_KEY_ARN, e('expected a KMS key ARN like "arn:aws:kms:us-east-1:123456789012:key/<id>"'))
    .optional(),
  memory: wholeNumber("expected Lambda memory in MB, 128-10240", 128, 10240).default(
    LAMBDA_DEFAULTS.memorySize,
  ),
  timeoutSeconds: wholeNumber("expected a Lambda timeout in seconds, 1-900", 1, 900).default(
    LAMBDA_DEFAULTS.timeout,
  ),
  ephemeralStorageMb: wholeNumber("expected /tmp size in MB, 512-10240", 512, 10240).default(
    LAMBDA_DEFAULTS.ephemeralStorageMb,
  ),
  /** Reserved concurrency; unset means the function shares the account's unreserved pool. */
  reservedConcurrency: wholeNumber("expected a whole number, 0 or more", 0).optional(),
  imageConfig: z
    .strictObject(
      {
        command: z.array(z.string(), e("expected a list of strings")).min(1).optional(),
        entryPoint: z.array(z.string(), e("expected a list of strings")).min(1).optional(),
        workingDirectory: z
          .string(e("expected an absolute path"))
          .regex(/^\//, e("expected an absolute path"))
          .optional(),
      },
      e("expected { command?, entryPoint?, workingDirectory? }"),
    )
    .optional(),
  /** Give the function an HTTPS URL (auth AWS_IAM, or NONE when exposure is public). */
  functionUrl: z.boolean(e("expected true or false")).default(LAMBDA_DEFAULTS.functionUrl),
  logRetentionDays: logRetention.optional(),
  /** Adopt an ECR repository that already exists under this function's repository name. */
  adoptExistingRepository: z.boolean(e("expected true or false")).default(false),
  healthPath: z
    .string(e('expected an absolute URL path like "/health"'))
    .regex(/^\/\S*$/, e('expected an absolute URL path like "/health"'))
    .default(CLOUD_RUN_DEFAULTS.healthPath),
});

// ---------------------------------------------------------------------------------------------
// Registries
// ---------------------------------------------------------------------------------------------

const REPOSITORY_ID = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export const artifactRegistrySchema = z
  .strictObject(
    {
      /** Repository id for service images (immutable tags). */
      repositoryId: z
        .string(e('expected a repository id like "apps"'))
        .regex(REPOSITORY_ID, e('expected a repository id like "apps" (lowercase letters, digits, "-")'))
        .default("apps"),
      /** Repository id for the BuildKit registry cache (mutable tags, see ArtifactRegistryRepository). */
      cacheRepositoryId: z
        .string(e('expected a repository id like "apps-cache"'))
        .regex(REPOSITORY_ID, e('expected a repository id like "apps-cache"'))
        .optional(),
      /** Project holding the repositories; defaults to `gcp:project`. Another project makes images cross-project. */
      project: z
        .string(e("expected a GCP project id"))
        .regex(GCP_PROJECT_ID_PATTERN, e("expected a GCP project id"))
        .optional(),
      /** Region of the repositories, or a multi-region (`us`, `europe`, `asia`); defaults to `gcp:region`. */
      location: z
        .string(e('expected a region like "us-central1" or a multi-region "us", "europe" or "asia"'))
        .regex(
          /^(?:[a-z]+-[a-z]+\d+|us|europe|asia)$/,
          e('expected a region like "us-central1" or a multi-region "us", "europe" or "asia"'),
        )
        .optional(),
      /** Take over repositories that already exist instead of failing with "already exists". */
      adoptExisting: z.boolean(e("expected true or false")).default(false),
      keepTaggedVersions: wholeNumber(
        "expected a whole number, 2 or more: the previous release's image must outlive the next push, for the traffic it still serves during a release and for rollback",
        2,
      ).default(REGISTRY_DEFAULTS.keepTagged),
      deleteUntaggedAfterDays: wholeNumber("expected a whole number of days, 1 or more", 1).default(
        REGISTRY_DEFAULTS.untaggedDays,
      ),
    },
    e("expected a map of Artifact Registry settings"),
  )
  // An absent key is parsed as `{}`, so the defaults above apply (one owner each).
  .prefault({});

export const imageConsumersSchema = z
  .strictObject(
    {
      /** AWS accounts whose principals (with their own IAM permission) may pull from this stack's ECR repositories. */
      awsAccounts: z
        .array(
          z
            .string(e('expected a 12-digit AWS account id like "222222222222"'))
            .regex(/^\d{12}$/, e('expected a 12-digit AWS account id like "222222222222"')),
          e('expected a list of AWS account ids like ["222222222222"]'),
        )
        .default([]),
      /** IAM members granted `roles/artifactregistry.reader` on this stack's image repository. */
      gcpMembers: z
        .array(
          z
            .string(
              e('expected an IAM member like "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com"'),
            )
            .regex(
              /^(serviceAccount|group|user|principal|principalSet):\S+$/,
              e('expected an IAM member like "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com"'),
            ),
          e(
            'expected a list of IAM members like ["serviceAccount:deployer@acme-prod.iam.gserviceaccount.com"]',
          ),
        )
        // One reader grant per member, named by it (lib/names.ts memberSlug).
        .superRefine((members, ctx) => {
          const byKey = new Map<string, string>();
          members.forEach((m, i) => {
            const other = byKey.get(memberSlug(m));
            if (other !== undefined && other !== m) {
              ctx.addIssue({
                code: "custom",
                path: [i],
                input: m,
                message:
                  other.toLowerCase() === m.toLowerCase()
                    ? `this and "${other}" differ only in case; list the member once`
                    : `this and "${other}" are different members whose reader grants would have one name; grant one of them outside this stack`,
              });
            }
            byKey.set(memberSlug(m), m);
          });
        })
        .default([]),
    },
    e("expected { awsAccounts?, gcpMembers? }"),
  )
  .prefault({});

export const ecrSchema = z
  .strictObject(
    {
      /** ECR repository names are `<repositoryPrefix>/<service>`. */
      repositoryPrefix: z
        .string(e('expected a repository prefix like "multicloud-deploy"'))
        .regex(
          /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
          e('expected a repository prefix like "multicloud-deploy"'),
        )
        .default("multicloud-deploy"),
      /** Customer-managed KMS key for repository encryption; AES256 when unset. */
      kmsKeyArn: z
        .string(e("expected a KMS key ARN"))
        .regex(KMS_KEY_ARN, e("expected a KMS key ARN"))
        .optional(),
      keepTaggedImages: wholeNumber(
        "expected a whole number, 2 or more: the previous release's image must outlive the next push, for the traffic it still serves during a release and for rollback",
        2,
      ).default(REGISTRY_DEFAULTS.keepTagged),
      expireUntaggedAfterDays: wholeNumber("expected a whole number of days, 1 or more", 1).default(
        REGISTRY_DEFAULTS.untaggedDays,
      ),
    },
    e("expected a map of ECR settings"),
  )
  .prefault({});

// ---------------------------------------------------------------------------------------------
// The whole stack
// ---------------------------------------------------------------------------------------------

/**
 * Top-level config values arrive from Pulumi as strings; these turn them into what the schema wants.
 * A key left empty in YAML (`multicloud-deploy:rollback:`) is null: it means the key's default.
 */
const fromConfigString = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    let value = v;
    if (typeof v === "string") {
      try {
        value = JSON.parse(v);
      } catch {
        value = v;
      }
    }
    return value === null ? undefined : value;
  }, schema);

const flag = (fallback: boolean) =>
  fromConfigString(z.boolean(e("expected true or false")).default(fallback));

export const stackConfigSchema = z.strictObject({
  /** `NODE_ENV` given to every service. */
  nodeEnv: z.string(e('expected a string like "production"')).min(1).default("production"),
  /** Commit SHA for image tags; by default from GITHUB_SHA or `git rev-parse HEAD`. */
  commitSha: z.string(e("expected a 40-character commit SHA")).optional(),
  /** `org.opencontainers.image.source` label; by default derived from GitHub variables or the git remote. */
  sourceUrl: z.url(e("expected a URL like https://github.com/acme/app")).optional(),
  /** Allow images to be built from a work tree with uncommitted changes (their tags say `dirty`). */
  allowDirtyBuilds: flag(false),
  /**
   * Build images during `pulumi preview` too. Such a stack only reads the build cache: docker-build
   * writes `cacheTo` even in preview, and a pull request's preview must not write what deploys import.
   */
  buildOnPreview: flag(false),
  /**
   * The buildx builder every build runs on, by name (docker-build's `builder.name`): for example a
   * remote BuildKit registered on a machine with no Docker daemon (docs/hosted-deployments.md).
   * Unset, docker-build uses the current builder or creates a docker-container one, which needs a
   * Docker daemon (pulumi-docker-build provider/internal/builder.go).
   */
  builder: z
    .string(e("expected the name of a buildx builder"))
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, e("expected the name of a buildx builder, like remote-buildkit"))
    .optional(),
  /** Cloud Run `deletionProtection`. */
  deletionProtection: flag(true),
  /** `protect` and `retainOnDelete` on registries, so `pulumi destroy` cannot delete images. */
  protectRegistries: flag(true),
  /** Cloud Run secrets must name a numeric version, not `latest`. */
  requirePinnedSecretVersions: flag(true),
  /** `<org>/<project>/<stack>` whose verified images this stack deploys instead of building. */
  promoteFrom: z
    .string(e("expected a stack name like acme/multicloud-deploy/staging"))
    .regex(
      /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
      e("expected a fully qualified stack name like acme/multicloud-deploy/staging"),
    )
    .optional(),
  /**
   * Rollback: per service, an image this stack ran before (read from a previous deployment,
   * docs/operations.md "Rollback"), to deploy instead of building or promoting. It must still be in
   * this stack's registry.
   */
  rollback: fromConfigString(
    z
      .record(
        z.string(),
        z.strictObject({
          digest: z
            .string(e('expected a manifest digest "sha256:<64 hex>"'))
            .regex(/^sha256:[a-f0-9]{64}$/, e('expected a manifest digest "sha256:<64 hex>"')),
          tag: z
            .string(e("expected the image tag the stack exported"))
            .min(1, e("expected the image tag the stack exported")),
          commitSha: z
            .string(e("expected a 40-character commit SHA"))
            .regex(/^[0-9a-f]{40}$/, e("expected a 40-character commit SHA")),
        }),
        e("expected a map of service name to { digest, tag, commitSha }"),
      )
      .default({}),
  ),
  /**
   * Env var and build arg names that look like secrets (they contain KEY, SECRET, TOKEN or PASSWORD)
   * but hold plain values, e.g. `PUBLIC_KEY_URL`. Exact names. The policy pack's
   * `no-plaintext-secrets-in-env.allowNames` must list them too; the offline plan runs the pack.
   */
  plainEnvNames: fromConfigString(
    z
      .array(
        z.string().regex(ENV_NAME, e("expected an environment variable name like PUBLIC_KEY_URL")),
        e('expected a list of names like ["PUBLIC_KEY_URL"]'),
      )
      .default([]),
  ),
  /** Default CloudWatch Logs retention for Lambda functions. */
  logRetentionDays: fromConfigString(logRetention.default(LAMBDA_DEFAULTS.logRetentionDays)),
  /**
   * Who else may pull this stack's images: the stacks that promote from it. Rendered into the ECR
   * repository policy (accounts) and Artifact Registry reader grants (IAM members).
   */
  imageConsumers: fromConfigString(imageConsumersSchema),
  artifactRegistry: fromConfigString(artifactRegistrySchema),
  ecr: fromConfigString(ecrSchema),
  services: fromConfigString(
    z
      .record(z.string(), z.unknown(), e("expected a map of service name to service settings"))
      .refine((m) => Object.keys(m).length > 0, { message: "expected at least one service" }),
  ),
});

export type CloudRunServiceConfig = z.output<typeof cloudRunServiceSchema> & { name: string };
export type LambdaServiceConfig = Omit<
  z.output<typeof lambdaServiceSchema>,
  "platform" | "architecture" | "functionName"
> & {
  name: string;
  /** Always set after parsing: `multicloud-deploy-<stack>-<service>` unless overridden. */
  functionName: string;
  /** Always set after parsing: derived from `architecture` when not given. */
  platform: (typeof PLATFORMS)[number];
  architecture: (typeof LAMBDA_ARCHITECTURES)[number];
};
export type ServiceConfig = CloudRunServiceConfig | LambdaServiceConfig;
export type ArtifactRegistryConfig = z.output<typeof artifactRegistrySchema>;
export type EcrConfig = z.output<typeof ecrSchema>;
export type ImageConsumersConfig = z.output<typeof imageConsumersSchema>;
