/**
 * What every service has, whichever cloud it runs on: the shared fields of its schema, the rules on
 * them, and the shape of a target's own rules ({@link ServiceTarget}, sealed by {@link defineTarget}).
 * Each target is one file beside this one, listed in ./index.ts; lib/config/parse.ts runs them.
 */
import { GATE_RETRY_LIMITS, type GateRetry } from "../../release/step";
import { z } from "zod";
import {
  ANALYSIS_DEFAULTS,
  ANALYSIS_INTEGERS,
  ANALYSIS_LIMITS,
  rolloutProblems,
  type Analysis,
  type RolloutSettings,
} from "../../release";
import { CLOUD_RUN_DEFAULTS } from "../../service-defaults";
import { e, emptyIsNone, envNameKey, ENV_NAME } from "../fields";
import { describeIssues, type Path } from "../zod-issues";

/**
 * Service names become the Cloud Run service name (at most 63 characters, lowercase letters, digits
 * and `-`, starting with a letter) and the Lambda function name (at most 64 of `[A-Za-z0-9_-]`). The
 * rule below is what both accept.
 */
export const SERVICE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Names the program sets itself on every service; config may not set them. */
const PROGRAM_ENV = ["APP_VERSION", "NODE_ENV"] as const;

/** Env names that look like they hold a secret: these must come from a secret reference. */
const SECRET_LOOKING_ENV = /KEY|SECRET|TOKEN|PASSWORD/i;

const envMap = z.record(
  envNameKey("API_URL"),
  z.string(e("expected a string value (quote numbers and booleans in YAML)")),
  e("expected a map of environment variable names to string values"),
);

const buildArgs = z.record(
  z.string().regex(ENV_NAME, e("expected a build argument name like NODE_VERSION")),
  z.string(e("expected a string value (quote numbers and booleans in YAML)")),
  e("expected a map of build argument names to string values"),
);

const relativePath = (what: string) =>
  z
    .string(e(`expected ${what} relative to the project directory`))
    .min(1, e(`expected ${what} relative to the project directory`))
    .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), {
      message: `expected ${what} inside the project directory (no absolute path, no "..")`,
    });

/** `secrets:`: env var name → a reference of the target's own kind, never a value. */
export const secretsMap = <T extends z.ZodType>(example: string, reference: T) =>
  emptyIsNone(z.record(envNameKey(example), reference).default({}));

/** Path of the HTTP health endpoint used by the probes and the health gate. */
export const healthPath = z
  .string(e('expected an absolute URL path like "/health"'))
  .regex(/^\/\S*$/, e('expected an absolute URL path like "/health"'))
  .default(CLOUD_RUN_DEFAULTS.healthPath);

