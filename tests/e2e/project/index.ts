/**
 * The e2e suite's Pulumi program: the product's own ContainerImage component, for linux/amd64 and
 * linux/arm64, against the local registry, run by the real engine with the real docker-build provider
 * and BuildKit (tests/e2e/pipeline.test.ts). Config (`e2e:*`): registry host, commit, and switches that
 * re-create known failures on purpose.
 */
import * as dockerbuild from "@pulumi/docker-build";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { e2eProgramConfig } from "../program-config";
import { ContainerImage } from "../../../components/container-image";
import { registryExport } from "../../../lib/image-export";
import { cacheTag, imageTag } from "../../../lib/image-tag";
import type { Platform } from "../../../lib/platform";

const { config, registry, commit, auth } = e2eProgramConfig();

const images: Record<string, pulumi.Output<unknown>> = {};
for (const platform of ["linux/amd64", "linux/arm64"] as Platform[]) {
  const arch = platform.split("/")[1]!;
  const inputs = { platform, context: "apps/hello", dockerfile: "Dockerfile", buildArgs: {} };
  const image = new ContainerImage(`hello-${arch}`, {
    repositoryUrl: `${registry}/e2e/hello`,
    platform,
    tag: imageTag(commit, inputs),
    commit,
    registryAuth: auth,
    build: {
      context: inputs.context,
      dockerfile: inputs.dockerfile,
      cacheRef: `${registry}/e2e/cache:${cacheTag("hello", platform)}`,
    },
  });
  images[arch] = pulumi.output({
    imageRef: image.imageRef,
    digest: image.digest,
    tag: image.tag,
    platform,
    verified: image.verification.stdout,
  });
}

// Issue 12's push defect, put back on purpose: the commit tag on a build that pushes by digest.
if (config.getBoolean("pushDefect")) {
  new dockerbuild.Image("defect", {
    context: { location: "apps/hello" },
    platforms: ["linux/amd64"],
    push: false,
    tags: [`${registry}/e2e/defect:${commit.sha}-amd64`],
    exports: [{ raw: registryExport(`${registry}/e2e/defect`) }],
    registries: [{ address: registry, username: auth.username, password: pulumi.secret(auth.password) }],
  });
}

// What the policy pack must block, put in on purpose: the seeds' multi-platform build through the
// docker CLI (exec: true turns BuildKit's provenance back on), and a service that runs a tag instead
// of a digest (the gcp plugin is the suite's stand-in; the engine only previews it).
if (config.getBoolean("policyViolation")) {
  new gcp.cloudrunv2.Service("tagged", {
    project: "acme-e2e",
    location: "us-central1",
    template: {
      serviceAccount: "tagged-run@acme-e2e.iam.gserviceaccount.com",
      containers: [{ image: `us-central1-docker.pkg.dev/acme-e2e/apps/hello:${commit.sha}-amd64` }],
    },
  });
  new dockerbuild.Image("seed-build", {
    context: { location: "apps/hello" },
    platforms: ["linux/amd64", "linux/arm64"],
    exec: true,
    push: false,
    exports: [{ raw: registryExport(`${registry}/e2e/seed`) }],
  });
}

export const result = images;
