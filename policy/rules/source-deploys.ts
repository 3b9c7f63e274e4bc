/** Policy rules: No source-based deploys: Cloud Run runs images from Artifact Registry, Lambda runs container images. */
import type { PolicyConfigSchema } from "@pulumi/policy";
import {
  BUILD_IT,
  CLOUD_RUN_TYPES,
  TYPES,
  containersOf,
  globToRegExp,
  imageHost,
  read,
  resourcePolicy,
  ruleConfig,
  stringList,
  what,
} from "../core";

/**
 * Every annotation gcloud writes for a source deploy, read from gcloud's own source
 * (google-cloud-sdk 578.0.0, lib/googlecloudsdk; mirror google-cloud-sdk-unofficial/google-cloud-sdk
 * 4643fc9c). A build (`gcloud run deploy --source`, with a Dockerfile, buildpacks or `--function`)
 * writes the service-level `build-*` keys in command_lib/run/serverless_operations.py
 * `_AddRunFunctionsAnnotations` (constants in api_lib/run/service.py `RUN_FUNCTIONS_BUILD_*`), and
 * clears the deprecated ones of `_ClearRunFunctionsAnnotations` (service.py `*_DEPRECATED`), which
 * older releases wrote. A no-build source deploy (`gcloud beta run deploy --source --no-build`)
 * writes `sources` on the revision template (api_lib/run/revision.py `SOURCES_ANNOTATION`,
 * config_changes.py `SourcesAnnotationChange`). Automatic base-image updates, which rebuild the image
 * outside the pipeline, write `base-images` (revision.py `BASE_IMAGES_ANNOTATION`). gcloud sets no
 * label for any of these.
 */
export const SOURCE_DEPLOY_ANNOTATIONS = [
  // service.py RUN_FUNCTIONS_BUILD_*_ANNOTATION, RUN_FUNCTIONS_BUILD_BASE_IMAGE, _ENABLE_AUTOMATIC_UPDATES
  "run.googleapis.com/build-image-uri",
  "run.googleapis.com/build-id",
  "run.googleapis.com/build-environment-variables",
  "run.googleapis.com/build-source-location",
  "run.googleapis.com/build-function-target",
  "run.googleapis.com/build-worker-pool",
  "run.googleapis.com/build-service-account",
  "run.googleapis.com/build-name",
  "run.googleapis.com/build-base-image",
  "run.googleapis.com/build-enable-automatic-updates",
  // service.py RUN_FUNCTIONS_*_DEPRECATED
  "run.googleapis.com/source-location",
  "run.googleapis.com/function-target",
  "run.googleapis.com/image-uri",
  "run.googleapis.com/enable-automatic-updates",
  // revision.py SOURCES_ANNOTATION (service.py SOURCE_DEPLOY_NO_BUILD_SOURCE_LOCATION_ANNOTATION)
  "run.googleapis.com/sources",
  // revision.py BASE_IMAGES_ANNOTATION
  "run.googleapis.com/base-images",
] as const;

const SOURCE_DEPLOY_KEYS: ReadonlySet<string> = new Set(SOURCE_DEPLOY_ANNOTATIONS);

export const cloudRunNoSourceDeploy = resourcePolicy(
  "cloud-run-no-source-deploy",
  "Cloud Run (services, jobs, worker pools, v1 services) and Cloud Functions run only images built and verified outside them: no buildConfig, sourceCode, baseImageUri, source-build or base-image annotations, cloud-run-source-deploy images.",
  [...CLOUD_RUN_TYPES, TYPES.function2],
  ({ type, name, props }, report) => {
    const subject = what(type, name);
    if (type === TYPES.function2) {
      // Cloud Functions v2 always builds from source with Cloud Build (buildConfig.source).
      report(
        `${subject} is built from source by Cloud Build (buildConfig); ${BUILD_IT} and run it on Cloud Run`,
      );
      return;
    }
    if (props.buildConfig !== undefined && props.buildConfig !== null) {
      report(
        `${subject} has buildConfig: a source deploy (Cloud Build makes an image nobody verified); ${BUILD_IT}`,
      );
    }
    containersOf(type, props).forEach((c, i) => {
      if (c.sourceCode !== undefined && c.sourceCode !== null) {
        report(`${subject} container ${i} has sourceCode: a source deploy; ${BUILD_IT}`);
      }
      if (c.baseImageUri) {
        report(
          `${subject} container ${i} has baseImageUri ${c.baseImageUri}: automatic base image updates rebuild the image outside the pipeline; ${BUILD_IT}`,
        );
      }
      const image = read(() => c.image);
      if (
        image.known &&
        typeof image.value === "string" &&
        image.value.includes("/cloud-run-source-deploy/")
      ) {
        report(
          `${subject} container ${i} runs ${image.value}, an image from a source deploy (cloud-run-source-deploy); ${BUILD_IT}`,
        );
      }
    });
    const annotationSets = [
      props.annotations,
      props.metadata?.annotations,
      props.template?.annotations,
      props.template?.metadata?.annotations,
    ];
    for (const annotations of annotationSets) {
      for (const key of Object.keys(annotations ?? {})) {
        // Any `build-` key a later gcloud adds is a build too.
        if (SOURCE_DEPLOY_KEYS.has(key) || key.startsWith("run.googleapis.com/build-")) {
          report(`${subject} has the source-build annotation ${key}: a source deploy; ${BUILD_IT}`);
        }
      }
    }
  },
);

