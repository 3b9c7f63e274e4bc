/**
 * Pure decisions the composition root makes per service, from the validated config: where its image
 * comes from (build, promotion or rollback) and the plain arguments of its components. No Pulumi
 * resources here (tests/lib/service-plan.test.ts).
 */
import type { StackConfig } from "./config/parse";
import type { CloudRunServiceConfig, LambdaServiceConfig, ServiceConfig } from "./config/services";
import { imageTag, type BuildInputs } from "./image-tag";
import type { ImageOutput } from "./promotion";
import { stackOfName } from "./names";
import { kmsKeyRegion } from "./signing/keys";
import type { SigningKey } from "./signing/step";

/** Where a service's image comes from, and which commit it is. */
export type ImageSource =
  /** Built here from the checked-out commit. */
  | { kind: "build"; tag: string; commitSha: string; inputs: BuildInputs }
  /** Copied by digest from the source stack's registry (`promoteFrom`). */
  | { kind: "promote"; image: ImageOutput; tag: string; commitSha: string }
  /** An earlier image of this stack's own registry (`rollback`): nothing is copied, only checked. */
  | { kind: "rollback"; digest: string; tag: string; commitSha: string };

/** The source the config decided (StackConfig.imageSources), with what it needs. */
export function imageSource(
  config: Pick<StackConfig, "rollback" | "commit" | "imageSources">,
  svc: ServiceConfig,
  promoted: Record<string, ImageOutput> | undefined,
): ImageSource {
  const kind = config.imageSources[svc.name] as "build" | "promote" | "rollback" | undefined;
  if (kind === undefined) throw new Error(`the config decided no image source for ${svc.name}`);
  if (kind === "rollback") return { kind: "rollback", ...config.rollback[svc.name]! };
  if (kind === "promote") {
    const image = promoted?.[svc.name];
    // program.ts readPromotedImages reads one for every promoted service, or stops the program.
    if (!image) throw new Error(`no promoted image was read for ${svc.name}`);
    return { kind: "promote", image, tag: image.tag, commitSha: image.commitSha };
  }
  const inputs: BuildInputs = {
    platform: svc.platform,
    context: svc.context,
    dockerfile: svc.dockerfile,
    buildArgs: svc.buildArgs,
    buildTarget: svc.buildTarget,
  };
  return { kind: "build", tag: imageTag(config.commit, inputs), commitSha: config.commit.sha, inputs };
}

/** Where an image lives, as imageArgs needs it (a target's ServiceRepository; values are plain or outputs). */
export interface ImageRepository<V, L> {
  repositoryUrl: V;
  cacheRef: V;
  cacheImageManifest: boolean;
  /** How this stack's own steps log in to the repository. */
  login: L;
  /** How a promotion copy logs in to the source stack's registry holding a repository. */
  sourceLogin(sourceRepositoryUrl: string): L;
  /** The Binary Authorization attestor a promoted or rolled-back image is attested for. @default - none */
  attestor?: V;
}

/**
 * The image half of ContainerImage's arguments for a source: the build settings, or the image to
 * copy in. Promotion copies the source stack's verified image by digest into this stack's own
 * registry (prod never depends on staging's, whose cleanup may delete old images); a rollback
 * "copies" within this registry, which proves the image is still there.
 */
type ImageArgsConfig = Pick<
  StackConfig,
  | "buildOnPreview"
  | "builder"
  | "sourceUrl"
  | "signing"
  | "signatureKeys"
  | "stack"
  | "aws"
  | "promoteFrom"
  | "scanGate"
>;

export function imageArgs<V, L>(
  config: ImageArgsConfig,
  svc: ServiceConfig,
  source: ImageSource,
  repo: ImageRepository<V, L>,
) {
  // Every image, built, promoted or rolled back to, passes this stack's registry's scan.
  const origin = imageOrigin(config, svc, source, repo);
  // A promoting stack's Cloud Run images are attested last, with the payload the source stack signed.
  const attest =
    repo.attestor !== undefined && "promoted" in origin && origin.promoted?.signature !== undefined;
  return {
    scanGate: config.scanGate,
    ...origin,
    ...(attest ? { attestation: { attestor: repo.attestor! } } : {}),
  };
}

function imageOrigin<V, L>(
  config: ImageArgsConfig,
  svc: ServiceConfig,
  source: ImageSource,
  repo: ImageRepository<V, L>,
) {
  switch (source.kind) {
    case "build": {
      const key = signingKey(config, svc);
      return {
        ...(key ? { signing: { key, stack: config.stack } } : {}),
        build: {
          context: svc.context,
          dockerfile: svc.dockerfile,
          buildArgs: svc.buildArgs,
          target: svc.buildTarget,
          cacheRef: repo.cacheRef,
          cacheImageManifest: repo.cacheImageManifest,
          buildOnPreview: config.buildOnPreview,
          builder: config.builder,
          sourceUrl: config.sourceUrl,
        },
      };
    }
    case "promote":
      return {
        promoted: {
          sourceRepositoryUrl: source.image.repositoryUrl,
          digest: source.image.digest,
          sourceLogin: repo.sourceLogin(source.image.repositoryUrl),
          ...requiredSignature(config, svc, source.commitSha),
        },
      };
    case "rollback":
      // A promoting stack's rollback checks the signature its promotion copied here, for that commit.
      return {
        promoted: {
          sourceRepositoryUrl: repo.repositoryUrl,
          digest: source.digest,
          sourceLogin: repo.login,
          ...requiredSignature(config, svc, source.commitSha),
        },
      };
  }
}

