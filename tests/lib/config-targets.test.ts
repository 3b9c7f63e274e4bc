/**
 * Config by target (issue 23): each target's rules are one file in lib/config/services/, listed in
 * its index. A third target, added here as a test double of that one file, gets every shared rule
 * (reserved and secret-looking env, build args, rollout gating, provider keys) without any change
 * to parse.ts. (What parse.ts still knows per cloud is the StackConfig blocks the components read,
 * `gcp` and `aws`: a target on a new cloud adds its block there.)
 */
import { describe, expect, it, vi } from "vitest";
import type { z } from "zod";
import { ConfigError } from "../../lib/errors";
import { parseStackConfig } from "../../lib/config/parse";
import { SERVICE_TARGETS } from "../../lib/config/services";

vi.mock("../../lib/config/services", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../lib/config/services")>();
  const { z: zod } = await import("zod");
  const { commonService, defineTarget, healthPath, secretsMap } =
    await import("../../lib/config/services/common");
  const schema = zod.strictObject({
    target: zod.literal("containerapp"),
    ...commonService,
    secrets: secretsMap("API_KEY", zod.strictObject({ keyVaultSecretId: zod.string() })),
    healthPath,
  });
  type ContainerAppConfig = z.output<typeof schema> & { name: string };
  // The one file a third target is, typed as the real ones are.
  const containerApps = defineTarget<ContainerAppConfig, z.output<typeof schema>>({
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
      // A key another target needs too is asked for, and checked, once.
      {
        key: "gcp:project",
        example: "<project-id>",
        pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
        expected: "expected a Google Cloud project id",
      },
    ],
    isReservedEnv: (k) => k === "CONTAINER_APP_NAME",
    toService: (name, data) => ({ ...data, name }),
    ungatedReason: () =>
      "a rollout gates each step, and Container Apps revisions have no gate here; remove rollout",
    check: () => {},
    checkStack: () => {},
  });
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
      { "azure-native:location": "eastus", "gcp:project": "acme-web" },
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
    const web = {
      target: "containerapp",
      context: "apps/web",
      env: { CONTAINER_APP_NAME: "x", DB_PASSWORD: "hunter2" },
      buildArgs: { NPM_TOKEN: "t" },
      rollout: { steps: [50] },
    };
    expect(
      problems(
        {
          web: { ...web, healthPth: "/ready" },
        },
        { "azure-native:location": "East US", "gcp:project": "acme-web" },
      ),
    ).toEqual([
      `${F}.healthPth: unknown key; did you mean "healthPath"? (known keys: target, context, dockerfile, buildArgs, buildTarget, exposure, env, healthGate, healthGateRetry, rollout, secrets, healthPath)`,
      'Pulumi.prod.yaml: azure-native:location: expected an Azure location like "eastus", got "East US"',
    ]);
    expect(
      problems(
        {
          web,
        },
        { "azure-native:location": "East US", "gcp:project": "acme-web" },
      ),
    ).toEqual([
      `${F}.env.CONTAINER_APP_NAME: CONTAINER_APP_NAME is set by Azure Container Apps; remove it from env`,
      `${F}.env.DB_PASSWORD: DB_PASSWORD looks like a secret but is a plain value (7 characters, not shown); move it to secrets (a Key Vault secret id)`,
      `${F}.buildArgs.NPM_TOKEN: NPM_TOKEN looks like a secret, and build args are stored in the image's history for anyone who can pull it; remove it (a secret the build needs must not end up in the image)`,
      `${F}.rollout: a rollout gates each step, and Container Apps revisions have no gate here; remove rollout`,
      `Pulumi.prod.yaml: azure-native:location: expected an Azure location like "eastus", got "East US"`,
    ]);
  });

  it("names its provider keys when the stack lacks them, and is listed where a target is expected", () => {
    expect(problems({ web: { target: "containerapp", context: "apps/web" } })).toEqual([
      "Pulumi.prod.yaml: azure-native:location: required by the Container Apps; set it with `pulumi config set azure-native:location eastus`",
      "Pulumi.prod.yaml: gcp:project: required by the Container Apps; set it with `pulumi config set gcp:project <project-id>`",
    ]);
    expect(problems({ web: { target: "appengine", context: "apps/web" } })).toEqual([
      'Pulumi.prod.yaml: multicloud-deploy:services.web.target: expected "cloudrun" or "lambda" or "containerapp", got "appengine"',
    ]);
  });
});

describe("a provider key two targets need", () => {
  const both = {
    api: { target: "cloudrun", context: "apps/api" },
    web: { target: "containerapp", context: "apps/web" },
  };

  it("is asked for once, by the first target that needs it", () => {
    expect(problems(both, { "gcp:region": "us-central1", "azure-native:location": "eastus" })).toEqual([
      "Pulumi.prod.yaml: gcp:project: required by the Cloud Run services; set it with `pulumi config set gcp:project <project-id>`",
    ]);
  });

  it("is checked once, against the first target's rule", () => {
    expect(
      problems(both, {
        "gcp:project": "Acme",
        "gcp:region": "us-central1",
        "azure-native:location": "eastus",
      }),
    ).toEqual([
      'Pulumi.prod.yaml: gcp:project: expected a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, got "Acme"',
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
