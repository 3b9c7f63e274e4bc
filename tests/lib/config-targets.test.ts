/**
 * Config by target (issue 23): each target's rules are one file in lib/config/services/, listed in
 * its index. A third target, added here as a test double of that one file, gets every shared rule
 * (reserved and secret-looking env, build args, rollout gating, provider keys) without any change
 * to parse.ts.
 */
import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../lib/errors";
import { parseStackConfig } from "../../lib/config/parse";
import { SERVICE_TARGETS } from "../../lib/config/services";

vi.mock("../../lib/config/services", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../lib/config/services")>();
  const { z } = await import("zod");
  const { commonService, healthPath, secretsMap } = await import("../../lib/config/services/common");
  const schema = z.strictObject({
    target: z.literal("containerapp"),
    ...commonService,
    secrets: secretsMap("API_KEY", z.strictObject({ keyVaultSecretId: z.string() })),
    healthPath,
  });
  const containerApps = {
    target: "containerapp",
    runtime: "Azure Container Apps",
    services: "the Container Apps",
    secretReference: "a Key Vault secret id",
    schema,
    providers: [
      {
        key: "azure-native:location",
        example: "eastus",
        pattern: /^[a-z]+\d?$/,
        expected: 'expected an Azure location like "eastus"',
      },
    ],
    isReservedEnv: (k: string) => k === "CONTAINER_APP_NAME",
    toService: (name: string, data: Record<string, unknown>) => ({ ...data, name }),
    ungatedReason: () =>
      "a rollout gates each step, and Container Apps revisions have no gate here; remove rollout",
    check: () => {},
    checkStack: () => {},
  };
  return { ...original, SERVICE_TARGETS: [...original.SERVICE_TARGETS, containerApps] };
});

const parse = (services: Record<string, unknown>, providers: Record<string, string | undefined> = {}) =>
  parseStackConfig(
    { project: { services: JSON.stringify(services) }, providers },
    {
      stack: "prod",
      file: "Pulumi.prod.yaml",
      projectDir: "/project",
      resolveCommit: () => ({ sha: "0".repeat(40), source: "git", dirty: false, timestamp: 1, notes: [] }),
      exists: () => true,
    },
  );
const problems = (...args: Parameters<typeof parse>): readonly string[] => {
  try {
    parse(...args);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
};

describe("a third target is one file", () => {
  it("is parsed with its own schema and defaults, beside the others", () => {
    const config = parse(
      { web: { target: "containerapp", context: "apps/web" } },
      { "azure-native:location": "eastus" },
    );
    expect(config.services).toEqual([
      expect.objectContaining({
        name: "web",
        target: "containerapp",
        dockerfile: "Dockerfile",
        healthPath: "/health",
      }),
    ]);
    expect(config.imageSources).toEqual({ web: "build" });
  });

  it("gets every shared rule, in its own words, and its provider key checked", () => {
    const F = "Pulumi.prod.yaml: multicloud-deploy:services.web";
    expect(
      problems(
        {
          web: {
            target: "containerapp",
            context: "apps/web",
            env: { CONTAINER_APP_NAME: "x", DB_PASSWORD: "hunter2" },
            buildArgs: { NPM_TOKEN: "t" },
            rollout: { steps: [50] },
            healthPth: "/ready",
          },
        },
        { "azure-native:location": "East US" },
      ),
    ).toEqual([
      `${F}.healthPth: unknown key; did you mean "healthPath"? (known keys: target, context, dockerfile, buildArgs, buildTarget, exposure, env, healthGate, rollout, secrets, healthPath)`,
      'Pulumi.prod.yaml: azure-native:location: expected an Azure location like "eastus", got "East US"',
    ]);
    expect(
      problems(
        {
          web: {
            target: "containerapp",
            context: "apps/web",
            env: { CONTAINER_APP_NAME: "x", DB_PASSWORD: "hunter2" },
            buildArgs: { NPM_TOKEN: "t" },
            rollout: { steps: [50] },
          },
        },
        { "azure-native:location": "East US" },
      ),
    ).toEqual([
      `${F}.env.CONTAINER_APP_NAME: CONTAINER_APP_NAME is set by Azure Container Apps; remove it from env`,
      `${F}.env.DB_PASSWORD: DB_PASSWORD looks like a secret but is a plain value (7 characters, not shown); move it to secrets (a Key Vault secret id)`,
      `${F}.buildArgs.NPM_TOKEN: NPM_TOKEN looks like a secret, and build args are stored in the image's history for anyone who can pull it; remove it (a secret the build needs must not end up in the image)`,
      `${F}.rollout: a rollout gates each step, and Container Apps revisions have no gate here; remove rollout`,
      `Pulumi.prod.yaml: azure-native:location: expected an Azure location like "eastus", got "East US"`,
    ]);
  });

  it("names its provider key when the stack lacks it, and is listed where a target is expected", () => {
    expect(problems({ web: { target: "containerapp", context: "apps/web" } })).toEqual([
      "Pulumi.prod.yaml: azure-native:location: required by the Container Apps; set it with `pulumi config set azure-native:location eastus`",
    ]);
    expect(problems({ web: { target: "appengine", context: "apps/web" } })).toEqual([
      'Pulumi.prod.yaml: multicloud-deploy:services.web.target: expected "cloudrun" or "lambda" or "containerapp", got "appengine"',
    ]);
  });
});

describe("the targets' own rules", () => {
  it("each is selected by the target its schema takes", () => {
    for (const t of SERVICE_TARGETS) {
      const shape = (t.schema as unknown as { shape: { target: { value: string } } }).shape;
      expect(shape.target.value).toBe(t.target);
    }
  });
});
