import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { REGISTRY_DEFAULTS } from "../lib/service-defaults";
import { transform, type Transform } from "../lib/transform";
import { CACHE_TAG_PREFIX, cacheTag } from "../lib/image-tag";
import type { Platform } from "../lib/platform";
import type { RegistryLogin } from "../lib/registry/login";
import type { RegistryAuth } from "./container-image";

export const ECR_REPOSITORY_TYPE = "multicloud:aws:EcrRepository";

export interface EcrRepositoryArgs {
  /** Repository name, e.g. `multicloud-deploy-staging/worker`. Plain: it is also the import id. */
  repositoryName: string;
  /** AWS account id; scopes the Lambda pull permission to this account's functions. */
  accountId: pulumi.Input<string>;
  /** Region of the functions allowed to pull. */
  region: pulumi.Input<string>;
  /** AWS partition of the account (`aws`, `aws-cn`, `aws-us-gov`), for the ARNs in the repository policy. */
  partition: pulumi.Input<string>;
  /**
   * Other AWS accounts that may pull (the stacks that promote from this one). Their principals still
   * need `ecr:BatchGetImage` and friends in their own IAM policy (docs/iam). Plain: from config.
   * @default [] - only this account's Lambda functions
   */
  pullAccounts?: string[];
  /**
   * Tag pattern of the images this repository keeps (ECR patterns AND their entries, so one pattern).
   * @default "*"
   */
  imageTagPattern?: string;
  /**
   * How many tagged images the lifecycle policy keeps; older ones expire.
   * @default 20
   */
  keepTaggedImages?: number;
  /**
   * Each image has a cosign signature (`sha256-<hex>.sig`) beside it (docs/signing.md). With an
   * `imageTagPattern` that also matches signature tags, the lifecycle policy then keeps twice
   * `keepTaggedImages`: the images and their signatures (see {@link ecrLifecyclePolicy}).
   * @default false
   */
  signedImages?: boolean;
  /**
   * Untagged images expire after this many days.
   * @default 7
   */
  expireUntaggedAfterDays?: number;
  /**
   * Customer-managed KMS key for encryption at rest.
   * @default - AES256 (AWS-managed)
   */
  kmsKeyArn?: pulumi.Input<string>;
  /**
   * Adopt a repository that already exists (Pulumi `import` by repository name) instead of failing
   * with "RepositoryAlreadyExistsException". The import takes the repository as it is (the settings a
   * hand-made repository lacks are in ECR_ADOPTION_IGNORED, since an import whose inputs differ from
   * the existing resource fails); turn it off on the next update and this component's settings apply.
   * Plain: it decides resource options.
   * @default false
   */
  adoptExisting?: boolean;
  /**
   * `protect` and `retainOnDelete`, so `pulumi destroy` cannot delete the images a function runs.
   * @default true
   */
  protect?: boolean;
  tags?: Record<string, string>;
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    repository?: Transform<aws.ecr.RepositoryArgs>;
    lifecyclePolicy?: Transform<aws.ecr.LifecyclePolicyArgs>;
    repositoryPolicy?: Transform<aws.ecr.RepositoryPolicyArgs>;
  };
}

/**
 * An ECR repository for one function's images: immutable tags (except the build-cache tags, which
 * BuildKit must overwrite), scan on push, encryption, a lifecycle policy, and a repository policy that
 * lets Lambda pull, for this account's functions only.
 */