/** Defaults of cloud-run-image-from-artifact-registry's config (the pack config overrides them). */
export const ARTIFACT_REGISTRY_HOSTS = { allowedHosts: ["*-docker.pkg.dev"] };
const ARTIFACT_REGISTRY_HOSTS_SCHEMA: PolicyConfigSchema = {
  properties: {
    allowedHosts: stringList(
      "Registry hosts Cloud Run may pull from; `*` matches any characters.",
      ARTIFACT_REGISTRY_HOSTS.allowedHosts,
    ),
  },
};

export const cloudRunImageFromArtifactRegistry = resourcePolicy(
  "cloud-run-image-from-artifact-registry",
  "Cloud Run images come from Artifact Registry (<region>-docker.pkg.dev), not gcr.io, Docker Hub or unqualified names.",
  CLOUD_RUN_TYPES,
  (args, report) => {
    const { allowedHosts } = ruleConfig(ARTIFACT_REGISTRY_HOSTS, args);
    const patterns = allowedHosts.map(globToRegExp);
    containersOf(args.type, args.props).forEach((c, i) => {
      const image = read(() => c.image);
      if (!image.known || typeof image.value !== "string") return; // checked by the digest rule
      const host = imageHost(image.value);
      if (!patterns.some((p) => p.test(host))) {
        const kind =
          host === "docker.io"
            ? "Docker Hub (or an unqualified name)"
            : host === "gcr.io" || host.endsWith(".gcr.io")
              ? "Container Registry (gcr.io), which is shut down"
              : `the registry ${host}`;
        report(
          `${what(args.type, args.name)} container ${i} pulls ${image.value} from ${kind}; ` +
            `push it to Artifact Registry (allowed hosts: ${allowedHosts.join(", ")}) and deploy it by digest`,
        );
      }
    });
  },
  { configSchema: ARTIFACT_REGISTRY_HOSTS_SCHEMA },
);

export const lambdaImagePackageOnly = resourcePolicy(
  "lambda-image-package-only",
  "Lambda functions (aws and aws-native) ship container images (packageType Image), never zip archives.",
  [TYPES.lambda, TYPES.nativeLambda],
  ({ type, name, props }, report) => {
    // The zip inputs of @pulumi/aws 7.48 lambda.FunctionArgs (a local file is given as `code`, an
    // archive), and of aws-native's `code` object (zipFile, s3Bucket, s3Key, s3ObjectVersion).
    const zipFields =
      type === TYPES.nativeLambda
        ? ["zipFile", "s3Bucket", "s3Key", "s3ObjectVersion"]
            .filter((k) => props.code?.[k] !== undefined && props.code?.[k] !== null)
            .map((k) => `code.${k}`)
        : ["code", "s3Bucket", "s3Key", "s3ObjectVersion"].filter(
            (k) => props[k] !== undefined && props[k] !== null,
          );
    if (props.packageType !== "Image") {
      report(
        `Lambda function "${name}" has packageType ${JSON.stringify(props.packageType ?? "Zip")}: a zip deploy; ` +
          `set packageType: "Image" and imageUri to a verified ECR image by digest`,
      );
    }
    if (zipFields.length > 0) {
      report(
        `Lambda function "${name}" sets ${zipFields.join(", ")}: a zip/source deploy; remove ${zipFields.length === 1 ? "it" : "them"} ` +
          `and ship a container image (packageType: "Image", imageUri: <account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<digest>)`,
      );
    }
  },
);
