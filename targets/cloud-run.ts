/** The Cloud Run target: one Artifact Registry repository per stack, one CloudRunService per service. */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import {
  ArtifactRegistryRepository,
  BinaryAuthorizationAttestor,
  CloudRunService,
  type CloudRunServiceArgs,
} from "../components";
import type { StackConfig } from "../lib/config/parse";
import type { CloudRunServiceConfig } from "../lib/config/services";
import { CLOUD_RUN_SERVICE_TYPE } from "../components/cloud-run-service";
import { cloudRunAgentReaderKey, cloudRunServiceAgent } from "../lib/names";
import { cloudRunSettings, storesSignatures } from "../lib/service-plan";
import type { Target } from "./types";

// Every key of cloudRunSettings is a CloudRunService arg: a renamed arg fails to compile here
// instead of silently dropping the stack's value from the spread below.
type UnknownSettings = Exclude<keyof ReturnType<typeof cloudRunSettings>, keyof CloudRunServiceArgs>;
export const SETTINGS_ARE_ARGS: [UnknownSettings] extends [never] ? true : UnknownSettings = true;

export function cloudRunTarget(config: StackConfig): Target<CloudRunServiceConfig> {
  const gcpConfig = config.gcp!;
  const ar = gcpConfig.artifactRegistry;
  const registry = new ArtifactRegistryRepository("images", {
    project: ar.project,
    location: ar.location,
    repositoryId: ar.repositoryId,
    // A promoting stack builds nothing, so it needs no build cache.
    cacheRepositoryId: config.builds ? ar.cacheRepositoryId : undefined,
    keepTaggedVersions: ar.keepTaggedVersions,
    signedImages: storesSignatures(config, "cloudrun"),
    deleteUntaggedAfterDays: ar.deleteUntaggedAfterDays,
    adoptExisting: ar.adoptExisting,
    protect: config.protectRegistries,
    // A promoting stack reads staging's repository with its own deployer: staging grants it here.
    readers: config.imageConsumers.gcpMembers,
  });
  // Looked up once per stack, not per service.
  const auth = registry.registryAuth();
  // A promoting stack's Binary Authorization attestor, holding the source stack's key (parse.ts
  // requires signatureKeys.gcp for promoted Cloud Run images and binaryAuthorization only when promoting).
  const binauthz = config.binaryAuthorization;
  const publicKeyPem = config.signatureKeys?.gcp;
  const attestor =
    binauthz && publicKeyPem
      ? new BinaryAuthorizationAttestor("binauthz", {
          project: gcpConfig.project,
          attestorId: binauthz.attestor,
          publicKeyPem,
        })
      : undefined;
  // Cloud Run pulls with its project's service agent: when the repository is another project's, that
  // agent reads it. One grant of one binding for every service (it was one per service before, named
  // `<service>-image-reader` under the first service: the alias keeps that one).
  const services = config.services.filter((s) => s.target === "cloudrun");
  const crossProject = ar.project !== gcpConfig.project && services.length > 0;
  const serviceAgent = crossProject
    ? gcp.organizations
        .getProjectOutput({ projectId: gcpConfig.project }, { parent: registry })
        .number.apply((n) => cloudRunServiceAgent(n))
    : undefined;
  const imageAccess =
    serviceAgent === undefined
      ? []
      : [
          registry.grantReader(serviceAgent, cloudRunAgentReaderKey(gcpConfig.project), {
            aliases: [
              {
                name: `${services[0]!.name}-image-reader`,
                parent: pulumi.createUrn(services[0]!.name, CLOUD_RUN_SERVICE_TYPE),
              },
            ],
          }),
        ];
  return {
    repository: (svc) => ({
      ...registry.serviceImage(svc.name, svc.platform),
      cacheImageManifest: false,
      auth,
      sourceLogin: () => ({ kind: "gcp" }),
      ...(attestor && binauthz?.enforce ? { attestor: attestor.attestorName } : {}),
    }),
    deploy: (svc, image, appVersion) => {
      const run = new CloudRunService(svc.name, {
        ...cloudRunSettings(config, svc),
        project: gcpConfig.project,
        region: gcpConfig.region,
        image,
        appVersion,
        // The deployed commit names the release (a rollback deploys an earlier image at this commit).
        release: config.commit.sha,
        imageAccess,
      });
      // Before issue 21 every other service had its own grant of that binding, `<service>-image-reader`.
      // Deleting it would revoke the kept grant's binding (a Google IAM member delete removes the member
      // whatever else holds it), and `pulumi state delete` refuses while the state lists dependents. So
      // a stack made then (keepRetainedGrants) keeps it registered as it was, retained: no cloud call,
      // and turning the key off later only drops it from the state. A new stack never registers it.
      if (config.keepRetainedGrants && serviceAgent !== undefined && svc.name !== services[0]!.name) {
        new gcp.artifactregistry.RepositoryIamMember(
          `${svc.name}-image-reader`,
          {
            project: ar.project,
            location: ar.location,
            repository: ar.repositoryId,
            role: "roles/artifactregistry.reader",
            member: serviceAgent,
          },
          { parent: run, retainOnDelete: true },
        );
      }
      return pulumi.output({
        target: "cloudrun",
        url: run.url,
        imageRef: run.imageRef,
        serviceAccount: run.serviceAccountEmail,
      });
    },
  };
}
