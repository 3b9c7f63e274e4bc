/** Policy rules: Services run verified images by digest; a Lambda's architecture is its image's platform. */
import {
  ARCH_FOR_PLATFORM,
  DIGEST_REF,
  ECR_DIGEST_REF,
  TYPES,
  containersOf,
  eachResource,
  imageRepository,
  isCloudRun,
  isVerifyCommand,
  knownImageProblem,
  platformsByRepository,
  read,
  stackPolicy,
  unknownImageProblem,
  what,
} from "../core";

export const cloudRunImagePinnedByDigest = stackPolicy(
  "cloud-run-image-pinned-by-digest",
  "Cloud Run images are pinned by digest (repo@sha256:<64 hex>), or, during preview, depend on a verified docker-build image.",
  (args, report) => {
    eachResource(
      args.resources,
      (x) => isCloudRun(x.type),
      (r) => {
        const containers = read(() => containersOf(r.type, r.props));
        if (!containers.known) {
          // The whole container list is unknown: the proof is still owed, through the template's dependencies.
          const problem = unknownImageProblem(r, "template");
          if (problem) report(`${what(r.type, r.name)}: ${problem}`, r.urn);
          return;
        }
        containers.value.forEach((c, i) => {
          const image = read(() => c.image);
          const subject = `${what(r.type, r.name)} container ${i}`;
          if (!image.known) {
            const problem = unknownImageProblem(r, "template");
            if (problem) report(`${subject}: ${problem}`, r.urn);
            return;
          }
          if (typeof image.value !== "string" || !DIGEST_REF.test(image.value)) {
            report(
              `${subject} runs ${JSON.stringify(image.value)}, a tag that can move (or be rebuilt for another platform); ` +
                "deploy the verified digest instead: <repo>@sha256:<64 hex> (ContainerImage.imageRef)",
              r.urn,
            );
            return;
          }
          const problem = knownImageProblem(r, "template", image.value);
          if (problem) report(`${subject}: ${problem}`, r.urn);
        });
      },
    );
  },
);

export const lambdaImagePinnedByDigest = stackPolicy(
  "lambda-image-pinned-by-digest",
  "Lambda imageUri is an ECR image pinned by digest (<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:…), or, during preview, depends on a verified docker-build image.",
  (args, report) => {
    eachResource(
      args.resources,
      (x) => x.type === TYPES.lambda || x.type === TYPES.nativeLambda,
      (r) => {
        if (r.props.packageType !== "Image") return; // lambda-image-package-only reports it
        // aws-native nests the image under `code` (code.imageUri).
        const native = r.type === TYPES.nativeLambda;
        const uri = read(() => (native ? r.props.code?.imageUri : r.props.imageUri) as string | undefined);
        if (!uri.known) {
          const problem = unknownImageProblem(r, native ? "code" : "imageUri");
          if (problem) report(`Lambda function "${r.name}": ${problem}`, r.urn);
          return;
        }
        if (typeof uri.value !== "string" || !ECR_DIGEST_REF.test(uri.value)) {
          report(
            `Lambda function "${r.name}" has imageUri ${JSON.stringify(uri.value)}; use an ECR image by digest: ` +
              "<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<64 hex> (ContainerImage.imageRef)",
            r.urn,
          );
          return;
        }
        const problem = knownImageProblem(r, native ? "code" : "imageUri", uri.value);
        if (problem) report(`Lambda function "${r.name}": ${problem}`, r.urn);
      },
    );
  },
);

/** The platform an image repository was built (docker-build) or verified (verify-image --platform) for. */

export const lambdaArchitectureMatchesImage = stackPolicy(
  "lambda-architecture-matches-image",
  "Each Lambda's architecture equals the platform its image was built and verified for.",
  (args, report) => {
    const platforms = platformsByRepository(args.resources);
    eachResource(
      args.resources,
      (x) => x.type === TYPES.lambda,
      (r) => {
        const uri = read(() => r.props.imageUri as string | undefined);
        const archs = read(() => (r.props.architectures ?? ["x86_64"]) as string[]);
        if (!archs.known) return;
        const arch = archs.value[0] ?? "x86_64";
        let repo: string | undefined;
        if (uri.known && uri.value) repo = imageRepository(uri.value);
        else {
          // Unknown at preview: follow the imageUri's dependency on its verification.
          const verify = (r.propertyDependencies.imageUri ?? []).find(isVerifyCommand);
          const image =
            verify &&
            [...(r.propertyDependencies.imageUri ?? []), ...verify.dependencies].find(
              (d) => d.type === TYPES.image,
            );
          const p = image && read(() => (image.props.platforms ?? []) as string[]);
          if (p && p.known) {
            for (const platform of p.value) {
              if (ARCH_FOR_PLATFORM[platform] !== arch) {
                report(
                  `Lambda function "${r.name}" is ${arch} but its image "${image!.name}" is built for ${platform}; derive architectures from the image platform`,
                  r.urn,
                );
              }
            }
          }
          return;
        }
        const built = platforms.get(repo);
        if (!built) return; // an image from outside this stack: nothing to compare with
        for (const platform of built) {
          if (ARCH_FOR_PLATFORM[platform] !== arch) {
            report(
              `Lambda function "${r.name}" is ${arch} but its image ${repo} is built for ${platform} ` +
                `(Lambda fails with "image manifest, config or layer media type … not supported"); ` +
                `derive architectures from the image platform (${platform} → ${ARCH_FOR_PLATFORM[platform] ?? "unsupported"})`,
              r.urn,
            );
          }
        }
      },
    );
  },
);
