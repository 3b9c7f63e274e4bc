/** Policy rules: Registries keep tags immutable (a labelled build cache excepted) and scan what is pushed. */
import type { PolicyConfigSchema } from "@pulumi/policy";
import { COMMIT_TAG_EXAMPLES, TYPES, globToRegExp, resourcePolicy, ruleConfig } from "../core";

/** Defaults of registry-immutable-tags's config (the pack config overrides them). */
export const IMMUTABLE_TAGS = { cacheLabel: "multicloud-deploy-role", cacheLabelValue: "build-cache" };
const IMMUTABLE_TAGS_SCHEMA: PolicyConfigSchema = {
  properties: {
    cacheLabel: {
      type: "string",
      default: IMMUTABLE_TAGS.cacheLabel,
      description: "Label that marks an Artifact Registry repository as a mutable build cache.",
    },
    cacheLabelValue: { type: "string", default: IMMUTABLE_TAGS.cacheLabelValue },
  },
};

export const registryImmutableTags = resourcePolicy(
  "registry-immutable-tags",
  "Registries refuse to move a tag: ECR IMMUTABLE (or IMMUTABLE_WITH_EXCLUSION for cache tags), Artifact Registry immutableTags (cache repositories exempt by label).",
  [TYPES.ecrRepository, TYPES.arRepository, TYPES.ecrCreationTemplate],
  (args, report) => {
    const { type, name, props } = args;
    if (type === TYPES.ecrRepository || type === TYPES.ecrCreationTemplate) {
      const mutability = props.imageTagMutability ?? "MUTABLE";
      if (mutability !== "IMMUTABLE" && mutability !== "IMMUTABLE_WITH_EXCLUSION") {
        report(
          `${type === TYPES.ecrCreationTemplate ? `ECR repository creation template "${name}" (repositories created on push)` : `ECR repository "${name}"`} has imageTagMutability ${mutability}; set IMMUTABLE (or IMMUTABLE_WITH_EXCLUSION for the build-cache tag prefix only)`,
        );
      }
      for (const f of (props.imageTagMutabilityExclusionFilters ?? []) as Array<{ filter?: string }>) {
        // A filter that lets any commit tag move is as bad as "*": test it on the tags builds get.
        const matches = COMMIT_TAG_EXAMPLES.some((t) => globToRegExp(f.filter ?? "").test(t));
        if (mutability === "IMMUTABLE_WITH_EXCLUSION" && matches) {
          report(
            `ECR repository "${name}" lets commit tags move: the exclusion filter "${f.filter}" matches tags like ${COMMIT_TAG_EXAMPLES[0]}; exempt only the cache prefix, e.g. "buildcache-*"`,
          );
        }
      }
      return;
    }
    if (props.format !== undefined && String(props.format).toUpperCase() !== "DOCKER")
      args.notApplicable("not a Docker repository");
    const { cacheLabel, cacheLabelValue } = ruleConfig(IMMUTABLE_TAGS, args);
    if (props.labels?.[cacheLabel] === cacheLabelValue) return;
    if (props.dockerConfig?.immutableTags !== true) {
      report(
        `Artifact Registry repository "${name}" allows tags to move; set dockerConfig.immutableTags: true ` +
          `(a build-cache repository is exempt when labelled ${cacheLabel}: ${cacheLabelValue})`,
      );
    }
  },
  { configSchema: IMMUTABLE_TAGS_SCHEMA },
);

export const ecrScanOnPush = resourcePolicy(
  "ecr-scan-on-push",
  "ECR repositories scan images on push.",
  [TYPES.ecrRepository],
  ({ name, props }, report) => {
    if (props.imageScanningConfiguration?.scanOnPush !== true) {
      report(
        `ECR repository "${name}" does not scan on push; set imageScanningConfiguration.scanOnPush: true`,
      );
    }
  },
  { enforcementLevel: "advisory" },
);