/** Settings every service has, whichever cloud it runs on. */
export const commonService = {
  /** Build context directory, relative to the project. */
  context: relativePath("a build context directory"),
  /** Dockerfile path relative to the build context. */
  dockerfile: z
    .string(e("expected a Dockerfile path relative to the build context"))
    .min(1, e("expected a Dockerfile path relative to the build context"))
    .default("Dockerfile"),
  /** Build arguments (never secrets: they end up in the image history). */
  buildArgs: buildArgs.default({}),
  /** Multi-stage build target. */
  buildTarget: z.string(e("expected the name of a build stage")).min(1).optional(),
  exposure: z
    .enum(["public", "private"], e('expected "public" (anyone on the internet may call it) or "private"'))
    .default(CLOUD_RUN_DEFAULTS.exposure),
  env: emptyIsNone(envMap.default({})),
  /** Gate each new revision or version on its own before it takes traffic. */
  healthGate: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.healthGate),
  /**
   * How hard the gate tries: at most `attempts` requests, `intervalSeconds` before the second (then
   * growing), each bounded by `timeoutSeconds`. Each key defaults to its cloud's (lib/service-defaults.ts).
   * A definite failure ends the gate at once whatever is left.
   */
  healthGateRetry: z
    .strictObject(
      Object.fromEntries(
        (Object.entries(GATE_RETRY_LIMITS) as [keyof GateRetry, readonly [number, number]][]).map(
          ([k, [min, max]]) => [
            k,
            z
              .number(e(`expected a whole number from ${min} to ${max}`))
              .int(e(`expected a whole number from ${min} to ${max}`))
              .min(min, e(`expected a whole number from ${min} to ${max}`))
              .max(max, e(`expected a whole number from ${min} to ${max}`))
              .optional(),
          ],
        ),
      ) as Record<keyof GateRetry, z.ZodOptional<z.ZodNumber>>,
      e("expected { attempts, intervalSeconds, timeoutSeconds }"),
    )
    .optional(),
  /**
   * A gradual release: the new revision or version's share at each step, then 100, with a wait and
   * the gate after each. Off by default: traffic moves at once after the gate. Rules: lib/release/traffic.ts.
   */
  rollout: z
    .strictObject(
      {
        steps: z.array(
          z.number(e("expected a percentage")),
          e("expected a list of percentages like [10, 50]"),
        ),
        waitSeconds: z.number(e("expected a number of seconds")).default(60),
        /**
         * How each step's own traffic is judged (lib/release/analysis.ts); each key defaults to
         * ANALYSIS_DEFAULTS. false: the health gate alone judges each step.
         */
        analysis: z
          .union(
            [
              z.literal(false),
              z.strictObject(
                {
                  ...(Object.fromEntries(
                    (
                      Object.entries(ANALYSIS_LIMITS) as [
                        keyof typeof ANALYSIS_LIMITS,
                        readonly [number, number],
                      ][]
                    ).map(([k, [min, max]]) => {
                      const whole = ANALYSIS_INTEGERS.includes(k);
                      const expected = e(
                        `expected ${whole ? "a whole number" : "a number"} from ${min} to ${max}`,
                      );
                      const n = z.number(expected).min(min, expected).max(max, expected);
                      return [k, (whole ? n.int(expected) : n).optional()];
                    }),
                  ) as Record<keyof typeof ANALYSIS_LIMITS, z.ZodOptional<z.ZodNumber>>),
                  tooFewRequests: z
                    .enum(
                      ["hold", "pass"],
                      e('expected "hold" (wait for requests, then return traffic) or "pass"'),
                    )
                    .optional(),
                },
                e(`expected false or { ${Object.keys(ANALYSIS_DEFAULTS).join(", ")} }`),
              ),
            ],
            e(`expected false or { ${Object.keys(ANALYSIS_DEFAULTS).join(", ")} }`),
          )
          .optional(),
      },
      e("expected { steps: [10, 50], waitSeconds: 60 }"),
    )
    .optional(),
};

/** The fields {@link commonService} gives a parsed service, plus its name (the key under `services`). */
export interface CommonServiceConfig {
  name: string;
  env: Record<string, string>;
  secrets: Record<string, unknown>;
  buildArgs: Record<string, string>;
  healthGate: boolean;
  healthGateRetry?: Partial<GateRetry>;
  rollout?: RolloutSettings & { analysis?: Partial<Analysis> | false };
}

/** Reports a problem at a key path under `multicloud-deploy:`. */
export type Report = (p: Path, message: string) => void;

/** What a target's rules are given besides the service. */
export interface ServiceContext {
  stack: string;
  /** Where the service sits: `["services", <name>]`. */
  where: Path;
  at: Report;
  /** The stack's own values of the keys service rules depend on; undefined when that key is invalid. */
  stackValues: { requirePinnedSecretVersions?: boolean; logRetentionDays?: number };
}

/** A provider setting a target needs, e.g. `gcp:region`, and the shape the cloud accepts. */
export interface ProviderKey {
  key: string;
  /** An example value for the `pulumi config set` hint, e.g. `us-central1`. */
  example: string;
  pattern: RegExp;
  /** The message for a value of the wrong shape, e.g. `expected a Google Cloud region like "us-central1"`. */
  expected: string;
  /** A check beyond the shape (a published list); returns the problem, if any. */
  check?: (value: string) => string | undefined;
}

/**
 * One deployment target's config rules, written against its own service type `S` and its schema's
 * output `Data`. A new target is one file implementing this, sealed with {@link defineTarget} and
 * listed in ./index.ts; the component wiring is `targets/` at the top of the repository.
 */
