/**
 * The stack configuration schema: every top-level `multicloud-deploy:*` key, its type and its
 * default. Defaults live here and in each target's service schema (./services/*.ts), and nowhere
 * else. Parsing is in `./parse.ts`.
 */
import { z } from "zod";
import { REGISTRY_DEFAULTS, LAMBDA_DEFAULTS } from "../service-defaults";
import { memberSlug } from "../names";
import { GCP_PROJECT_ID_PATTERN } from "./cloud-ids";
import { e, ENV_NAME, KMS_KEY_ARN, wholeNumber } from "./fields";
import { logRetention } from "./services/lambda";
import { AWS_KMS_KEY, EXAMPLE_GCP_KEY, GCP_KMS_KEY_VERSION, isP256PublicKey } from "../signing/keys";

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

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

const signingSchema = z.strictObject(
  {
    /** Signs Artifact Registry images: a Cloud KMS key version (EC_SIGN_P256_SHA256). */
    gcpKmsKey: z
      .string(e(`expected a Cloud KMS key version like ${EXAMPLE_GCP_KEY}`))
      .regex(GCP_KMS_KEY_VERSION, e(`expected a Cloud KMS key version like ${EXAMPLE_GCP_KEY}`))
      .optional(),
    /** Signs ECR images: an AWS KMS key (ECC_NIST_P256, SIGN_VERIFY) by id, ARN, alias/<name> or alias ARN. */
    awsKmsKey: z
      .string(e('expected an AWS KMS key: an id, an ARN, "alias/<name>" or an alias ARN'))
      .regex(AWS_KMS_KEY, e('expected an AWS KMS key: an id, an ARN, "alias/<name>" or an alias ARN'))
      .optional(),
  },
  e("expected { gcpKmsKey, awsKmsKey }"),
);

const publicKey = z
  .string(e("expected a public key in PEM (-----BEGIN PUBLIC KEY-----)"))
  .refine((pem) => isP256PublicKey(pem), {
    message:
      "expected an ECDSA P-256 public key in PEM (-----BEGIN PUBLIC KEY-----), as `gcloud kms keys versions get-public-key` or `aws kms get-public-key` gives it",
  });
const signatureKeysSchema = z.strictObject(
  {
    /** Verifies Artifact Registry images: the public key of the source stack's `signing.gcpKmsKey`. */
    gcp: publicKey.optional(),
    /** Verifies ECR images: the public key of the source stack's `signing.awsKmsKey`. */
    aws: publicKey.optional(),
  },
  e("expected { gcp, aws }: public keys in PEM"),
);

/** The attestor id Binary Authorization names: letters, digits, `-` and `_` (REST `Attestor.name`). */
export const ATTESTOR_ID = /^[A-Za-z0-9_-]{1,100}$/;
const binaryAuthorizationSchema = z.strictObject(
  {
    /**
     * The attestor this stack creates in `gcp:project`, holding `signatureKeys.gcp`; the project's
     * Binary Authorization policy requires it (docs/signing.md, "Binary Authorization").
     * @default "multicloud-deploy"
     */
    attestor: z
      .string(e('expected an attestor id like "multicloud-deploy"'))
      .regex(ATTESTOR_ID, e('expected an attestor id like "multicloud-deploy": letters, digits, - and _'))
      .default("multicloud-deploy"),
    /**
     * Attest each image and have Cloud Run enforce the project's policy. `false` keeps the attestor but
     * writes no attestation and turns enforcement off on the services: the explicit, reviewed way to
     * deploy an image that cannot be attested (docs/upgrading.md).
     * @default true
     */
    enforce: z.boolean(e("expected true or false")).default(true),
  },
  e("expected { attestor, enforce }"),
);

// ---------------------------------------------------------------------------------------------
// Scan gate
// ---------------------------------------------------------------------------------------------

const ALLOW_DATE = /^\d{4}-\d{2}-\d{2}$/;
const allowEntry = z.strictObject(
  {
    /** The vulnerability id exactly as the registry reports it: `CVE-2023-0286`, `GHSA-…`, `ALAS2-…`. */
    id: z
      .string(e('expected a vulnerability id like "CVE-2023-0286"'))
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, e('expected a vulnerability id like "CVE-2023-0286"')),
    /** The last day (UTC) the entry applies, `YYYY-MM-DD`; after it the finding counts again. */
    expires: z
      .string(e('expected a date like "2027-01-31" (YYYY-MM-DD, the last day it applies)'))
      .refine((d) => ALLOW_DATE.test(d) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), {
        message: 'expected a date like "2027-01-31" (YYYY-MM-DD, the last day it applies)',
      }),
    /** Why the finding is accepted: read in review, printed when it lets an image through. */
    reason: z
      .string(e("expected a reason: why this finding is accepted, for the reviewer"))
      .min(1, e("expected a reason: why this finding is accepted, for the reviewer")),
  },
  e("expected { id, expires, reason }"),
);

