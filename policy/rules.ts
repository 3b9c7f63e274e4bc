/**
 * The multicloud-deploy CrossGuard rules. This module only defines policies (no server): the pack's
 * entry point (index.ts) hands them to `new PolicyPack`, the tests and the offline plan call them
 * directly. It is self-contained (no imports from the program) so `pulumi policy publish` can ship
 * this directory alone.
 *
 * Unknown values: during `pulumi preview` an image digest is not known yet, and the SDK turns a read
 * of an unknown value into an advisory "can't run during preview". The two digest rules do better:
 * they are stack policies, and where the image is unknown they check that the property depends on a
 * docker-build image and on its verification Command, so a preview still proves the service will run
 * a verified build by digest.
 */
import type {
  EnforcementLevel,
  Policies,
  PolicyConfigSchema,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

// ---------------------------------------------------------------------------------------------
// Resource types the rules read
// ---------------------------------------------------------------------------------------------

export const TYPES = {
  runService: "gcp:cloudrunv2/service:Service",
  runJob: "gcp:cloudrunv2/job:Job",
  runWorkerPool: "gcp:cloudrunv2/workerPool:WorkerPool",
  function2: "gcp:cloudfunctionsv2/function:Function",
  runV1Service: "gcp:cloudrun/service:Service",
  runServiceIamMember: "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
  runServiceIamBinding: "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
  runV1IamMember: "gcp:cloudrun/iamMember:IamMember",
  runV1IamBinding: "gcp:cloudrun/iamBinding:IamBinding",
  runV1IamPolicy: "gcp:cloudrun/iamPolicy:IamPolicy",
  runServiceIamPolicy: "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
  arRepository: "gcp:artifactregistry/repository:Repository",
  lambda: "aws:lambda/function:Function",
  nativeLambda: "aws-native:lambda:Function",
  ecrCreationTemplate: "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
  imageIndex: "docker-build:index:Index",
  classicImage: "docker:index/image:Image",
  classicRegistryImage: "docker:index/registryImage:RegistryImage",
  lambdaUrl: "aws:lambda/functionUrl:FunctionUrl",
  ecrRepository: "aws:ecr/repository:Repository",
  image: "docker-build:index:Image",
  command: "command:local:Command",
} as const;

// ---------------------------------------------------------------------------------------------
// Config (JSON schema, with the defaults applied again in code for callers that pass none)
// ---------------------------------------------------------------------------------------------

export interface PackConfig {
  "cloud-run-image-from-artifact-registry": { allowedHosts: string[] };
  "no-plaintext-secrets-in-env": { namePatterns: string[]; allowNames: string[] };
  "registry-immutable-tags": { cacheLabel: string; cacheLabelValue: string };
  "public-exposure-requires-opt-in": { exposureLabel: string };
}

export const DEFAULTS: PackConfig = {
  "cloud-run-image-from-artifact-registry": { allowedHosts: ["*-docker.pkg.dev"] },
  "no-plaintext-secrets-in-env": { namePatterns: ["KEY", "SECRET", "TOKEN", "PASSWORD"], allowNames: [] },
  "registry-immutable-tags": { cacheLabel: "multicloud-deploy-role", cacheLabelValue: "build-cache" },
  "public-exposure-requires-opt-in": { exposureLabel: "exposure" },
};

const stringList = (description: string, items: string[]) => ({
  type: "array" as const,
  items: { type: "string" as const },
  default: items,
  description,
});

const CONFIG_SCHEMAS: { [K in keyof PackConfig]: PolicyConfigSchema } = {
  "cloud-run-image-from-artifact-registry": {
    properties: {
      allowedHosts: stringList(
        "Registry hosts Cloud Run may pull from; `*` matches any characters.",
        DEFAULTS["cloud-run-image-from-artifact-registry"].allowedHosts,
      ),
    },
  },
  "no-plaintext-secrets-in-env": {
    properties: {
      namePatterns: stringList(
        "Env var names containing any of these (case-insensitive) must come from a secret reference.",
        DEFAULTS["no-plaintext-secrets-in-env"].namePatterns,
      ),
      allowNames: stringList("Env var names exempt from the check (exact match).", []),
    },
  },
  "registry-immutable-tags": {
    properties: {
      cacheLabel: {
        type: "string",
        default: DEFAULTS["registry-immutable-tags"].cacheLabel,
        description: "Label that marks an Artifact Registry repository as a mutable build cache.",
      },
      cacheLabelValue: { type: "string", default: DEFAULTS["registry-immutable-tags"].cacheLabelValue },
    },
  },
  "public-exposure-requires-opt-in": {
    properties: {
      exposureLabel: {
        type: "string",
        default: DEFAULTS["public-exposure-requires-opt-in"].exposureLabel,
        description:
          "Label (Cloud Run) or tag (Lambda) that must be `public` on a publicly invokable service.",
      },
    },
  },
};

function config<K extends keyof PackConfig>(
  name: K,
  args: { getConfig<T extends object>(): T },
): PackConfig[K] {
  return { ...DEFAULTS[name], ...args.getConfig<Partial<PackConfig[K]>>() };
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

export const DIGEST_REF = /@sha256:[a-f0-9]{64}$/;
/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:<tag>]@sha256:<64 hex>`, anchored. */
export const ECR_DIGEST_REF =
  /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$/;
const COMMIT_SHA_TAG = /^[0-9a-f]{40}(?:$|-)/;
/** Tags the pipeline gives images (lib/image-tag.ts), to test tag filters against. */
const COMMIT_TAG_EXAMPLES = [
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-arm64-7e1f0a2b",
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-amd64-7e1f0a2b",
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-dirty-1a2b3c4d-arm64-7e1f0a2b",
];
const SECRETS_MANAGER_ARN =
  /^arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
/** Google's default accounts: Compute Engine's and App Engine's, both Editor on the project. */
const DEFAULT_COMPUTE_SA =
  /^(\d+-compute@developer|[a-z][a-z0-9-]{4,28}[a-z0-9]@appspot)\.gserviceaccount\.com$/;
const PUBLIC_MEMBERS = new Set(["allUsers", "allAuthenticatedUsers"]);

const isUnknownError = (err: unknown) => err instanceof Error && err.constructor.name === "UnknownValueError";

/** Reads a value that may be unknown during preview: the SDK's proxy throws `UnknownValueError`. */
export function read<T>(get: () => T): { known: true; value: T } | { known: false } {
  try {
    return { known: true, value: get() };
  } catch (err) {
    if (isUnknownError(err)) return { known: false };
    throw err;
  }
}

/**
 * Runs a stack rule's check on each resource on its own: an unknown value in one resource defers that
 * resource's check to the update (where the value is known and the pack runs again) instead of ending
 * the rule, which the SDK would turn into one advisory that silences it for every resource.
 */
function eachResource(
  resources: PolicyResource[],
  pick: (r: PolicyResource) => boolean,
  check: (r: PolicyResource) => void,
): void {
  for (const r of resources.filter(pick)) {
    try {
      check(r);
    } catch (err) {
      if (!isUnknownError(err)) throw err;
    }
  }
}

/**
 * Go's strconv.ParseBool, which BuildKit uses for BUILDKIT_MULTI_PLATFORM: `1 t T TRUE true True` are
 * true, `0 f F FALSE false False` false, anything else is not a boolean (undefined).
 */
export function goBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/** The platforms a docker-build image builds: buildx splits every entry on commas. */
export function buildPlatforms(entries: readonly string[]): string[] {
  return entries
    .flatMap((e) => e.split(","))
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/**
 * Credentials a plain value gives away whatever its name: a URL with `user:password@`, a PEM private
 * key or certificate block, or a token with a well-known issuer prefix. Only the kind is returned:
 * no message may repeat any part of a value.
 */
export function credentialKind(value: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i.test(value)) return "a URL with a user name and password";
  if (/-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/.test(value)) return "a PEM block";
  const prefixes: Array<[RegExp, string]> = [
    [/^(AKIA|ASIA)[0-9A-Z]{16}$/, "an AWS access key id"],
    [/^gh[pousr]_[A-Za-z0-9]{20,}$/, "a GitHub token"],
    [/^github_pat_[A-Za-z0-9_]{20,}$/, "a GitHub token"],
    [/^glpat-[A-Za-z0-9_-]{20,}$/, "a GitLab token"],
    [/^xox[abpors]-[A-Za-z0-9-]{10,}$/, "a Slack token"],
    [/^(sk|rk)_live_[A-Za-z0-9]{10,}$/, "a Stripe live key"],
    [/^AIza[0-9A-Za-z_-]{35}$/, "a Google API key"],
    [/^ya29\.[0-9A-Za-z_-]{20,}$/, "a Google OAuth access token"],
    [/^eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}$/, "a JSON Web Token"],
  ];
  return prefixes.find(([re]) => re.test(value))?.[1];
}

const globToRegExp = (glob: string) =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i");

/** The registry host of an image reference, as Docker decides it (Docker Hub when there is none). */
export function imageHost(ref: string): string {
  const first = ref.split("/")[0]!;
  const hasHost = ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  return hasHost ? first : "docker.io";
}

/** The repository of an image reference, without tag or digest. */
export function imageRepository(ref: string): string {
  const noDigest = ref.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export interface ExportEntry {
  type: string;
  attrs: Record<string, string>;
}

/**
 * One `--output` entry as buildx reads it: CSV `key=value` fields, keys lower-cased, `type=registry`
 * is the image exporter with `push=true` by default (docker-build provider/internal/export.go
 * parseExports). The program's copy is lib/image-export.ts; tests/policy/parity.test.ts keeps them equal.
 */
export function parseExportEntry(raw: string): ExportEntry {
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') {
      if (quoted && raw[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === "," && !quoted) {
      fields.push(cur);
      cur = "";
    } else cur += c;
  }
  fields.push(cur);
  const attrs: Record<string, string> = {};
  let type = "";
  for (const field of fields.filter((f) => f !== "")) {
    const eq = field.indexOf("=");
    if (eq < 0) throw new Error(`invalid export field ${JSON.stringify(field)} in ${JSON.stringify(raw)}`);
    const key = field.slice(0, eq).trim().toLowerCase();
    if (key === "type") type = field.slice(eq + 1);
    else attrs[key] = field.slice(eq + 1);
  }
  if (type === "") throw new Error(`export ${JSON.stringify(raw)} has no type=`);
  if (type === "registry") {
    type = "image";
    attrs.push ??= "true";
  }
  return { type, attrs };
}

/** A docker-build `exports` entry as the engine records it (plain values, the SDK's field names). */
interface ExportInput {
  disabled?: boolean;
  raw?: string;
  registry?: { names?: string[]; push?: boolean; pushByDigest?: boolean };
  image?: { names?: string[]; push?: boolean; pushByDigest?: boolean };
}

/** A docker-build image's `exports` as BuildKit receives them: typed entries and `raw` strings alike. */
export function imageExportEntries(props: { exports?: unknown }): ExportEntry[] {
  return ((props.exports ?? []) as ExportInput[]).flatMap((e): ExportEntry[] => {
    if (e.disabled === true) return [];
    if (typeof e.raw === "string" && e.raw !== "") return [parseExportEntry(e.raw)];
    for (const kind of ["registry", "image"] as const) {
      const x = e[kind];
      if (!x) continue;
      const attrs: Record<string, string> = {
        name: (x.names ?? []).join(","),
        push: String(x.push ?? kind === "registry"),
      };
      if (x.pushByDigest !== undefined) attrs["push-by-digest"] = String(x.pushByDigest);
      return [{ type: "image", attrs }];
    }
    return [];
  });
}

const ARCH_FOR_PLATFORM: Record<string, string> = { "linux/amd64": "x86_64", "linux/arm64": "arm64" };

/**
 * A container as the engine sends it, under the providers' schema names (@pulumi/gcp 9.37
 * `cloudrunv2.ServiceTemplateContainer` / `cloudrun.ServiceTemplateSpecContainer`): `envs`, with
 * `valueSource.secretKeyRef` (v2) or `valueFrom.secretKeyRef` (v1). Not `env`: that name is never sent.
 */
interface ContainerLike {
  image?: string;
  sourceCode?: unknown;
  baseImageUri?: string;
  envs?: Array<{
    name?: string;
    value?: string;
    valueSource?: { secretKeyRef?: unknown };
    valueFrom?: { secretKeyRef?: unknown };
  }>;
}

/** The containers of a Cloud Run v2 service or job, or a v1 service. */
function containersOf(type: string, props: ResourceValidationArgs["props"]): ContainerLike[] {
  if (type === TYPES.runService) return props.template?.containers ?? [];
  if (type === TYPES.runJob) return props.template?.template?.containers ?? [];
  if (type === TYPES.runWorkerPool) return props.template?.containers ?? [];
  if (type === TYPES.runV1Service) return props.template?.spec?.containers ?? [];
  return [];
}

const CLOUD_RUN_TYPES: string[] = [TYPES.runService, TYPES.runJob, TYPES.runWorkerPool, TYPES.runV1Service];
const isCloudRun = (type: string) => CLOUD_RUN_TYPES.includes(type);

const what = (type: string, name: string) => {
  if (type === TYPES.runJob) return `Cloud Run job "${name}"`;
  if (type === TYPES.runWorkerPool) return `Cloud Run worker pool "${name}"`;
  if (type === TYPES.function2) return `Cloud Function "${name}"`;
  if (type === TYPES.lambda) return `Lambda function "${name}"`;
  if (type === TYPES.image) return `image build "${name}"`;
  return `Cloud Run service "${name}"`;
};

const BUILD_IT =
  "build the image with @pulumi/docker-build (one platform), verify it and deploy `repo@sha256:<digest>`";

// ---------------------------------------------------------------------------------------------
// Resource rules
// ---------------------------------------------------------------------------------------------

type Validate = (args: ResourceValidationArgs, report: ReportViolation) => void | Promise<void>;

function resourcePolicy(
  name: string,
  description: string,
  types: readonly string[],
  validate: Validate,
  extra: Partial<ResourceValidationPolicy> = {},
): ResourceValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: "mandatory",
    ...extra,
    validateResource: (args, report) => {
      if (!types.includes(args.type)) args.notApplicable(`applies to ${types.join(", ")}`);
      return validate(args, report);
    },
  };
}

const cloudRunNoSourceDeploy = resourcePolicy(
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

const cloudRunImageFromArtifactRegistry = resourcePolicy(
  "cloud-run-image-from-artifact-registry",
  "Cloud Run images come from Artifact Registry (<region>-docker.pkg.dev), not gcr.io, Docker Hub or unqualified names.",
  CLOUD_RUN_TYPES,
  (args, report) => {
    const { allowedHosts } = config("cloud-run-image-from-artifact-registry", args);
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
);

const lambdaImagePackageOnly = resourcePolicy(
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

const imageBuildSinglePlatform = resourcePolicy(
  "image-build-single-platform",
  "Each image is built by docker-build for exactly one explicit platform, so the registry gets a single manifest: no docker-build Index (a manifest list).",
  [TYPES.image, TYPES.imageIndex],
  ({ type, name, props }, report) => {
    if (type === TYPES.imageIndex) {
      report(
        `docker-build Index "${name}" pushes a manifest list (one tag, several images); Lambda refuses it and the verifier rejects it: deploy one single-platform image by digest`,
      );
      return;
    }
    const platforms = read(() => props.platforms as string[] | undefined);
    if (!platforms.known) return;
    const list = buildPlatforms(platforms.value ?? []);
    if (list.length !== 1) {
      report(
        `image build "${name}" has ${list.length === 0 ? "no platforms (the builder's own platform is used)" : `${list.length} platforms (${list.join(", ")}), which makes a manifest list`}; ` +
          `set platforms to exactly one, e.g. ["linux/arm64"]`,
      );
    }
  },
);

const imageBuildNoAttestations = resourcePolicy(
  "image-build-no-attestations",
  "docker-build runs in embedded mode (exec false, provenance off) and nothing forces a manifest list; not the classic @pulumi/docker Image or RegistryImage.",
  [TYPES.image, TYPES.classicImage, TYPES.classicRegistryImage],
  ({ type, name, props }, report) => {
    if (type !== TYPES.image) {
      report(
        `${type === TYPES.classicImage ? "docker Image" : "docker RegistryImage"} "${name}" (classic @pulumi/docker) builds or pushes through the docker engine, whose buildx adds provenance attestations by default (an index) and pushes by tag; use @pulumi/docker-build's Image (ContainerImage)`,
      );
      return;
    }
    if (props.exec === true) {
      report(
        `image build "${name}" has exec: true, which runs the docker CLI and turns BuildKit's default provenance attestation back on (an index, not a manifest); remove exec`,
      );
    }
    const multi = read(() => props.buildArgs?.BUILDKIT_MULTI_PLATFORM as string | undefined);
    if (multi.known && typeof multi.value === "string" && goBool(multi.value) !== false) {
      report(
        goBool(multi.value)
          ? `image build "${name}" sets build arg BUILDKIT_MULTI_PLATFORM=${multi.value}, which forces a manifest list; remove it`
          : `image build "${name}" sets build arg BUILDKIT_MULTI_PLATFORM=${JSON.stringify(multi.value)}, which is not a boolean BuildKit reads; remove it`,
      );
    }
    for (const e of (props.exports ?? []) as Array<{ raw?: string }>) {
      // A raw export built from an output (the repository URL) is unknown in a preview of a new stack;
      // the checks above still run, and this one runs again on the update, when the text is known.
      const raw = read(() => e.raw);
      if (raw.known && typeof raw.value === "string" && /attest|provenance|sbom/i.test(raw.value)) {
        report(
          `image build "${name}" has the export "${raw.value}", which adds attestations (an index); remove them`,
        );
      }
    }
  },
);

