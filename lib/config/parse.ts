/**
 * Turns the raw stack configuration into one typed, defaulted {@link StackConfig}, or throws one
 * {@link ConfigError} listing every problem, each naming the stack file, the key path, what was
 * expected and what was received. Runs before any resource is registered.
 */
import * as path from "node:path";
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";
import { ConfigError, describeValue } from "../errors";
import type { CommitInfo } from "../commit";
import { PROJECT } from "./project";
import {
  stackConfigSchema,
  type ArtifactRegistryConfig,
  type BinaryAuthorizationConfig,
  type SignatureKeysConfig,
  type SigningConfig,
} from "./schema";
import { SERVICE_NAME_PATTERN, type ParseServiceContext, type ProviderKey } from "./services/common";
import { SERVICE_TARGETS, type ServiceConfig } from "./services";
import { describeIssues, keyPath, type Path } from "./zod-issues";

/** `"cloudrun" or "lambda"`, for messages. */
const TARGET_NAMES = SERVICE_TARGETS.map((t) => JSON.stringify(t.target)).join(" or ");

/** Configuration as Pulumi hands it to the program. */
export interface RawStackConfig {
  /** `multicloud-deploy:*` values keyed without the namespace; strings, objects as JSON text or values. */
  project: Record<string, unknown>;
  /** The provider keys the program reads (`gcp:project`, `gcp:region`, `aws:region`). */
  providers: Record<string, string | undefined>;
}

export interface ParseContext {
  /** Stack name, e.g. `staging`. */
  stack: string;
  /** The file users edit, for messages: `Pulumi.<stack>.yaml`. */
  file: string;
  /** Directory the build contexts are relative to. */
  projectDir: string;
  /** Resolves the commit to tag images with; gets `multicloud-deploy:commitSha` if set. */
  resolveCommit: (configSha: string | undefined) => CommitInfo | { problem: string };
  /** File-system probe, injectable for tests. */
  exists: (absolutePath: string) => boolean;
}

type StackSchemaOutput = z.output<typeof stackConfigSchema>;

/**
 * The validated stack config: the schema's output (every stack default applied there, and only
 * there), with the services parsed by target and what is resolved from outside the namespace.
 */
export type StackConfig = Omit<StackSchemaOutput, "services" | "commitSha" | "artifactRegistry"> & {
  stack: string;
  file: string;
  commit: CommitInfo;
  /** This stack builds its images: it promotes from no other stack (`promoteFrom` unset). */
  builds: boolean;
  /**
   * Where each service's image comes from, decided here once: its `rollback` entry first, else the
   * stack it promotes from, else a build at this commit (lib/service-plan.ts imageSource).
   */
  imageSources: Record<string, "build" | "promote" | "rollback">;
  /** Sorted by name, so the program registers resources in a stable order. */
  services: ServiceConfig[];
  /** Set when the stack has Cloud Run services. */
  gcp?: {
    project: string;
    region: string;
    /** The repositories, with project, location and cache repository resolved. */
    artifactRegistry: ArtifactRegistryConfig & {
      project: string;
      location: string;
      cacheRepositoryId: string;
    };
  };
  /** Set when the stack has Lambda functions. */
  aws?: { region: string };
};

/**
 * Validates and normalises the whole stack configuration. Collects every problem and throws once.
 */
