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
        // Source builds, and automatic base-image updates (which rebuild the image outside the pipeline).
        if (
          key.startsWith("run.googleapis.com/build-") ||
          key === "run.googleapis.com/source-location" ||
          key === "run.googleapis.com/base-images"
        ) {
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