const registryImmutableTags = resourcePolicy(
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
    const { cacheLabel, cacheLabelValue } = config("registry-immutable-tags", args);
    if (props.labels?.[cacheLabel] === cacheLabelValue) return;
    if (props.dockerConfig?.immutableTags !== true) {
      report(
        `Artifact Registry repository "${name}" allows tags to move; set dockerConfig.immutableTags: true ` +
          `(a build-cache repository is exempt when labelled ${cacheLabel}: ${cacheLabelValue})`,
      );
    }
  },
);

const ecrScanOnPush = resourcePolicy(
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

const noPlaintextSecretsInEnv = resourcePolicy(
  "no-plaintext-secrets-in-env",
  "Env vars named like secrets come from Secret Manager (secretKeyRef) on Cloud Run and hold a Secrets Manager ARN on Lambda.",
  [...CLOUD_RUN_TYPES, TYPES.lambda],
  (args, report) => {
    const { namePatterns, allowNames } = config("no-plaintext-secrets-in-env", args);
    const looksSecret = (n: string) =>
      !allowNames.includes(n) && namePatterns.some((p) => n.toUpperCase().includes(p.toUpperCase()));
    // Whatever its name, a plain value that is itself a credential is flagged (never quoted).
    const leaks = (subject: string, key: string, value: unknown) => {
      const kind = typeof value === "string" ? credentialKind(value) : undefined;
      if (kind && !allowNames.includes(key)) {
        report(
          `${subject} env ${key} holds ${kind} in plain text; store it in ${args.type === TYPES.lambda ? "Secrets Manager and pass the ARN" : "Secret Manager and use valueSource.secretKeyRef"}`,
        );
        return true;
      }
      return false;
    };
    if (args.type === TYPES.lambda) {
      const vars = read(() => (args.props.environment?.variables ?? {}) as Record<string, unknown>);
      if (!vars.known) return;
      for (const key of Object.keys(vars.value)) {
        const plain = read(() => vars.value[key]);
        if (plain.known && leaks(`Lambda function "${args.name}"`, key, plain.value)) continue;
        if (!looksSecret(key)) continue;
        const value = read(() => vars.value[key]);
        if (value.known && !(typeof value.value === "string" && SECRETS_MANAGER_ARN.test(value.value))) {
          report(
            `Lambda function "${args.name}" env ${key} looks like a secret but is not a Secrets Manager ARN; ` +
              "store the value in Secrets Manager, pass its ARN and read it at run time",
          );
        }
      }
      return;
    }
    containersOf(args.type, args.props).forEach((c) => {
      for (const env of c.envs ?? []) {
        if (!env.name) continue;
        const plain = read(() => env.value);
        if (plain.known && leaks(what(args.type, args.name), env.name, plain.value)) continue;
        if (!looksSecret(env.name)) continue;
        if (!env.valueSource?.secretKeyRef && !env.valueFrom?.secretKeyRef) {
          report(
            `${what(args.type, args.name)} env ${env.name} looks like a secret but is a plain value; ` +
              "use valueSource.secretKeyRef { secret, version } from Secret Manager",
          );
        }
      }
    });
  },
);

const cloudRunDedicatedServiceAccount = resourcePolicy(
  "cloud-run-dedicated-service-account",
  "Cloud Run runs as a dedicated service account, never a default one (Compute Engine's or App Engine's).",
  CLOUD_RUN_TYPES,
  ({ type, name, props }, report) => {
    const sa = read(() =>
      type === TYPES.runJob
        ? props.template?.template?.serviceAccount
        : type === TYPES.runV1Service
          ? props.template?.spec?.serviceAccountName
          : props.template?.serviceAccount,
    );
    if (!sa.known) return; // a service account created in the same update: dedicated by construction
    if (!sa.value) {
      report(
        `${what(type, name)} sets no service account, so it runs as the default compute account (Editor on the project); set template.serviceAccount to a dedicated account`,
      );
    } else if (DEFAULT_COMPUTE_SA.test(sa.value)) {
      report(
        `${what(type, name)} runs as a default account (${sa.value}, Editor on the project); create a dedicated service account with only the roles it needs`,
      );
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Stack rules
// ---------------------------------------------------------------------------------------------

function stackPolicy(
  name: string,
  description: string,
  validateStack: (args: StackValidationArgs, report: ReportViolation) => void,
  extra: Partial<StackValidationPolicy> = {},
): StackValidationPolicy {
  return { name, description, enforcementLevel: "mandatory", ...extra, validateStack };
}

/** The pack's copy of the program's step contract (lib/verify-step.ts; parity test in tests/policy). */
export const STEP_MARKER = "MULTICLOUD_DEPLOY_STEP";
export const STEPS = { verify: "verify-image", promote: "promote-image" } as const;

/** A Command that carries the step marker: its text or name proves nothing. */
const isStep = (step: string) => (r: PolicyResource) => {
  if (r.type !== TYPES.command) return false;
  const marker = read(() => r.props.environment?.[STEP_MARKER] as string | undefined);
  return marker.known && marker.value === step;
};
const isVerifyCommand = isStep(STEPS.verify);
const isPromoteStep = isStep(STEPS.promote);

/** The pack's copy of lib/verify-step.ts `parseVerifyCommandLine`. */
export function parseVerifyCommandLine(
  text: string,
): { ref: string; platform: string; tag?: string } | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => /(^|\/)verify-image(\.ts)?$/.test(w));
  if (at < 0) return undefined;
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(w);
    if (!m) positional.push(w);
    else if (m[2] !== undefined) flags[m[1]!] = m[2];
    else if (m[1] === "json") flags.json = "true";
    else flags[m[1]!] = words[++i] ?? "";
  }
  if (positional.length !== 1 || !flags.platform) return undefined;
  return { ref: positional[0]!, platform: flags.platform, ...(flags.tag ? { tag: flags.tag } : {}) };
}

/** What a verify step checked, when its command line is known. */
function verifiedBy(r: PolicyResource) {
  const create = read(() => r.props.create as string | undefined);
  return create.known && typeof create.value === "string" ? parseVerifyCommandLine(create.value) : undefined;
}

/**
 * For an image reference unknown at preview: the problem with its provenance, or undefined when the
 * property depends on a verification Command that itself follows a docker-build image.
 */
function unknownImageProblem(resource: PolicyResource, property: string): string | undefined {
  const deps = resource.propertyDependencies[property] ?? [];
  const verifies = deps.filter(isVerifyCommand);
  if (verifies.length === 0) {
    return `its ${property} is unknown until the update and does not depend on a verify-image Command; make the image reference depend on the verification (ContainerImage.imageRef does)`;
  }
  // The binding: the reference comes from a build (or a promotion copy) that the verify step itself
  // follows, so the step verified this very image, not some other build next to it.
  const sources = deps.filter((d) => d.type === TYPES.image || isPromoteStep(d));
  const bound = verifies.some((v) => sources.some((src) => v.dependencies.some((d) => d.urn === src.urn)));
  if (!bound) {
    return `its ${property} is unknown until the update and comes from no docker-build image (or promotion copy) that its verify step follows; deploy a docker-build image's digest through ContainerImage.imageRef`;
  }
  return undefined;
}

/** For a known image reference that depends on verify steps: one of them must have checked exactly it. */
function knownImageProblem(resource: PolicyResource, property: string, image: string): string | undefined {
  const verifies = (resource.propertyDependencies[property] ?? []).filter(isVerifyCommand);
  if (verifies.length === 0) return undefined; // no claim of verification to check
  const checked = verifies.map(verifiedBy);
  if (checked.some((c) => c === undefined || c.ref === image)) return undefined;
  return `its ${property} ${image} depends on verify steps that checked ${checked.map((c) => c!.ref).join(", ")}, not this image; deploy the reference the verify step checked (ContainerImage.imageRef)`;
}

const imageBuildCommitShaTag = stackPolicy(
  "image-build-commit-sha-tag",
  "Pushed images get a tag that starts with the full 40-character commit SHA, never latest: a push by digest carries no tags and gets the commit tag from its verify step; a tagged push carries it itself.",
  ({ resources }, report) => {
    eachResource(
      resources,
      (x) => x.type === TYPES.image,
      (r) => {
        const entries = read(() => imageExportEntries(r.props));
        const tagsRead = read(() => (r.props.tags ?? []) as string[]);
        if (!entries.known || !tagsRead.known) return;
        const pushes =
          r.props.push === true || entries.value.some((e) => e.type === "image" && e.attrs.push === "true");
        if (!pushes) return;
        const byDigest = entries.value.some(
          (e) => e.type === "image" && e.attrs["push-by-digest"] === "true",
        );
        const tagOf = (t: string) => {
          const slash = t.lastIndexOf("/");
          const colon = t.lastIndexOf(":");
          return colon > slash ? t.slice(colon + 1) : "latest";
        };
        if (byDigest) {
          if (tagsRead.value.length > 0) {
            report(
              `image build "${r.name}" pushes by digest but has tags (${tagsRead.value.join(", ")}); BuildKit refuses that ("can't push tagged ref … by digest"): remove the tags and tag the verified digest instead`,
              r.urn,
            );
          }
          // The commit tag comes from the verify step that follows this build.
          const verifies = resources.filter(
            (v) => isVerifyCommand(v) && v.dependencies.some((d) => d.urn === r.urn),
          );
          const tags = verifies.flatMap((v) => {
            const create = read(() => v.props.create as string | undefined);
            return create.known && typeof create.value === "string"
              ? [parseVerifyCommandLine(create.value)?.tag]
              : [undefined];
          });
          if (verifies.length === 0 || !tags.some((t) => t === undefined || COMMIT_SHA_TAG.test(t))) {
            report(
              `image build "${r.name}" pushes by digest and no verify step tags it with the commit (verify-image --tag <40-char commit sha>-<arch>-…); ContainerImage does this`,
              r.urn,
            );
          }
          return;
        }
        const tags = tagsRead.value.map(tagOf);
        if (tags.includes("latest")) {
          report(
            `image build "${r.name}" pushes the tag latest, which moves and names no commit; tag it <40-char commit sha>-<arch>-… instead`,
            r.urn,
          );
        }
        if (!tags.some((t) => COMMIT_SHA_TAG.test(t))) {
          report(
            `image build "${r.name}" has no commit-SHA tag (tags: ${tags.join(", ") || "none"}); add a tag that starts with the full 40-character commit SHA`,
            r.urn,
          );
        }
      },
    );
  },
);

const cloudRunImagePinnedByDigest = stackPolicy(
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

const lambdaImagePinnedByDigest = stackPolicy(
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
function platformsByRepository(resources: PolicyResource[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (repo: string, platform: string) => {
    if (!out.has(repo)) out.set(repo, new Set());
    out.get(repo)!.add(platform);
  };
  for (const r of resources) {
    if (r.type === TYPES.image) {
      const platforms = read(() => (r.props.platforms ?? []) as string[]);
      const names = read(() => [
        ...((r.props.tags ?? []) as string[]),
        ...imageExportEntries(r.props).flatMap((e) =>
          (e.attrs.name ?? "").split(",").filter((n) => n.trim() !== ""),
        ),
      ]);
      if (platforms.known && names.known) {
        for (const n of names.value) for (const p of platforms.value) add(imageRepository(n), p);
      }
    } else if (isVerifyCommand(r)) {
      const create = read(() => r.props.create as string);
      if (!create.known) continue;
      const step = parseVerifyCommandLine(create.value);
      if (step) add(imageRepository(step.ref), step.platform);
    }
  }
  return out;
}

const lambdaArchitectureMatchesImage = stackPolicy(
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

const publicExposureRequiresOptIn = stackPolicy(
  "public-exposure-requires-opt-in",
  "allUsers/allAuthenticatedUsers invokers and NONE-auth Lambda URLs only on services labelled/tagged exposure: public.",
  (args, report) => {
    const { exposureLabel } = config("public-exposure-requires-opt-in", args);
    const services = args.resources.filter(
      (r) => r.type === TYPES.runService || r.type === TYPES.runV1Service,
    );
    const functions = args.resources.filter((r) => r.type === TYPES.lambda);
    const labelOf = (r: PolicyResource | undefined) =>
      r === undefined
        ? undefined
        : (r.props.labels?.[exposureLabel] ??
          r.props.metadata?.labels?.[exposureLabel] ??
          r.props.tags?.[exposureLabel]);
    // A service is known by its full identity, not its name alone: two services called "api" in two
    // regions or projects are two services. An unset project is the provider's default on both sides.
    const identity = (r: PolicyResource) => {
      const id = read(() => ({
        name: String(r.props.name ?? r.props.service ?? r.props.metadata?.name ?? "")
          .split("/")
          .pop(),
        location: r.props.location as string | undefined,
        project: (r.props.project ?? r.props.metadata?.namespace) as string | undefined,
      }));
      return id.known ? id.value : undefined;
    };
    const same = (a: ReturnType<typeof identity>, b: ReturnType<typeof identity>) =>
      a !== undefined &&
      b !== undefined &&
      a.name === b.name &&
      a.location === b.location &&
      (a.project === undefined || b.project === undefined || a.project === b.project);
    /** The public members an IAM resource grants run.invoker (or any role, for a member/binding resource). */
    const publicMembers = (r: PolicyResource): string[] | undefined => {
      const members = read(() => {
        if (r.type === TYPES.runServiceIamPolicy || r.type === TYPES.runV1IamPolicy) {
          const policy = JSON.parse(String(r.props.policyData ?? "{}")) as {
            bindings?: Array<{ role?: string; members?: string[] }>;
          };
          return (policy.bindings ?? [])
            .filter((b) => b.role === "roles/run.invoker")
            .flatMap((b) => b.members ?? []);
        }
        return (r.props.members ?? [r.props.member]) as string[];
      });
      return members.known ? members.value.filter((m) => PUBLIC_MEMBERS.has(m)) : undefined;
    };
    const iamTypes: string[] = [
      TYPES.runServiceIamMember,
      TYPES.runServiceIamBinding,
      TYPES.runServiceIamPolicy,
      TYPES.runV1IamMember,
      TYPES.runV1IamBinding,
      TYPES.runV1IamPolicy,
    ];
    eachResource(
      args.resources,
      () => true,
      (r) => {
        // A v2 service with invoker IAM checks disabled is public with no grant at all.
        if (r.type === TYPES.runService && r.props.invokerIamDisabled === true && labelOf(r) !== "public") {
          report(
            `Cloud Run service "${r.name}" has invokerIamDisabled: true, so anyone can invoke it, but is not labelled ${exposureLabel}: public; ` +
              `remove invokerIamDisabled, or declare the service public (exposure: public)`,
            r.urn,
          );
        }
        if (iamTypes.includes(r.type)) {
          const open = publicMembers(r);
          if (open === undefined || open.length === 0) return;
          const target = identity(r);
          const svc = target
            ? services.find((s) => same(identity(s), target))
            : r.dependencies.find((d) => d.type === TYPES.runService || d.type === TYPES.runV1Service);
          if (labelOf(svc) !== "public") {
            report(
              `"${r.name}" grants ${open.join(", ")} invoke on Cloud Run service ${svc ? `"${svc.name}"` : target ? `${target.project ?? ""}/${target.location}/${target.name}` : "(unknown)"}, which is not labelled ${exposureLabel}: public; ` +
                `declare the service public (exposure: public) or grant named members only`,
              r.urn,
            );
          }
        }
        if (r.type === TYPES.lambdaUrl && r.props.authorizationType === "NONE") {
          const target = read(() => r.props.functionName as string);
          const fn = target.known
            ? functions.find(
                (f) => read(() => f.props.name).known && [f.props.name, f.props.arn].includes(target.value),
              )
            : r.dependencies.find((d) => d.type === TYPES.lambda);
          if (labelOf(fn) !== "public") {
            report(
              `function URL "${r.name}" has authorizationType NONE on Lambda function ${fn ? `"${fn.name}"` : "(unknown)"}, which is not tagged ${exposureLabel}: public; ` +
                `use AWS_IAM, or declare the function public (exposure: public)`,
              r.urn,
            );
          }
        }
      },
    );
  },
  { enforcementLevel: "advisory" },
);

// ---------------------------------------------------------------------------------------------
// The pack
// ---------------------------------------------------------------------------------------------

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
].map((p) => {
  const schema = CONFIG_SCHEMAS[p.name as keyof PackConfig];
  return schema ? { ...p, configSchema: schema } : p;
});

export const PACK_NAME = "multicloud-deploy";
export const PACK_ENFORCEMENT: EnforcementLevel = "mandatory";