/**
 * The source stack's signature a promoting stack requires of an image of `svc` made at `commit`: by
 * its cloud's pinned public key (parse.ts signingProblems requires one per promoted cloud), with the
 * source stack's name as the `stack` claim. Nothing in a stack that promotes from none.
 */
function requiredSignature(
  config: Pick<StackConfig, "signatureKeys" | "promoteFrom">,
  svc: ServiceConfig,
  commit: string,
): { signature?: { publicKeyPem: string; commit: string; stack: string } } {
  const publicKeyPem = config.signatureKeys?.[svc.target === "cloudrun" ? "gcp" : "aws"];
  return publicKeyPem && config.promoteFrom
    ? { signature: { publicKeyPem, commit, stack: stackOfName(config.promoteFrom) } }
    : {};
}

/**
 * Whether this stack's registry for `target` holds a cosign signature beside each image: it signs
 * what it builds there, or copies the source stack's signature with each promoted image. The
 * registry's cleanup counts those apart (ArtifactRegistryRepository `signedImages`; ECR's rule 3).
 */
export function storesSignatures(
  config: Pick<StackConfig, "builds" | "signing" | "signatureKeys" | "promoteFrom">,
  target: ServiceConfig["target"],
): boolean {
  return config.builds
    ? (target === "cloudrun" ? config.signing?.gcpKmsKey : config.signing?.awsKmsKey) !== undefined
    : config.promoteFrom !== undefined &&
        config.signatureKeys?.[target === "cloudrun" ? "gcp" : "aws"] !== undefined;
}

/**
 * The KMS key that signs a built image of `svc` (its cloud's key in `signing`), or undefined when the
 * stack does not sign. An AWS key's region is its ARN's, else the stack's `aws:region`.
 */
export function signingKey(
  config: Pick<StackConfig, "signing" | "aws">,
  svc: ServiceConfig,
): SigningKey | undefined {
  if (svc.target === "cloudrun") {
    const keyVersion = config.signing?.gcpKmsKey;
    return keyVersion ? { cloud: "gcp", keyVersion } : undefined;
  }
  const keyId = config.signing?.awsKmsKey;
  if (!keyId) return undefined;
  const region = kmsKeyRegion(keyId) ?? config.aws?.region;
  return region ? { cloud: "aws", keyId, region } : undefined;
}

/** A Cloud Run service's settings as CloudRunService takes them (all but the image and version). */
export function cloudRunSettings(
  config: Pick<StackConfig, "deletionProtection" | "nodeEnv" | "binaryAuthorization" | "keepRetainedGrants">,
  svc: CloudRunServiceConfig,
) {
  return {
    nodeEnv: config.nodeEnv,
    env: svc.env,
    secrets: svc.secrets,
    port: svc.port,
    cpu: svc.cpu,
    memory: svc.memory,
    cpuIdle: svc.cpuIdle,
    startupCpuBoost: svc.startupCpuBoost,
    concurrency: svc.concurrency,
    timeoutSeconds: svc.timeoutSeconds,
    minInstances: svc.minInstances,
    maxInstances: svc.maxInstances,
    ingress: svc.ingress,
    healthPath: svc.healthPath,
    exposure: svc.exposure,
    invokers: svc.invokers,
    deletionProtection: config.deletionProtection,
    keepRetainedGrants: config.keepRetainedGrants,
    binaryAuthorization: config.binaryAuthorization?.enforce === true,
    healthGate: svc.healthGate,
    healthGateRetry: svc.healthGateRetry,
    healthGateServiceAccount: svc.healthGateServiceAccount,
    grantPropagationSeconds: svc.grantPropagationSeconds,
    rollout: svc.rollout,
  };
}

/** A Lambda function's settings as LambdaFunction takes them (all but the image, version and secret ARNs). */
export function lambdaSettings(config: Pick<StackConfig, "nodeEnv">, svc: LambdaServiceConfig) {
  return {
    functionName: svc.functionName,
    nodeEnv: config.nodeEnv,
    env: svc.env,
    secretsKmsKeyArn: svc.secretsKmsKeyArn,
    memorySize: svc.memory,
    timeout: svc.timeoutSeconds,
    ephemeralStorageMb: svc.ephemeralStorageMb,
    reservedConcurrency: svc.reservedConcurrency,
    imageConfig: svc.imageConfig,
    logRetentionDays: svc.logRetentionDays,
    functionUrl: svc.functionUrl,
    exposure: svc.exposure,
    healthGate: svc.healthGate,
    healthGateRetry: svc.healthGateRetry,
    healthPath: svc.healthPath,
    rollout: svc.rollout,
  };
}
