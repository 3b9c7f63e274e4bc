/**
 * Turns the raw stack configuration into one typed, defaulted {@link StackConfig}, or throws one
 * {@link ConfigError} listing every problem, each naming the stack file, the key path, what was
 * expected and what was received. Runs before any resource is registered.
 */
import * as path from "node:path";
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";
import { ConfigError, describeValue } from "../errors";
import { cloudRunResourceProblem } from "../cloud-run-limits";
import type { CommitInfo } from "../commit";
import {
  CLOUD_RUN_SERVICE_NAME_MAX,
  IAM_ROLE_NAME_MAX,
  cloudRunInvokerGrantName,
  LAMBDA_FUNCTION_NAME_MAX,
  lambdaFunctionName,
  lambdaRoleName,
} from "../names";
import { architectureForPlatform, platformForArchitecture } from "../platform";
import { rolloutProblems } from "../release";
import { AWS_REGION_PATTERN, GCP_PROJECT_ID_PATTERN, GCP_REGION_PATTERN } from "./cloud-ids";
import { AWS_SDK_CORE_VERSION, isPublishedAwsRegion } from "./regions";
import {
  CLOUD_RUN_RESERVED_ENV,
  DEFAULT_LAMBDA_ARCHITECTURE,
  LAMBDA_RESERVED_ENV,
  PROGRAM_ENV,
  PROJECT,
  SECRET_LOOKING_ENV,
  SERVICE_NAME_PATTERN,
  cloudRunServiceSchema,
  lambdaServiceSchema,
  stackConfigSchema,
  type ArtifactRegistryConfig,
  type CloudRunServiceConfig,
  type LambdaServiceConfig,
  type ServiceConfig,
} from "./schema";
import { describeIssues, keyPath, type Path } from "./zod-issues";

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
  const requirePinned = own("requirePinnedSecretVersions");
  const defaultRetention = own("logRetentionDays");
  const plainEnvNames = new Set(own("plainEnvNames") ?? []);
  const promoteFrom = own("promoteFrom");
  const rollback = own("rollback") ?? {};

  // Services are parsed one by one so each gets the schema of its own target.
  // Even when another top-level key is wrong, check the services too: report everything at once.
  const servicesOnly = base ? undefined : stackConfigSchema.shape.services.safeParse(raw.project.services);
  const rawServices = base?.services ?? (servicesOnly?.success ? servicesOnly.data : {});
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
    const schema =
      target === "cloudrun" ? cloudRunServiceSchema : target === "lambda" ? lambdaServiceSchema : undefined;
    if (!schema) {
      // A misspelt `target` key reads as a missing target: name the key that is there instead.
      const typo =
        target === undefined
          ? Object.keys(value).find((k) => k !== "target" && distance(k, "target") <= 2)
          : undefined;
      at(
        [...where, typo ?? "target"],
        typo !== undefined
          ? `unknown key; did you mean "target"? (target is "cloudrun" or "lambda")`
          : `expected "cloudrun" or "lambda", got ${describeValue(target)}`,
      );
      continue;
    }
    const parsed = schema.safeParse(value, { reportInput: true });
    if (!parsed.success) {
      problems.push(...describeIssues(parsed.error.issues, schema, where, ctx.file));
      continue;
    }
    // Cloud Run service names are at most 49 characters, and 46 with a traffic tag (lib/names.ts).
    if (parsed.data.target === "cloudrun" && name.length > CLOUD_RUN_SERVICE_NAME_MAX) {
      at(
        where,
        `Cloud Run service names are at most ${CLOUD_RUN_SERVICE_NAME_MAX} characters here (the release gate's tag URL, "next---<service>", must fit Cloud Run's 46-character limit for tag and name); ${JSON.stringify(name)} has ${name.length}. Rename the service`,
      );
      continue;
    }
    const service =
      parsed.data.target === "cloudrun"
        ? ({ ...parsed.data, name } as CloudRunServiceConfig)
        : normalizeLambda(
            name,
            parsed.data as z.output<typeof lambdaServiceSchema>,
            // 30 only stands in when the stack's own value is invalid, which is reported anyway.
            defaultRetention ?? 30,
            ctx.stack,
            where,
            at,
          );
    if (service) {
      checkService(service, where, at, requirePinned, plainEnvNames);
      services.push(service);
    }
  }

  // Physical names must be unique: two functions with one name would fail in AWS after the first.
  const byFunctionName = new Map<string, string>();
  for (const svc of services) {
    if (svc.target !== "lambda") continue;
    const other = byFunctionName.get(svc.functionName);
    if (other !== undefined) {
      at(
        ["services", svc.name, "functionName"],
        `${svc.name} and ${other} would both be the Lambda function ${JSON.stringify(svc.functionName)}; give each its own functionName`,
      );
    }
    byFunctionName.set(svc.functionName, svc.name);
  }

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

  // Provider settings the services need.
  const gcpProject = raw.providers["gcp:project"];
  const gcpRegion = raw.providers["gcp:region"];
  const awsRegion = raw.providers["aws:region"];
  const hasCloudRun = services.some((s) => s.target === "cloudrun");
  const hasLambda = services.some((s) => s.target === "lambda");
  if (hasCloudRun && !gcpProject)
    problems.push(
      `${ctx.file}: gcp:project: required by the Cloud Run services; set it with \`pulumi config set gcp:project <project-id>\``,
    );
  if (hasCloudRun && !gcpRegion)
    problems.push(
      `${ctx.file}: gcp:region: required by the Cloud Run services; set it with \`pulumi config set gcp:region us-central1\``,
    );
  if (hasLambda && !awsRegion)
    problems.push(
      `${ctx.file}: aws:region: required by the Lambda functions; set it with \`pulumi config set aws:region us-east-1\``,
    );
  // What the clouds would refuse, checked here (Google's project-id rules; region name shapes).
  const providerChecks: Array<[string, string | undefined, RegExp, string]> = [
    [
      "gcp:project",
      gcpProject,
      GCP_PROJECT_ID_PATTERN,
      "expected a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen",
    ],
    ["gcp:region", gcpRegion, GCP_REGION_PATTERN, 'expected a Google Cloud region like "us-central1"'],
    ["aws:region", awsRegion, AWS_REGION_PATTERN, 'expected an AWS region like "us-east-1"'],
  ];
  for (const [key, value, pattern, expected] of providerChecks) {
    if (value !== undefined && !pattern.test(value)) {
      problems.push(`${ctx.file}: ${key}: ${expected}, got ${describeValue(value)}`);
    } else if (key === "aws:region" && value !== undefined && !isPublishedAwsRegion(value)) {
      // The shape is right but no partition lists it (Google's lists are the APIs': program.ts).
      problems.push(
        `${ctx.file}: aws:region: ${describeValue(value)} is not a region the AWS SDK's partition table lists; check the spelling, e.g. "us-east-1" (a region launched after @aws-sdk/core ${AWS_SDK_CORE_VERSION} needs a newer one: npm update @aws-sdk/core)`,
      );
    }
  }

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

