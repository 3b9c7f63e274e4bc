/**
 * The one owner of every service setting's default. The components apply them to arguments a caller
 * leaves out; the config schemas (lib/config/schema.ts, lib/config/services/*.ts) use the same values, so a stack file and a
 * direct user of a component get the same service, and docs/config.md's table (checked against
 * the schema) shows them.
 */

export const CLOUD_RUN_DEFAULTS = {
  port: 8080,
  cpu: "1",
  memory: "512Mi",
  cpuIdle: true,
  startupCpuBoost: true,
  concurrency: 80,
  timeoutSeconds: 300,
  minInstances: 0,
  maxInstances: 10,
  ingress: "all",
  healthPath: "/health",
  exposure: "private",
  deletionProtection: true,
  healthGate: true,
  /** Today's gate: 10 requests, 3 s before the second, growing (3 + 6 + … + 27 = 135 s), 10 s each. */
  healthGateRetry: { attempts: 10, intervalSeconds: 3, timeoutSeconds: 10 },
  grantPropagationSeconds: 90,
} as const;

export const LAMBDA_DEFAULTS = {
  memorySize: 512,
  timeout: 30,
  ephemeralStorageMb: 512,
  logRetentionDays: 30,
  functionUrl: false,
  // What a service is whatever its target: one owner, Cloud Run's.
  exposure: CLOUD_RUN_DEFAULTS.exposure,
  healthGate: CLOUD_RUN_DEFAULTS.healthGate,
  /** Today's gate: 5 invocations (a just-published image may still be Pending), 3 s growing, 60 s each. */
  healthGateRetry: { attempts: 5, intervalSeconds: 3, timeoutSeconds: 60 },
  healthPath: CLOUD_RUN_DEFAULTS.healthPath,
} as const;

/**
 * Registry cleanup, one owner for the schema and both repository components: the most recent tagged
 * images kept, and the days after which an untagged one (a failed verification's) is deleted.
 */
export const REGISTRY_DEFAULTS = { keepTagged: 20, untaggedDays: 7 } as const;