export const scanGateSchema = z
  .strictObject(
    {
      /** Critical findings tolerated. */
      maxCritical: wholeNumber("expected a whole number, 0 or more", 0).default(0),
      /** High findings tolerated. Unset: high findings do not block. */
      maxHigh: wholeNumber("expected a whole number, 0 or more", 0).optional(),
      /** Medium findings tolerated. Unset: medium findings do not block. */
      maxMedium: wholeNumber("expected a whole number, 0 or more", 0).optional(),
      /** How long the gate waits for the registry to scan a new push, in seconds (30 to 3600). */
      deadlineSeconds: wholeNumber("expected a whole number of seconds from 30 to 3600", 30, 3600).default(
        900,
      ),
      /** Findings accepted on purpose, each until its expiry date. */
      allow: z.array(allowEntry, e("expected a list of { id, expires, reason }")).default([]),
      /**
       * Let an image through when its scan is missing, failed or unsupported at the deadline (an image
       * the registry cannot scan). Findings still count. The plan and every update warn while it is set.
       */
      allowUnscanned: z.boolean(e("expected true or false")).default(false),
    },
    e("expected { maxCritical, maxHigh, maxMedium, deadlineSeconds, allow, allowUnscanned }"),
  )
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
  /**
   * A stack created before issue 21 (one grant per binding) keeps the second grant it had of a
   * binding, `<service>-image-reader` and `<service>-health-invoker`, registered and retained, so no
   * update deletes the binding the kept grant stands for. A new stack never had them and leaves it
   * off. After one update with it on, the state marks them retained, and turning it off only drops
   * them from the state (docs/upgrading.md).
   */
  keepRetainedGrants: flag(false),
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
  /**
   * A building stack (staging): the KMS keys that sign each verified image in cosign's format, one per
   * cloud it builds for (docs/signing.md). Unset: nothing is signed, and a stack that promotes from this
   * one refuses its images.
   */
  signing: fromConfigString(signingSchema.optional()),
  /**
   * A promoting stack (prod): the public keys of the stack it promotes from (SPKI PEM, of one pinned key
   * version), per cloud. Each promoted image must carry a signature by its cloud's key, for the commit
   * being deployed. Prod never holds a KMS permission, so it can never sign as staging.
   */
  signatureKeys: fromConfigString(signatureKeysSchema.optional()),
  /**
   * A promoting stack's Cloud Run enforcement (docs/signing.md, "Binary Authorization"): each promoted
   * Artifact Registry image is attested once its gates passed, with the payload the source stack signed,
   * and every Cloud Run service sets `binaryAuthorization.useDefault`, so Cloud Run refuses a revision
   * whose image was not attested, even one deployed by hand. Unset: Cloud Run does not check.
   */
  binaryAuthorization: fromConfigString(binaryAuthorizationSchema.optional()),
  /**
   * The vulnerability scan every image must pass in this stack's registry before it takes traffic
   * (docs/scanning.md). Closed by default: no critical finding, and a scan that is missing, failed or
   * unsupported fails.
   */
  scanGate: fromConfigString(scanGateSchema),
  artifactRegistry: fromConfigString(artifactRegistrySchema),
  ecr: fromConfigString(ecrSchema),
  services: fromConfigString(
    z
      .record(z.string(), z.unknown(), e("expected a map of service name to service settings"))
      .refine((m) => Object.keys(m).length > 0, { message: "expected at least one service" }),
  ),
});

export type ArtifactRegistryConfig = z.output<typeof artifactRegistrySchema>;
export type EcrConfig = z.output<typeof ecrSchema>;
export type ImageConsumersConfig = z.output<typeof imageConsumersSchema>;
export type SigningConfig = z.output<typeof signingSchema>;
export type SignatureKeysConfig = z.output<typeof signatureKeysSchema>;
export type BinaryAuthorizationConfig = z.output<typeof binaryAuthorizationSchema>;
export type ScanGateConfig = z.output<typeof scanGateSchema>;