function normalizeLambda(
  name: string,
  data: z.output<typeof lambdaServiceSchema>,
  defaultRetention: number,
  stack: string,
  where: Path,
  at: (p: Path, message: string) => void,
): LambdaServiceConfig | undefined {
  // Names derive from the stack, so staging and prod can share an account; AWS's limits are checked
  // here, on the name that would be created.
  const functionName = data.functionName ?? lambdaFunctionName(PROJECT, stack, name);
  const roleName = lambdaRoleName(functionName);
  const nameKey = data.functionName === undefined ? where : [...where, "functionName"];
  if (functionName.length > LAMBDA_FUNCTION_NAME_MAX) {
    at(
      nameKey,
      `the function name ${JSON.stringify(functionName)} has ${functionName.length} characters; Lambda allows ${LAMBDA_FUNCTION_NAME_MAX}. ` +
        `Set a shorter functionName`,
    );
    return undefined;
  }
  if (roleName.length > IAM_ROLE_NAME_MAX) {
    at(
      nameKey,
      `the execution role name ${JSON.stringify(roleName)} has ${roleName.length} characters; IAM allows ${IAM_ROLE_NAME_MAX}. ` +
        `Set a functionName of at most ${IAM_ROLE_NAME_MAX - (roleName.length - functionName.length)} characters`,
    );
    return undefined;
  }
  // One of platform/architecture is derived from the other; given both, they must agree.
  const architecture =
    data.architecture ??
    (data.platform ? architectureForPlatform(data.platform) : DEFAULT_LAMBDA_ARCHITECTURE);
  const platform = data.platform ?? platformForArchitecture(architecture);
  if (architectureForPlatform(platform) !== architecture) {
    at(
      where,
      `platform "${platform}" builds ${architectureForPlatform(platform)} images but architecture is "${architecture}"; ` +
        `set only one of them (the other is derived), e.g. architecture: "${architecture}"`,
    );
    return undefined;
  }
  return {
    ...data,
    name,
    functionName,
    platform,
    architecture,
    logRetentionDays: data.logRetentionDays ?? defaultRetention,
  };
}

