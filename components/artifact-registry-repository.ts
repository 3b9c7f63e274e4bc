import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { cacheTag } from "../lib/image-tag";
import type { Platform } from "../lib/platform";
import { ComponentArgError } from "../lib/errors";
import { REGISTRY_DEFAULTS } from "../lib/service-defaults";
import { transform, type Transform } from "../lib/transform";
import type { RegistryAuth } from "./container-image";
import { artifactRegistryHost, legacyArtifactRegistryReaderKey, memberSlug } from "../lib/names";

export const ARTIFACT_REGISTRY_REPOSITORY_TYPE = "multicloud:gcp:ArtifactRegistryRepository";

/** Label that marks a repository as a build cache; the policy pack exempts it from the immutable-tag rule. */
export const CACHE_REPOSITORY_LABEL = { "multicloud-deploy-role": "build-cache" } as const;

export interface ArtifactRegistryRepositoryArgs {
  /** GCP project. Plain: adopting a repository needs its import id while the program runs. */
  project: string;
  /** Region, e.g. `us-central1`. Plain: it names the registry host that images are pushed to. */
  location: string;
  /** Repository id for service images. */
  repositoryId: string;
  /**
   * Repository id for the build cache. Plain: it decides whether the cache repository exists.
   * @default - no cache repository (a stack that only promotes images builds nothing)
   */
  cacheRepositoryId?: string;
  /**
   * How many of the most recent versions cleanup never deletes.
   * @default 20
   */
  keepTaggedVersions?: number;
  /**
   * Each image has a cosign signature (`sha256-<hex>.sig`) beside it, a version of the same package
   * (docs/signing.md). Cleanup then keeps twice as many of the most recent versions: the images it
   * keeps and their signatures, which are always newer than their image, so it never deletes the
   * signature of an image it keeps, and the signatures do not eat into `keepTaggedVersions`.
   * @default false
   */
  signedImages?: boolean;
  /**
   * Untagged versions (left by failed verifications) are deleted after this many days.
   * @default 7
   */
  deleteUntaggedAfterDays?: number;
  /**
   * Adopt repositories that already exist (Pulumi `import`) instead of failing with "already exists".
   * The import takes each repository as it is (AR_ADOPTION_IGNORED lists what a hand-made one lacks;
   * an import whose inputs differ from the existing resource fails); turn it off on the next update
   * and this component's settings apply. Plain: it decides resource options.
   * @default false
   */
  adoptExisting?: boolean;
  /**
   * `protect` and `retainOnDelete`, so `pulumi destroy` cannot delete the images a service runs.
   * @default true
   */
  protect?: boolean;
  labels?: Record<string, string>;
  /**
   * IAM members that may pull from the image repository (`roles/artifactregistry.reader`), e.g. the
   * deployer of a stack that promotes from this one. Plain: each is a child resource.
   * @default []
   */
  readers?: string[];
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    repository?: Transform<gcp.artifactregistry.RepositoryArgs>;
    cacheRepository?: Transform<gcp.artifactregistry.RepositoryArgs>;
    readerGrant?: Transform<gcp.artifactregistry.RepositoryIamMemberArgs>;
  };
}

/** The id Pulumi's `import` needs for an Artifact Registry repository. */
export function artifactRegistryImportId(project: string, location: string, repositoryId: string): string {
  return `projects/${project}/locations/${location}/repositories/${repositoryId}`;
}

/**
 * A Docker repository in Artifact Registry with immutable tags and cleanup policies (vulnerability
 * scanning follows the project's setting: `INHERITED`), plus a second, mutable repository for the
 * BuildKit registry cache.
 *
 * Why two: BuildKit rewrites its cache tag on every build, and Artifact Registry's immutable tags have
 * no per-tag exception. Keeping the cache apart keeps every image tag immutable while the cache can
 * still move; the cache repository holds nothing a service runs, so it also gets a short cleanup.
 */
export class ArtifactRegistryRepository extends pulumi.ComponentResource {
  /** `us-central1-docker.pkg.dev/<project>/<repositoryId>`: prefix of every image in it. */
  readonly repositoryUrl: pulumi.Output<string>;
  readonly cacheRepositoryUrl: pulumi.Output<string> | undefined;
  /** Registry host, the address to authenticate against. */
  readonly host: string;
  readonly repository: gcp.artifactregistry.Repository;
  readonly cacheRepository: gcp.artifactregistry.Repository | undefined;
  /** Reader grants on the image repository, by member. */
  readonly readerGrants: gcp.artifactregistry.RepositoryIamMember[] = [];

