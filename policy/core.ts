/**
 * What every rule family shares: the resource types the rules read, reading values that may be
 * unknown in a preview, the pure parsers (image references, build exports, platforms), the pack's
 * copy of the program's step contract (held equal by tests/policy/parity.test.ts), and the two rule
 * builders. Self-contained (no imports from the program), so `pulumi policy publish` ships this
 * directory alone.
 */
import type {
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
  lambdaPermission: "aws:lambda/permission:Permission",
  ecrRepository: "aws:ecr/repository:Repository",
  image: "docker-build:index:Image",
  command: "command:local:Command",
} as const;

// ---------------------------------------------------------------------------------------------
// Config: each rule family declares its own defaults and JSON schema; this reads them
// ---------------------------------------------------------------------------------------------

export const stringList = (description: string, items: string[]) => ({
  type: "array" as const,
  items: { type: "string" as const },
  default: items,
  description,
});

/** A rule's config: its defaults under what the pack config sets (the server already applied the schema's). */
export function ruleConfig<T extends object>(defaults: T, args: { getConfig<C extends object>(): C }): T {
  return { ...defaults, ...args.getConfig<Partial<T>>() };
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

export const DIGEST_REF = /@sha256:[a-f0-9]{64}$/;
/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:<tag>]@sha256:<64 hex>`, anchored. */
export const ECR_DIGEST_REF =
  /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$/;
export const COMMIT_SHA_TAG = /^[0-9a-f]{40}(?:$|-)/;
/** Tags the pipeline gives images (lib/image-tag.ts), to test tag filters against. */
export const COMMIT_TAG_EXAMPLES = [
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-arm64-7e1f0a2b",
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-amd64-7e1f0a2b",
  "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40-dirty-1a2b3c4d-arm64-7e1f0a2b",
];
export const SECRETS_MANAGER_ARN =
  /^arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
/** Google's default accounts: Compute Engine's and App Engine's, both Editor on the project. */
export const DEFAULT_COMPUTE_SA =
  /^(\d+-compute@developer|[a-z][a-z0-9-]{4,28}[a-z0-9]@appspot)\.gserviceaccount\.com$/;
export const PUBLIC_MEMBERS = new Set(["allUsers", "allAuthenticatedUsers"]);

export const isUnknownError = (err: unknown) =>
  err instanceof Error && err.constructor.name === "UnknownValueError";

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
export function eachResource(
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

export const globToRegExp = (glob: string) =>
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

export const ARCH_FOR_PLATFORM: Record<string, string> = { "linux/amd64": "x86_64", "linux/arm64": "arm64" };

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
export function containersOf(type: string, props: ResourceValidationArgs["props"]): ContainerLike[] {
  if (type === TYPES.runService) return props.template?.containers ?? [];
  if (type === TYPES.runJob) return props.template?.template?.containers ?? [];
  if (type === TYPES.runWorkerPool) return props.template?.containers ?? [];
  if (type === TYPES.runV1Service) return props.template?.spec?.containers ?? [];
  return [];
}

export const CLOUD_RUN_TYPES: string[] = [
  TYPES.runService,
  TYPES.runJob,
  TYPES.runWorkerPool,
  TYPES.runV1Service,
];
export const isCloudRun = (type: string) => CLOUD_RUN_TYPES.includes(type);

export const what = (type: string, name: string) => {
  if (type === TYPES.runJob) return `Cloud Run job "${name}"`;
  if (type === TYPES.runWorkerPool) return `Cloud Run worker pool "${name}"`;
  if (type === TYPES.function2) return `Cloud Function "${name}"`;
  if (type === TYPES.lambda) return `Lambda function "${name}"`;
  if (type === TYPES.image) return `image build "${name}"`;
  if (type === TYPES.lambdaUrl) return `function URL "${name}"`;
  if (type === TYPES.lambdaPermission) return `Lambda permission "${name}"`;
  return `Cloud Run service "${name}"`;
};

export const BUILD_IT =
  "build the image with @pulumi/docker-build (one platform), verify it and deploy `repo@sha256:<digest>`";

// ---------------------------------------------------------------------------------------------
// Resource rules
// ---------------------------------------------------------------------------------------------

export type Validate = (args: ResourceValidationArgs, report: ReportViolation) => void | Promise<void>;

export function resourcePolicy(
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

// ---------------------------------------------------------------------------------------------
// Stack rules
// ---------------------------------------------------------------------------------------------

export function stackPolicy(
  name: string,
  description: string,
  validateStack: (args: StackValidationArgs, report: ReportViolation) => void,
  extra: Partial<StackValidationPolicy> = {},
): StackValidationPolicy {
  return { name, description, enforcementLevel: "mandatory", ...extra, validateStack };
}

/** The pack's copy of the program's step contract (lib/verify-step.ts; parity test in tests/policy). */
export const STEP_MARKER = "MULTICLOUD_DEPLOY_STEP";
export const STEPS = {
  verify: "verify-image",
  promote: "promote-image",
  release: "release",
  sign: "sign-image",
  scan: "scan-gate",
  attest: "attest-image",
} as const;

/** A Command that carries the step marker: its text or name proves nothing. */
export const isStep = (step: string) => (r: PolicyResource) => {
  if (r.type !== TYPES.command) return false;
  const marker = read(() => r.props.environment?.[STEP_MARKER] as string | undefined);
  return marker.known && marker.value === step;
};
export const isVerifyCommand = isStep(STEPS.verify);
export const isPromoteStep = isStep(STEPS.promote);
export const isSignStep = isStep(STEPS.sign);
export const isScanStep = isStep(STEPS.scan);
export const isAttestStep = isStep(STEPS.attest);

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
export function verifiedBy(r: PolicyResource) {
  const create = read(() => r.props.create as string | undefined);
  return create.known && typeof create.value === "string" ? parseVerifyCommandLine(create.value) : undefined;
}

/**
 * For an image reference unknown at preview: the problem with its provenance, or undefined when the
 * property depends on a verification Command that itself follows a docker-build image.
 */
export function unknownImageProblem(resource: PolicyResource, property: string): string | undefined {
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
export function knownImageProblem(
  resource: PolicyResource,
  property: string,
  image: string,
): string | undefined {
  const verifies = (resource.propertyDependencies[property] ?? []).filter(isVerifyCommand);
  if (verifies.length === 0) return undefined; // no claim of verification to check
  const checked = verifies.map(verifiedBy);
  if (checked.some((c) => c === undefined || c.ref === image)) return undefined;
  return `its ${property} ${image} depends on verify steps that checked ${checked.map((c) => c!.ref).join(", ")}, not this image; deploy the reference the verify step checked (ContainerImage.imageRef)`;
}

export function platformsByRepository(resources: PolicyResource[]): Map<string, Set<string>> {
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