export function parseStackConfig(raw: RawStackConfig, ctx: ParseContext): StackConfig {
  const problems: string[] = [];
  const at = (p: Path, message: string) => problems.push(`${ctx.file}: ${PROJECT}:${keyPath(p)}: ${message}`);

  const top = stackConfigSchema.safeParse(raw.project, { reportInput: true });
  if (!top.success) problems.push(...describeIssues(top.error.issues, stackConfigSchema, [], ctx.file));
  const base = top.success ? top.data : undefined;
  // When another key is wrong, a check still uses this stack's own value of the key it depends on
  // (parsed on its own), never a default the stack did not choose; an invalid value skips the check.
  const own = <K extends keyof typeof stackConfigSchema.shape>(key: K) => {
    if (base) return base[key];
    const r = stackConfigSchema.shape[key].safeParse(raw.project[key]);
    return r.success ? (r.data as z.output<(typeof stackConfigSchema.shape)[K]>) : undefined;
  };
  const stackValues = {
    requirePinnedSecretVersions: own("requirePinnedSecretVersions"),
    logRetentionDays: own("logRetentionDays"),
  };
  const plainEnvNames = new Set(own("plainEnvNames") ?? []);
  const promoteFrom = own("promoteFrom");
  const rollback = own("rollback") ?? {};

  // Even when another top-level key is wrong, check the services too: report everything at once.
  const servicesOnly = base ? undefined : stackConfigSchema.shape.services.safeParse(raw.project.services);
  const rawServices = base?.services ?? (servicesOnly?.success ? servicesOnly.data : {});
  const services = parseServices(rawServices, {
    stack: ctx.stack,
    file: ctx.file,
    at,
    problems,
    stackValues,
    plainEnvNames,
  });

  // A rollback names services that exist.
  for (const name of Object.keys(rollback)) {
    if (!services.some((s) => s.name === name) && !(name in rawServices)) {
      const known = Object.keys(rawServices);
      at(
        ["rollback", name],
        `no service named ${JSON.stringify(name)}` +
          (known.length > 0 ? `; did you mean "${closest(name, known)}"?` : "") +
          " Remove it, or roll back a configured service",
      );
    }
  }

  problems.push(...providerProblems(raw.providers, services, ctx.file));

  // A stack cannot promote from itself: it would deploy what it already runs, and never build.
  const source = promoteFrom?.split("/");
  if (source && source[1] === PROJECT && source[2] === ctx.stack) {
    at(
      ["promoteFrom"],
      `a stack cannot promote from itself (${promoteFrom} is this stack); name the stack whose images this one deploys, e.g. acme/${PROJECT}/staging, or remove promoteFrom to build here`,
    );
  }

  // What is built must exist, and must be what the commit says unless dirty builds are allowed.
  // A stack builds unless it promotes (an invalid promoteFrom was reported: nothing to check then);
  // rolled-back services deploy an earlier image and build nothing.
  const builds = raw.project.promoteFrom === undefined;
  const imageSources = Object.fromEntries(
    services.map(
      (s) => [s.name, rollback[s.name] !== undefined ? "rollback" : builds ? "build" : "promote"] as const,
    ),
  );
  if (builds) {
    for (const s of services.filter((x) => imageSources[x.name] === "build")) {
      const contextDir = path.resolve(ctx.projectDir, s.context);
      if (!ctx.exists(contextDir)) {
        at(
          ["services", s.name, "context"],
          `build context ${JSON.stringify(s.context)} does not exist under ${ctx.projectDir}; fix the path or add the directory`,
        );
      } else if (!ctx.exists(path.resolve(contextDir, s.dockerfile))) {
        at(
          ["services", s.name, "dockerfile"],
          `no Dockerfile at ${JSON.stringify(path.join(s.context, s.dockerfile))}; fix the path or add the file`,
        );
      }
    }
  }
  problems.push(
    ...signingProblems(
      ctx.file,
      services,
      imageSources,
      builds,
      own("signing"),
      own("signatureKeys"),
      promoteFrom,
    ),
    ...binaryAuthorizationProblems(ctx.file, services, own("binaryAuthorization"), promoteFrom),
  );

  const commit = ctx.resolveCommit(own("commitSha"));
  if ("problem" in commit) {
    problems.push(`${ctx.file}: ${commit.problem}`);
  } else if (builds && commit.dirty && own("allowDirtyBuilds") === false) {
    problems.push(
      `${ctx.file}: ${PROJECT}:allowDirtyBuilds: the work tree has uncommitted changes and this stack forbids dirty builds; ` +
        "commit or stash them (images are tagged by commit, so what is deployed must be what was committed)",
    );
  }

  if (problems.length > 0 || !base || "problem" in commit) throw new ConfigError(ctx.file, problems);

  const { services: _services, commitSha: _commitSha, artifactRegistry: ar, ...rest } = base;
  // Each cloud's settings are there exactly when the stack has services on it (program.ts).
  const hasCloudRun = services.some((s) => s.target === "cloudrun");
  const hasLambda = services.some((s) => s.target === "lambda");
  const gcpProject = raw.providers["gcp:project"];
  const gcpRegion = raw.providers["gcp:region"];
  const awsRegion = raw.providers["aws:region"];
  return {
    ...rest,
    stack: ctx.stack,
    file: ctx.file,
    commit,
    builds,
    imageSources,
    services,
    gcp: hasCloudRun
      ? {
          project: gcpProject!,
          region: gcpRegion!,
          artifactRegistry: {
            ...ar,
            project: ar.project ?? gcpProject!,
            location: ar.location ?? gcpRegion!,
            cacheRepositoryId: ar.cacheRepositoryId ?? `${ar.repositoryId}-cache`,
          },
        }
      : undefined,
    aws: hasLambda ? { region: awsRegion! } : undefined,
  };
}