function checkService(
  s: ServiceConfig,
  where: Path,
  at: (p: Path, message: string) => void,
  requirePinned: boolean | undefined,
  plainEnvNames: ReadonlySet<string>,
): void {
  const looksSecret = (k: string) => SECRET_LOOKING_ENV.test(k) && !plainEnvNames.has(k);
  const reserved = new Set<string>([
    ...PROGRAM_ENV,
    ...(s.target === "cloudrun" ? CLOUD_RUN_RESERVED_ENV : LAMBDA_RESERVED_ENV),
  ]);
  const isReserved = (k: string) => reserved.has(k) || (s.target === "lambda" && k.startsWith("AWS_"));
  for (const [k, v] of Object.entries(s.env)) {
    if (isReserved(k)) {
      at(
        [...where, "env", k],
        `${k} is set by ${PROGRAM_ENV.includes(k as never) ? "this program" : s.target === "cloudrun" ? "Cloud Run" : "Lambda"}; remove it from env`,
      );
    } else if (looksSecret(k)) {
      at(
        [...where, "env", k],
        // No part of the value is repeated: it may be the secret itself.
        `${k} looks like a secret but is a plain value (${v.length} characters, not shown); ` +
          `move it to ${s.target === "cloudrun" ? "secrets (a Secret Manager reference)" : "secrets (a Secrets Manager ARN or name)"}`,
      );
    }
    if (k in s.secrets) at([...where, "env", k], `${k} is declared in both env and secrets; keep one`);
  }
  // Build args are written into the image's history (docker history shows them): never a secret.
  for (const k of Object.keys(s.buildArgs)) {
    if (looksSecret(k)) {
      at(
        [...where, "buildArgs", k],
        `${k} looks like a secret, and build args are stored in the image's history for anyone who can pull it; ` +
          "remove it (a secret the build needs must not end up in the image)",
      );
    }
  }
  for (const k of Object.keys(s.secrets)) {
    if (isReserved(k)) at([...where, "secrets", k], `${k} is reserved; pick another variable name`);
  }
  // Two env vars may read one secret: that is one grant (named by the secret), never two.
  if (s.rollout) {
    for (const p of rolloutProblems(s.rollout)) at([...where, "rollout"], p);
    const ungated =
      !s.healthGate ||
      (s.target === "cloudrun" && s.exposure === "private" && s.healthGateServiceAccount === undefined);
    if (ungated) {
      at(
        [...where, "rollout"],
        !s.healthGate
          ? "a rollout gates each step, and this service has healthGate: false; set healthGate: true or remove rollout"
          : "a rollout gates each step, and this private service has no healthGateServiceAccount to call it with; set one or remove rollout",
      );
    }
  }
  if (s.target === "cloudrun") {
    const resources = cloudRunResourceProblem(s.cpu, s.memory);
    if (resources) at([...where, "memory"], resources);
    if (s.minInstances > s.maxInstances) {
      at(
        [...where, "minInstances"],
        `minInstances (${s.minInstances}) is greater than maxInstances (${s.maxInstances})`,
      );
    }
    if (requirePinned) {
      for (const [k, ref] of Object.entries(s.secrets)) {
        if (ref.version === "latest") {
          at(
            [...where, "secrets", k, "version"],
            `this stack must pin a numeric secret version (requirePinnedSecretVersions), got "latest"; set e.g. "3"`,
          );
        }
      }
    }
    // One grant per member, named by it: a member listed twice (or also the health gate's account)
    // is one grant; two members whose names differ only in punctuation would be one resource name.
    const byGrant = new Map<string, string>();
    s.invokers.forEach((m, i) => {
      if (m === "allUsers" || m === "allAuthenticatedUsers") {
        at([...where, "invokers", i], `"${m}" would make the service public; set exposure: public instead`);
      }
      const grant = cloudRunInvokerGrantName(s.name, m);
      const other = byGrant.get(grant);
      if (other !== undefined && other.toLowerCase() !== m.toLowerCase()) {
        at(
          [...where, "invokers", i],
          `"${m}" and "${other}" are different members whose grants would both be named "${grant}"; grant one of them outside this stack`,
        );
      }
      byGrant.set(grant, m);
    });
    if (s.healthGateServiceAccount !== undefined) {
      const health = `serviceAccount:${s.healthGateServiceAccount}`;
      const other = byGrant.get(cloudRunInvokerGrantName(s.name, health));
      if (other !== undefined && other.toLowerCase() !== health.toLowerCase()) {
        at(
          [...where, "healthGateServiceAccount"],
          `its invoker grant would have the name of invoker "${other}"'s, a different member; grant that invoker outside this stack`,
        );
      }
    }
  } else if (s.exposure === "public" && !s.functionUrl) {
    at(
      [...where, "exposure"],
      `a public Lambda needs a function URL to be reached; set functionUrl: true or exposure: private`,
    );
  }
}