  private readonly name: string;
  private readonly grantsByName = new Map<string, gcp.artifactregistry.RepositoryIamMember>();
  private readonly transforms: ArtifactRegistryRepositoryArgs["transform"];

  constructor(name: string, args: ArtifactRegistryRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super(ARTIFACT_REGISTRY_REPOSITORY_TYPE, name, {}, opts);
    this.name = name;
    this.transforms = args.transform;
    const a = normalizeArtifactRegistryArgs(args);
    this.host = artifactRegistryHost(a.location);
    const keep = { protect: a.protect, retainOnDelete: a.protect };
    const importOpt = (id: string) =>
      a.adoptExisting
        ? {
            import: artifactRegistryImportId(a.project, a.location, id),
            ignoreChanges: [...AR_ADOPTION_IGNORED],
          }
        : {};

    this.repository = new gcp.artifactregistry.Repository(
      ...transform(args.transform?.repository, `${name}-repo`, imageRepositoryArgs(a), {
        parent: this,
        ...keep,
        ...importOpt(a.repositoryId),
      }),
    );

    this.cacheRepository =
      a.cacheRepositoryId === undefined
        ? undefined
        : new gcp.artifactregistry.Repository(
            ...transform(
              args.transform?.cacheRepository,
              `${name}-cache`,
              cacheRepositoryArgs(a, a.cacheRepositoryId),
              { parent: this, ...importOpt(a.cacheRepositoryId) },
            ),
          );

    this.repositoryUrl = pulumi.interpolate`${this.host}/${this.repository.project}/${this.repository.repositoryId}`;
    this.cacheRepositoryUrl = this.cacheRepository
      ? pulumi.interpolate`${this.host}/${this.cacheRepository.project}/${this.cacheRepository.repositoryId}`
      : undefined;
    for (const member of a.readers) this.grantReader(member);
    this.registerOutputs({ repositoryUrl: this.repositoryUrl, cacheRepositoryUrl: this.cacheRepositoryUrl });
  }

  /**
   * Where a service's images and its BuildKit cache live in these repositories:
   * `<repositoryUrl>/<service>` and `<cacheRepositoryUrl>/<service>:<cache tag>`.
   */
  serviceImage(
    service: string,
    platform: Platform,
  ): { repositoryUrl: pulumi.Output<string>; cacheRef: pulumi.Output<string> } {
    return {
      repositoryUrl: pulumi.interpolate`${this.repositoryUrl}/${service}`,
      cacheRef: pulumi.interpolate`${this.cacheRepositoryUrl ?? ""}/${service}:${cacheTag(service, platform)}`,
    };
  }

  /**
   * How to push here: the deployer's access token for the build (looked up once per call; call it
   * once per stack), and the `gcp` login the verify and promote steps use at run time.
   */
  registryAuth(): RegistryAuth {
    return {
      address: this.host,
      username: "oauth2accesstoken",
      password: gcp.organizations.getClientConfigOutput({ parent: this }).accessToken,
      login: { kind: "gcp" },
    };
  }

  /**
   * Lets `member` pull images from the image repository. The child is named after the binding (this
   * repository, the reader role, the member), so adding or removing one reader never replaces
   * another's grant, and asking twice for one member returns the one grant: Google's `*IamMember`
   * resources share the binding they add to, and deleting either of two would revoke both
   * (terraform-provider-google `tpgiamresource/resource_iam_member.go`, `resourceIamMemberDelete`
   * removes the member from the binding whatever else holds it).
   *
   * @param key What names the member when it is not known while the program runs (an output, such as
   *   a project's Cloud Run service agent, whose number is looked up): `<repository>-reader-<key>`.
   *   @default - the member itself
   */
  grantReader(
    member: pulumi.Input<string>,
    key?: string,
    opts?: Pick<pulumi.CustomResourceOptions, "aliases">,
  ): gcp.artifactregistry.RepositoryIamMember {
    if (key === undefined && typeof member !== "string") {
      throw new ComponentArgError(
        "ArtifactRegistryRepository",
        this.name,
        "grantReader(member)",
        "a member that is an output needs a key to name its grant; pass one",
      );
    }
    const resourceName = `${this.name}-reader-${key ?? memberSlug(member as string)}`;
    const known = this.grantsByName.get(resourceName);
    if (known) return known;
    // Named by the member's own slug before issue 23: the same grant, kept in place.
    const legacyName =
      key === undefined
        ? `${this.name}-reader-${legacyArtifactRegistryReaderKey(member as string)}`
        : undefined;
    const aliases = [
      ...(legacyName !== undefined && legacyName !== resourceName ? [{ name: legacyName }] : []),
      ...(opts?.aliases ?? []),
    ];
    const grant = new gcp.artifactregistry.RepositoryIamMember(
      ...transform(
        this.transforms?.readerGrant,
        resourceName,
        {
          project: this.repository.project,
          location: this.repository.location,
          repository: this.repository.repositoryId,
          role: "roles/artifactregistry.reader",
          member,
        },
        { parent: this, ...(aliases.length > 0 ? { aliases } : {}) },
      ),
    );
    this.readerGrants.push(grant);
    this.grantsByName.set(resourceName, grant);
    return grant;
  }
}