/**
 * Each service of `rawServices` (sorted by name) parsed with its target's schema and checked by the
 * shared rules and its target's; a service with a problem is reported through `at` and left out.
 */
function parseServices(
  rawServices: Record<string, unknown>,
  { stack, file, at, problems, stackValues, plainEnvNames }: Omit<ParseServiceContext, "where">,
): ServiceConfig[] {
  const services: ServiceConfig[] = [];
  for (const name of Object.keys(rawServices).sort()) {
    const where: Path = ["services", name];
    if (!SERVICE_NAME_PATTERN.test(name)) {
      at(
        where,
        `service name ${JSON.stringify(name)} must be 1-63 lowercase letters, digits or "-", start with a letter and not end with "-" (valid for both Cloud Run and Lambda)`,
      );
    }
    const value = rawServices[name];
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      at(
        where,
        `expected a map of service settings like { target: "cloudrun", context: "apps/api" }, got ${describeValue(value)}`,
      );
      continue;
    }
    const target = (value as Record<string, unknown>).target;
    const rules = SERVICE_TARGETS.find((t) => t.target === target);
    if (!rules) {
      // A misspelt `target` key reads as a missing target: name the key that is there instead.
      const typo =
        target === undefined
          ? Object.keys(value).find((k) => k !== "target" && distance(k, "target") <= 2)
          : undefined;
      at(
        [...where, typo ?? "target"],
        typo !== undefined
          ? `unknown key; did you mean "target"? (target is ${TARGET_NAMES})`
          : `expected ${TARGET_NAMES}, got ${describeValue(target)}`,
      );
      continue;
    }
    const service = rules.parse(name, value, {
      stack,
      where,
      at,
      stackValues,
      file,
      problems,
      plainEnvNames,
    });
    if (service) services.push(service);
  }
  for (const rules of SERVICE_TARGETS) rules.checkStack(services, at);
  return services;
}

/** The provider settings the stack's services need, and what the clouds would refuse of them. */
function providerProblems(
  providers: RawStackConfig["providers"],
  services: readonly ServiceConfig[],
  file: string,
): string[] {
  const out: string[] = [];
  // Provider settings the services need, and what the clouds would refuse (region name shapes,
  // Google's project-id rules, the AWS SDK's region list), checked here.
  // Each key once, however many targets need it: the first target that needs it is named.
  const required = new Map<string, { example: string; by: string }>();
  for (const rules of SERVICE_TARGETS.filter((t) => services.some((s) => s.target === t.target))) {
    for (const { key, example } of rules.providers) {
      if (!required.has(key)) required.set(key, { example, by: rules.services });
    }
  }
  for (const [key, { example, by }] of required) {
    if (!providers[key]) {
      out.push(`${file}: ${key}: required by ${by}; set it with \`pulumi config set ${key} ${example}\``);
    }
  }
  const shapes = new Map<string, ProviderKey>();
  for (const p of SERVICE_TARGETS.flatMap((t) => t.providers)) if (!shapes.has(p.key)) shapes.set(p.key, p);
  for (const { key, pattern, expected, check } of shapes.values()) {
    const value = providers[key];
    if (value === undefined) continue;
    const problem = !pattern.test(value) ? `${expected}, got ${describeValue(value)}` : check?.(value);
    if (problem !== undefined) out.push(`${file}: ${key}: ${problem}`);
  }
  return out;
}