export interface ServiceTarget<S extends CommonServiceConfig & { target: string }, Data> {
  /** The value of `target` that selects these rules. */
  readonly target: S["target"];
  /** Who sets the target's reserved env names, for messages: "Cloud Run". */
  readonly runtime: string;
  /** For the message naming what needs the provider settings: "the Cloud Run services". */
  readonly services: string;
  /** What a secret reference is here, for the message that moves a secret-looking env var. */
  readonly secretReference: string;
  /** The service's keys, with their types and defaults; unknown keys are errors. */
  readonly schema: z.ZodType<Data>;
  /** The provider settings a stack with such a service needs, in the order they are reported. */
  readonly providers: readonly ProviderKey[];
  /** Names the runtime sets itself, besides {@link PROGRAM_ENV}. */
  readonly isReservedEnv: (name: string) => boolean;
  /**
   * Turns the schema's output into the service's config, resolving what depends on the stack, or
   * reports why it cannot be deployed and returns undefined (no further rule then runs on it).
   */
  readonly toService: (name: string, data: Data, ctx: ServiceContext) => S | undefined;
  /** Why a rollout on a service with its health gate on still could not be gated, if so. */
  readonly ungatedReason: (s: S) => string | undefined;
  /** The rules that tie this target's own fields together, after the shared ones. */
  readonly check: (s: S, ctx: ServiceContext) => void;
  /** Rules across the stack's services of this target, e.g. physical names that must be unique. */
  readonly checkStack: (services: readonly S[], at: Report) => void;
}

/** What parsing one service is given: its place, the stack's values, and where problems go. */
export interface ParseServiceContext extends ServiceContext {
  file: string;
  problems: string[];
  plainEnvNames: ReadonlySet<string>;
}

/**
 * A target's rules with its own types sealed in, as parse.ts runs them for services of every
 * target: nothing outside can hand one target's rules another target's service.
 */
export interface TargetRules<S> extends Pick<
  ServiceTarget<CommonServiceConfig & { target: string }, unknown>,
  "target" | "runtime" | "services" | "schema" | "providers"
> {
  /**
   * Parses one service with the target's schema, then runs the shared rules and the target's: its
   * config, or undefined once a problem has been reported.
   */
  readonly parse: (name: string, value: unknown, ctx: ParseServiceContext) => S | undefined;
  /** The stack-wide rules, on this target's services among `all`. */
  readonly checkStack: (all: readonly { target: string }[], at: Report) => void;
}

/** Seals a target's rules: each rule only ever sees a service parsed by its own schema. */
export function defineTarget<S extends CommonServiceConfig & { target: string }, Data>(
  rules: ServiceTarget<S, Data>,
): TargetRules<S> {
  const { target, runtime, services, schema, providers } = rules;
  const mine = (s: { target: string }): s is S => s.target === target;
  return {
    target,
    runtime,
    services,
    schema,
    providers,
    parse(name, value, ctx) {
      const parsed = schema.safeParse(value, { reportInput: true });
      if (!parsed.success) {
        ctx.problems.push(...describeIssues(parsed.error.issues, schema, ctx.where, ctx.file));
        return undefined;
      }
      const service = rules.toService(name, parsed.data, ctx);
      if (service) {
        checkCommon(rules, service, ctx);
        rules.check(service, ctx);
      }
      return service;
    },
    checkStack: (all, at) => rules.checkStack(all.filter(mine), at),
  };
}

/** The rules on the fields every service has; the target supplies what differs. */
function checkCommon<S extends CommonServiceConfig & { target: string }, Data>(
  rules: ServiceTarget<S, Data>,
  s: S,
  { where, at, plainEnvNames }: ParseServiceContext,
): void {
  const looksSecret = (k: string) => SECRET_LOOKING_ENV.test(k) && !plainEnvNames.has(k);
  const isProgramEnv = (k: string) => (PROGRAM_ENV as readonly string[]).includes(k);
  const isReserved = (k: string) => isProgramEnv(k) || rules.isReservedEnv(k);
  for (const [k, v] of Object.entries(s.env)) {
    if (isReserved(k)) {
      at(
        [...where, "env", k],
        `${k} is set by ${isProgramEnv(k) ? "this program" : rules.runtime}; remove it from env`,
      );
    } else if (looksSecret(k)) {
      at(
        [...where, "env", k],
        // No part of the value is repeated: it may be the secret itself.
        `${k} looks like a secret but is a plain value (${v.length} characters, not shown); ` +
          `move it to secrets (${rules.secretReference})`,
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
    const ungated = !s.healthGate
      ? "a rollout gates each step, and this service has healthGate: false; set healthGate: true or remove rollout"
      : rules.ungatedReason(s);
    if (ungated !== undefined) at([...where, "rollout"], ungated);
  }
}