export class EcrRepository extends pulumi.ComponentResource {
  /**
   * How to push to ECR in `region` of the deployer's account: its authorization token for the build
   * (one lookup; call it once per stack) and the `ecr` login the verify and promote steps use at run
   * time. The registry address has no scheme (ECR's proxy endpoint is an https URL).
   */
  static registryAuth(region: string, accountId: pulumi.Input<string>): RegistryAuth {
    const token = aws.ecr.getAuthorizationTokenOutput();
    return {
      address: token.proxyEndpoint.apply((e) => e.replace(/^https:\/\//, "")),
      username: token.userName,
      password: token.password,
      login: pulumi
        .output(accountId)
        .apply((registryId): RegistryLogin => ({ kind: "ecr", region, registryId })),
    };
  }

  /** The BuildKit cache ref of a service's images: a mutable `buildcache-*` tag in this repository. */
  cacheRef(service: string, platform: Platform): pulumi.Output<string> {
    return pulumi.interpolate`${this.repositoryUrl}:${cacheTag(service, platform)}`;
  }

  readonly repositoryUrl: pulumi.Output<string>;
  readonly registryId: pulumi.Output<string>;
  readonly repository: aws.ecr.Repository;
  readonly lifecyclePolicy: aws.ecr.LifecyclePolicy;
  readonly repositoryPolicy: aws.ecr.RepositoryPolicy;

  constructor(name: string, args: EcrRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super(ECR_REPOSITORY_TYPE, name, {}, opts);
    const a = normalizeEcrArgs(args);
    const keep = { protect: a.protect, retainOnDelete: a.protect };

    this.repository = new aws.ecr.Repository(
      ...transform(
        args.transform?.repository,
        `${name}`,
        {
          name: a.repositoryName,
          imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
          imageTagMutabilityExclusionFilters: [{ filter: `${CACHE_TAG_PREFIX}*`, filterType: "WILDCARD" }],
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [
            a.kmsKeyArn ? { encryptionType: "KMS", kmsKey: a.kmsKeyArn } : { encryptionType: "AES256" },
          ],
          forceDelete: !a.protect,
          tags: a.tags,
        },
        {
          parent: this,
          ...keep,
          ...(a.adoptExisting ? { import: a.repositoryName, ignoreChanges: [...ECR_ADOPTION_IGNORED] } : {}),
        },
      ),
    );

    this.lifecyclePolicy = new aws.ecr.LifecyclePolicy(
      ...transform(
        args.transform?.lifecyclePolicy,
        `${name}-lifecycle`,
        {
          repository: this.repository.name,
          policy: JSON.stringify(
            ecrLifecyclePolicy(
              a.imageTagPattern,
              a.keepTaggedImages,
              a.expireUntaggedAfterDays,
              a.signedImages,
            ),
          ),
        },
        { parent: this },
      ),
    );

    this.repositoryPolicy = new aws.ecr.RepositoryPolicy(
      ...transform(
        args.transform?.repositoryPolicy,
        `${name}-lambda-pull`,
        {
          repository: this.repository.name,
          policy: pulumi
            .all([a.accountId, a.region, a.partition])
            .apply(([accountId, region, partition]) =>
              JSON.stringify(
                ecrRepositoryPolicy({ accountId, region, partition, pullAccounts: a.pullAccounts }),
              ),
            ),
        },
        { parent: this },
      ),
    );

    this.repositoryUrl = this.repository.repositoryUrl;
    this.registryId = this.repository.registryId;
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, registryId: this.registryId });
  }
}

export function normalizeEcrArgs(args: EcrRepositoryArgs) {
  return {
    ...args,
    imageTagPattern: args.imageTagPattern ?? "*",
    keepTaggedImages: args.keepTaggedImages ?? REGISTRY_DEFAULTS.keepTagged,
    expireUntaggedAfterDays: args.expireUntaggedAfterDays ?? REGISTRY_DEFAULTS.untaggedDays,
    adoptExisting: args.adoptExisting ?? false,
    signedImages: args.signedImages ?? false,
    protect: args.protect ?? true,
    pullAccounts: [...new Set(args.pullAccounts ?? [])].sort(),
    tags: { "managed-by": "multicloud-deploy", ...args.tags },
  };
}

/**
 * Whether an ECR `tagPatternList` pattern matches a tag: `*` is any run of characters, the rest is
 * literal and the whole tag must match ("prod*" selects prod, prod1, prod2: ECR user guide, lifecycle
 * policy parameters, "Tag pattern list").
 */
