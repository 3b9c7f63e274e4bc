/**
 * The multicloud-deploy CrossGuard pack, as a catalogue: every rule, by family (./rules/*.ts, each
 * rule's logic, messages and config defaults in one file), in the order the pack reports them. This
 * module only defines policies (no server): the pack's entry point (index.ts) hands them to
 * `new PolicyPack`, the tests and the offline plan call them directly. It is self-contained (no
 * imports from the program) so `pulumi policy publish` can ship this directory alone.
 *
 * Unknown values: during `pulumi preview` an image digest is not known yet, and the SDK turns a read
 * of an unknown value into an advisory "can't run during preview". The digest rules do better: they
 * are stack policies, and where the image is unknown they check that the property depends on a
 * docker-build image and on its verification Command, so a preview still proves the service will run
 * a verified build by digest.
 */
import type { EnforcementLevel, Policies } from "@pulumi/policy";
import {
  cloudRunImagePinnedByDigest,
  lambdaArchitectureMatchesImage,
  lambdaImagePinnedByDigest,
} from "./rules/digests";
import {
  PLAINTEXT_SECRETS,
  PUBLIC_EXPOSURE,
  cloudRunDedicatedServiceAccount,
  noPlaintextSecretsInEnv,
  publicExposureRequiresOptIn,
} from "./rules/identity";
import {
  imageBuildCommitShaTag,
  imageBuildNoAttestations,
  imageBuildSinglePlatform,
} from "./rules/image-builds";
import { IMMUTABLE_TAGS, ecrScanOnPush, registryImmutableTags } from "./rules/registries";
import { lambdaTrafficThroughAlias } from "./rules/traffic";
import { imageSignedAndScanned } from "./rules/supply-chain";
import {
  ARTIFACT_REGISTRY_HOSTS,
  cloudRunImageFromArtifactRegistry,
  cloudRunNoSourceDeploy,
  lambdaImagePackageOnly,
} from "./rules/source-deploys";

export * from "./core";

/** Every configurable rule's defaults, by rule name (what `policy/config.<stack>.json` overrides). */
export const DEFAULTS = {
  "cloud-run-image-from-artifact-registry": ARTIFACT_REGISTRY_HOSTS,
  "no-plaintext-secrets-in-env": PLAINTEXT_SECRETS,
  "registry-immutable-tags": IMMUTABLE_TAGS,
  "public-exposure-requires-opt-in": PUBLIC_EXPOSURE,
};
export type PackConfig = {
  [K in keyof typeof DEFAULTS]: {
    -readonly [P in keyof (typeof DEFAULTS)[K]]: (typeof DEFAULTS)[K][P] extends readonly (infer E)[]
      ? E[]
      : (typeof DEFAULTS)[K][P];
  };
};

export const policies: Policies = [
  cloudRunNoSourceDeploy,
  cloudRunImageFromArtifactRegistry,
  cloudRunImagePinnedByDigest,
  lambdaImagePackageOnly,
  lambdaImagePinnedByDigest,
  imageBuildSinglePlatform,
  imageBuildNoAttestations,
  imageBuildCommitShaTag,
  lambdaArchitectureMatchesImage,
  registryImmutableTags,
  ecrScanOnPush,
  noPlaintextSecretsInEnv,
  cloudRunDedicatedServiceAccount,
  publicExposureRequiresOptIn,
  lambdaTrafficThroughAlias,
  imageSignedAndScanned,
];

export const PACK_NAME = "multicloud-deploy";
export const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";
