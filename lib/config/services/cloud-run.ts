/**
 * Cloud Run services: the keys a `target: cloudrun` service takes, and the rules Cloud Run and this
 * program put on them. The component wiring is targets/cloud-run.ts.
 */
import { z } from "zod";
import { cloudRunResourceProblem } from "../../cloud-run-limits";
import { CLOUD_RUN_SERVICE_NAME_MAX, cloudRunInvokerGrantName } from "../../names";
import { CLOUD_RUN_DEFAULTS } from "../../service-defaults";
import {
  GCP_PROJECT_ID,
  GCP_PROJECT_ID_PATTERN,
  GCP_REGION_PATTERN,
  GCP_SERVICE_ACCOUNT_PATTERN,
} from "../cloud-ids";
import { e, wholeNumber } from "../fields";
import { commonService, defineTarget, healthPath, secretsMap } from "./common";

/** Reserved by Cloud Run's container contract. */
const CLOUD_RUN_RESERVED_ENV = ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"] as const;

const SECRET_ID = new RegExp(`^(?:projects/${GCP_PROJECT_ID}/secrets/)?[A-Za-z0-9_-]{1,255}$`);
/** IAM members; `allUsers`/`allAuthenticatedUsers` pass here and are refused by the exposure rule below. */
const IAM_MEMBER =
  /^(?:(?:user|serviceAccount|group|domain|principal|principalSet):\S+|allUsers|allAuthenticatedUsers)$/;
const CLOUD_RUN_MEMORY = /^(?:\d+(?:Mi|Gi))$/;

const cloudRunSecret = z.strictObject(
  {
    /** Secret Manager secret id (`api-key`) or full name (`projects/p/secrets/api-key`). */
    secret: z.string(e('expected a Secret Manager secret id like "api-key"')).regex(SECRET_ID, {
      message: 'expected a Secret Manager secret id like "api-key" or "projects/my-project/secrets/api-key"',
    }),
    /** `latest` or a version number. */
    version: z
      .union([z.string(), z.number()], e('expected a secret version: a number like "3", or "latest"'))
      .transform((v) => String(v))
      .refine((v) => v === "latest" || /^[1-9]\d*$/.test(v), {
        message: 'expected a secret version: a number like "3", or "latest"',
      })
      .default("latest"),
  },
  e('expected { secret: "<secret id>", version: "<number or latest>" }'),
);

const cloudRunServiceSchema = z.strictObject({
  target: z.literal("cloudrun"),
  ...commonService,
  /** Cloud Run runs linux/amd64 images only (container runtime contract: "Linux x86_64 ABI"). */
  platform: z
    .literal("linux/amd64", e('expected "linux/amd64": Cloud Run runs x86_64 images only'))
    .default("linux/amd64"),
  secrets: secretsMap("API_KEY", cloudRunSecret),
  /**
   * A service account the deployer may mint identity tokens for
   * (`roles/iam.serviceAccountOpenIdTokenCreator`): it is made an invoker, and the health gate of a
   * private service calls it with that account's identity token. Without it a private service has
   * no health gate (the plan says so).
   */
  healthGateServiceAccount: z
    .string(e("expected a service account email like health-check@my-project.iam.gserviceaccount.com"))
    .regex(
      GCP_SERVICE_ACCOUNT_PATTERN,
      e("expected a service account email like health-check@my-project.iam.gserviceaccount.com"),
    )
    .optional(),
  /**
   * Seconds the first deploy (or a new secret) waits after its accessor grants, before the service:
   * Cloud Run does not retry a permission denied on a secret while a grant propagates. 0 never waits.
   */
  grantPropagationSeconds: z
    .number(e("expected a number of seconds, 0-600"))
    .int(e("expected a whole number of seconds"))
    .min(0, e("expected a number of seconds, 0-600"))
    .max(600, e("expected a number of seconds, 0-600"))
    .default(CLOUD_RUN_DEFAULTS.grantPropagationSeconds),
  /** IAM members allowed to invoke a private service. */
  invokers: z
    .array(
      z.string().regex(IAM_MEMBER, {
        message: 'expected an IAM member like "serviceAccount:caller@my-project.iam.gserviceaccount.com"',
      }),
      e("expected a list of IAM members"),
    )
    .default([]),
  port: wholeNumber("expected a port number 1-65535", 1, 65535).default(CLOUD_RUN_DEFAULTS.port),
  cpu: z
    .enum(["1", "2", "4", "6", "8"], e('expected Cloud Run CPU "1", "2", "4", "6" or "8" (quoted)'))
    .default(CLOUD_RUN_DEFAULTS.cpu),
  memory: z
    .string(e('expected Cloud Run memory like "512Mi"'))
    .regex(CLOUD_RUN_MEMORY, e('expected Cloud Run memory like "512Mi"'))
    .default(CLOUD_RUN_DEFAULTS.memory),
  /** Throttle CPU between requests (request-based billing). */
  cpuIdle: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.cpuIdle),
  startupCpuBoost: z.boolean(e("expected true or false")).default(CLOUD_RUN_DEFAULTS.startupCpuBoost),
  concurrency: wholeNumber("expected a whole number 1-1000", 1, 1000).default(CLOUD_RUN_DEFAULTS.concurrency),
  timeoutSeconds: wholeNumber("expected a request timeout in seconds, 1-3600", 1, 3600).default(
    CLOUD_RUN_DEFAULTS.timeoutSeconds,
  ),
  minInstances: wholeNumber("expected a whole number of instances, 0 or more", 0).default(
    CLOUD_RUN_DEFAULTS.minInstances,
  ),
  maxInstances: wholeNumber("expected a whole number of instances, 1 or more", 1).default(
    CLOUD_RUN_DEFAULTS.maxInstances,
  ),
  ingress: z
    .enum(
      ["all", "internal", "internal-and-cloud-load-balancing"],
      e('expected "all", "internal" or "internal-and-cloud-load-balancing"'),
    )
    .default(CLOUD_RUN_DEFAULTS.ingress),
  healthPath,
});