/** What an import of a hand-made repository may differ in: everything `gcloud … create` leaves unset. */
export const AR_ADOPTION_IGNORED = [
  "description",
  "labels",
  "dockerConfig",
  "cleanupPolicies",
  "cleanupPolicyDryRun",
  "vulnerabilityScanningConfig",
] as const;

export function normalizeArtifactRegistryArgs(args: ArtifactRegistryRepositoryArgs) {
  return {
    ...args,
    keepTaggedVersions: args.keepTaggedVersions ?? REGISTRY_DEFAULTS.keepTagged,
    signedImages: args.signedImages ?? false,
    deleteUntaggedAfterDays: args.deleteUntaggedAfterDays ?? REGISTRY_DEFAULTS.untaggedDays,
    adoptExisting: args.adoptExisting ?? false,
    protect: args.protect ?? true,
    readers: [...new Set(args.readers ?? [])].sort(),
    labels: { "managed-by": "multicloud-deploy", ...args.labels },
  };
}

type Normalized = ReturnType<typeof normalizeArtifactRegistryArgs>;

/** The image repository: immutable tags, the cleanup policies, scanning as the project sets it. */
function imageRepositoryArgs(a: Normalized): gcp.artifactregistry.RepositoryArgs {
  return {
    project: a.project,
    location: a.location,
    repositoryId: a.repositoryId,
    format: "DOCKER",
    description:
      "Service images, tagged by commit SHA and deployed by digest (managed by multicloud-deploy).",
    dockerConfig: { immutableTags: true },
    vulnerabilityScanningConfig: { enablementConfig: "INHERITED" },
    cleanupPolicyDryRun: false,
    cleanupPolicies: [
      {
        id: "keep-most-recent",
        action: "KEEP",
        // Artifact Registry counts every version of a package, `.sig` versions too; it cannot count by tag.
        mostRecentVersions: { keepCount: a.keepTaggedVersions * (a.signedImages ? 2 : 1) },
      },
      {
        id: "delete-older-tagged",
        action: "DELETE",
        condition: { tagState: "TAGGED" },
      },
      {
        id: "delete-untagged",
        action: "DELETE",
        condition: { tagState: "UNTAGGED", olderThan: `${a.deleteUntaggedAfterDays * 86400}s` },
      },
    ],
    labels: a.labels,
  };
}

/** The BuildKit cache repository: mutable tags, labelled as the cache, stale entries deleted. */
function cacheRepositoryArgs(a: Normalized, repositoryId: string): gcp.artifactregistry.RepositoryArgs {
  return {
    project: a.project,
    location: a.location,
    repositoryId,
    format: "DOCKER",
    description: "BuildKit registry cache (mutable tags; nothing here is deployed).",
    // The provider drops `false` when it sends this (expandArtifactRegistryRepositoryDockerConfig), and
    // reads `dockerConfig` back as one block with `immutableTags: false` (flatten, since the fix of
    // hashicorp/terraform-provider-google#14846). Stating it matches what refresh reads; leaving the
    // block out shows `false → null` on every update instead (the permanent diff
    // GoogleCloudPlatform/cloud-foundation-fabric#3652 reports). So it stays, explicit.
    dockerConfig: { immutableTags: false },
    cleanupPolicyDryRun: false,
    cleanupPolicies: [
      {
        id: "delete-stale-cache",
        action: "DELETE",
        condition: { tagState: "ANY", olderThan: `${30 * 86400}s` },
      },
    ],
    labels: { ...a.labels, ...CACHE_REPOSITORY_LABEL },
  };
}