export function ecrTagPatternMatches(pattern: string, tag: string): boolean {
  const literal = (x: string) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${pattern.split("*").map(literal).join(".*")}$`).test(tag);
}

/**
 * Expire untagged images after N days; keep the newest `keep` images whose tag matches `pattern`, and
 * the newest `keep` cosign signatures (`sha256-<hex>.sig`).
 *
 * ECR evaluates every rule, then applies them by priority: "An image that matches the tagging
 * requirements of a rule cannot be expired by a rule with a lower priority", yet a lower rule "can still
 * identify them" and count them (ECR user guide, "Lifecycle policies", evaluation rules and example A).
 * So when `pattern` also matches signature tags (`*`, the component's default), rule 2 counts images and
 * their signatures together: in a repository with signatures it keeps twice `keep`, as Artifact
 * Registry's cleanup does, and rule 3 would never apply.
 */
export function ecrLifecyclePolicy(
  pattern: string,
  keep: number,
  untaggedDays: number,
  signedImages = false,
) {
  const countsSignatures = ecrTagPatternMatches(pattern, `sha256-${"0".repeat(64)}.sig`);
  const doubled = countsSignatures && signedImages;
  return {
    rules: [
      {
        rulePriority: 1,
        description: `Expire untagged images after ${untaggedDays} days`,
        selection: {
          tagStatus: "untagged",
          countType: "sinceImagePushed",
          countUnit: "days",
          countNumber: untaggedDays,
        },
        action: { type: "expire" },
      },
      {
        rulePriority: 2,
        description: doubled
          ? `Keep the ${keep} most recent images tagged ${pattern}, and their signatures`
          : `Keep the ${keep} most recent images tagged ${pattern}`,
        selection: {
          tagStatus: "tagged",
          tagPatternList: [pattern],
          countType: "imageCountMoreThan",
          countNumber: doubled ? keep * 2 : keep,
        },
        action: { type: "expire" },
      },
      ...(countsSignatures ? [] : [signatureRule(keep)]),
    ],
  };
}

function signatureRule(keep: number) {
  return {
    // cosign's `.sig` images match no commit tag pattern: without this rule they never expire.
    // Each is pushed after its image, so the newest `keep` signatures are those of the images
    // rule 2 keeps: a kept image's signature is never expired.
    rulePriority: 3,
    description: `Keep the signatures of the ${keep} most recent images`,
    selection: {
      tagStatus: "tagged",
      tagPatternList: ["sha256-*.sig"],
      countType: "imageCountMoreThan",
      countNumber: keep,
    },
    action: { type: "expire" },
  };
}

/**
 * What an import of a hand-made repository may differ in: settings the console does not set (tag
 * immutability, scanning, encryption, tags) and `forceDelete`, which lives only in Pulumi's state and
 * reads back unset on import.
 */
export const ECR_ADOPTION_IGNORED = [
  "imageTagMutability",
  "imageTagMutabilityExclusionFilters",
  "imageScanningConfiguration",
  "encryptionConfigurations",
  "forceDelete",
  "tags",
] as const;

/** The actions a principal needs to pull an image by digest (what Lambda's service principal gets too). */
export const ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"] as const;

/**
 * The repository policy: Lambda pulls with its service principal, scoped to this account's functions;
 * each consumer account (a stack promoting from this one) may pull too. ARNs use the account's
 * partition, so `aws-cn` and `aws-us-gov` match.
 */
export function ecrRepositoryPolicy(p: {
  accountId: string;
  region: string;
  partition: string;
  pullAccounts: readonly string[];
}) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "LambdaECRImageRetrievalPolicy",
        Effect: "Allow",
        Principal: { Service: "lambda.amazonaws.com" },
        Action: [...ECR_PULL_ACTIONS],
        Condition: {
          StringLike: { "aws:sourceArn": `arn:${p.partition}:lambda:${p.region}:${p.accountId}:function:*` },
        },
      },
      ...(p.pullAccounts.length === 0
        ? []
        : [
            {
              Sid: "ConsumerAccountsPull",
              Effect: "Allow",
              Principal: { AWS: p.pullAccounts.map((acct) => `arn:${p.partition}:iam::${acct}:root`) },
              Action: [...ECR_PULL_ACTIONS, "ecr:BatchCheckLayerAvailability"],
            },
          ]),
    ],
  };
}
