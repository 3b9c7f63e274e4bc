/**
 * What the composition root needs from each deployment target (Cloud Run, Lambda): where a service's
 * image lives and how to push to it, and how to run the verified image. One adapter per target.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ContainerImage, RegistryAuth } from "../components";
import type { ServiceConfig } from "../lib/config/services";
import type { RegistryLogin } from "../lib/registry/login";

/** A service's image repository in this stack's registry. */
export interface ServiceRepository {
  /** `host/path/name`, no tag. */
  repositoryUrl: pulumi.Input<string>;
  /** The mutable BuildKit registry cache ref. */
  cacheRef: pulumi.Input<string>;
  /** Write the cache as an image manifest (a registry that stores nothing else). */
  cacheImageManifest: boolean;
  auth: RegistryAuth;
  /** How a promotion copy logs in to the source stack's registry holding `repositoryUrl`. */
  sourceLogin(sourceRepositoryUrl: string): RegistryLogin;
  /** `projects/<p>/attestors/<a>`: a promoted image is attested for it (Binary Authorization). */
  attestor?: pulumi.Input<string>;
}

export interface Target<S extends ServiceConfig> {
  repository(svc: S): ServiceRepository;
  /** Runs the verified image; returns the service's stack output. */
  deploy(svc: S, image: ContainerImage, appVersion: pulumi.Input<string>): pulumi.Output<unknown>;
}