export type CloudRunServiceConfig = z.output<typeof cloudRunServiceSchema> & { name: string };

export const cloudRunTarget = defineTarget<CloudRunServiceConfig, z.output<typeof cloudRunServiceSchema>>({
  target: "cloudrun",
  runtime: "Cloud Run",
  services: "the Cloud Run services",
  secretReference: "a Secret Manager reference",
  schema: cloudRunServiceSchema,
  providers: [
    {
      key: "gcp:project",
      example: "<project-id>",
      pattern: GCP_PROJECT_ID_PATTERN,
      expected:
        "expected a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen",
    },
    {
      key: "gcp:region",
      example: "us-central1",
      pattern: GCP_REGION_PATTERN,
      expected: 'expected a Google Cloud region like "us-central1"',
    },
  ],
  isReservedEnv: (k) => (CLOUD_RUN_RESERVED_ENV as readonly string[]).includes(k),

  toService(name, data, { where, at }) {
    // Cloud Run service names are at most 42 characters here, for the traffic tag (lib/names.ts).
    if (name.length > CLOUD_RUN_SERVICE_NAME_MAX) {
      at(
        where,
        `Cloud Run service names are at most ${CLOUD_RUN_SERVICE_NAME_MAX} characters here (the release gate's tag URL, "next---<service>", must fit Cloud Run's 46-character limit for tag and name); ${JSON.stringify(name)} has ${name.length}. Rename the service`,
      );
      return undefined;
    }
    return { ...data, name };
  },

  ungatedReason: (s) =>
    s.exposure === "private" && s.healthGateServiceAccount === undefined
      ? "a rollout gates each step, and this private service has no healthGateServiceAccount to call it with; set one or remove rollout"
      : undefined,

  check(s, { where, at, stackValues }) {
    // The gate asks the new revision's tag URL (https://next---<service>….run.app), and "All ingress
    // paths, including the default run.app URL, are subject to your ingress setting" (Cloud Run
    // ingress docs): with internal ingress no caller outside the VPC reaches it, a deploy runner
    // included, so every release would fail its gate (docs/safe-release.md, "Ingress").
    const gated = s.healthGate && (s.exposure === "public" || s.healthGateServiceAccount !== undefined);
    if (gated && s.ingress !== "all") {
      at(
        [...where, "ingress"],
        `the health gate asks the new revision's tag URL (https://next---<service>….run.app), which ingress "${s.ingress}" closes to every caller outside the VPC, the deploy runner included, so no release could pass it; set healthGate: false (the revision's startup probe must still pass before it takes traffic) or ingress: all`,
      );
    }
    const resources = cloudRunResourceProblem(s.cpu, s.memory);
    if (resources) at([...where, "memory"], resources);
    if (s.minInstances > s.maxInstances) {
      at(
        [...where, "minInstances"],
        `minInstances (${s.minInstances}) is greater than maxInstances (${s.maxInstances})`,
      );
    }
    if (stackValues.requirePinnedSecretVersions) {
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
  },

  checkStack: () => {},
});