/** Per target: its signing key, its public key in a promoting stack, and what it is, for messages. */
const SIGNING_BY_TARGET = {
  cloudrun: { signing: "gcpKmsKey", publicKey: "gcp", images: "Cloud Run images (Artifact Registry)" },
  lambda: { signing: "awsKmsKey", publicKey: "aws", images: "Lambda images (ECR)" },
} as const;

/**
 * A building stack that signs has a key for each cloud it builds for; a promoting stack has the source
 * stack's public key for each cloud it promotes, and never signs (docs/signing.md).
 */
export function signingProblems(
  file: string,
  services: readonly ServiceConfig[],
  imageSources: Record<string, "build" | "promote" | "rollback">,
  /** The stack builds (it promotes from no other stack): parseStackConfig's `builds`. */
  builds: boolean,
  signing: SigningConfig | undefined,
  signatureKeys: SignatureKeysConfig | undefined,
  promoteFrom: string | undefined,
): string[] {
  const problems: string[] = [];
  const at = (key: string, message: string) => problems.push(`${file}: ${PROJECT}:${key}: ${message}`);
  if (!builds && signing !== undefined) {
    at(
      "signing",
      `this stack promotes from ${promoteFrom} and builds nothing: it must never sign as the stack it promotes from; remove signing (the source stack signs, this one checks with signatureKeys)`,
    );
  }
  for (const target of ["cloudrun", "lambda"] as const) {
    const t = SIGNING_BY_TARGET[target];
    const of = (source: string) =>
      services.some((s) => s.target === target && imageSources[s.name] === source);
    if (builds && signing !== undefined && of("build") && !signing[t.signing]) {
      at(
        `signing.${t.signing}`,
        `required: this stack builds ${t.images} and signs what it builds; set the key (docs/signing.md), or remove signing`,
      );
    }
    // An invalid promoteFrom was reported already: its keys are not asked for on top of it.
    if (promoteFrom !== undefined && of("promote") && !signatureKeys?.[t.publicKey]) {
      at(
        `signatureKeys.${t.publicKey}`,
        `required: this stack promotes ${t.images} from ${promoteFrom} and deploys only what that stack signed; set its public key in PEM (docs/signing.md, "What prod needs")`,
      );
    }
  }
  return problems;
}

/**
 * Binary Authorization is a promoting stack's, for its Cloud Run services: the source stack signs the
 * payload with every Artifact Registry image it signs, and the promoting stack attests its copy with
 * it (docs/signing.md, "Binary Authorization").
 */
export function binaryAuthorizationProblems(
  file: string,
  services: readonly ServiceConfig[],
  binaryAuthorization: BinaryAuthorizationConfig | undefined,
  promoteFrom: string | undefined,
): string[] {
  if (binaryAuthorization === undefined) return [];
  const at = `${file}: ${PROJECT}:binaryAuthorization`;
  if (promoteFrom === undefined)
    return [
      `${at}: only a promoting stack attests (it deploys what the stack it promotes from signed); this stack builds, and its signing step already signs the attestation payload of every Artifact Registry image: remove binaryAuthorization here and set it in the promoting stack`,
    ];
  if (!services.some((s) => s.target === "cloudrun"))
    return [
      `${at}: this stack has no Cloud Run service, and only Cloud Run enforces Binary Authorization; remove it`,
    ];
  return [];
}
