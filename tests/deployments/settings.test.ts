/**
 * The deployments/ program (Pulumi Deployments settings as code) under mocks: what it registers for
 * each stack, from its own stack file.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import YAML from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildxRemoteBuilder,
  DEPLOY_PATHS,
  deploymentSettingsFor,
  escEnvironmentFor,
  settingsConfigSchema,
} from "../../deployments/settings";
import { PROJECT_DIR } from "../../plan/run";

const PROJECT = "multicloud-deploy-deployments";
const stackFile = YAML.parse(
  fs.readFileSync(path.join(PROJECT_DIR, "deployments/Pulumi.acme.yaml"), "utf8"),
) as {
  config: Record<string, unknown>;
};
const registered: Array<{ type: string; name: string; inputs: Record<string, any> }> = [];
const ofType = (type: string) => registered.filter((r) => r.type === type);
const settingsOf = (stack: string) =>
  ofType("pulumiservice:index:DeploymentSettings").find((r) => r.inputs.stack === stack)!.inputs;

beforeAll(async () => {
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(stackFile.config).map(([k, v]) => [k, JSON.stringify(v)])),
    [],
  );
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    PROJECT,
    "acme",
    false,
  );
  await pulumi.runtime.runInPulumiStack(async () => {
    await import("../../deployments/index");
  });
  await (runtimeSettings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}, 60_000);

describe("Pulumi Deployments settings", () => {
  it("deploys staging on push to main; prod from release only when a person deploys it; previews every pull request", () => {
    for (const [stack, branch, deployCommits] of [
      ["staging", "main", true],
      ["prod", "release", false],
    ] as const) {
      const s = settingsOf(stack);
      expect(s).toMatchObject({ organization: "acme", project: "multicloud-deploy", stack });
      expect(s.sourceContext.git.branch).toBe(`refs/heads/${branch}`);
      expect(s.vcs).toMatchObject({
        provider: "github",
        repository: "acme/multicloud-deploy",
        deployCommits,
        previewPullRequests: true,
      });
    }
    // Without the setting, a stack deploys on push, as before.
    const parsed = settingsConfigSchema.parse(stackFile.config["multicloud-deploy-deployments:settings"]);
    expect(
      deploymentSettingsFor("staging", { ...parsed, stacks: { ...parsed.stacks } }).vcs.deployCommits,
    ).toBe(true);
  });

  it("detects drift on a schedule, detection only, caches dependencies, tags each stack, and runs on the agent pool when one is set", () => {
    for (const stack of ["staging", "prod"]) {
      expect(
        ofType("pulumiservice:index:DriftSchedule").find((r) => r.inputs.stack === stack)!.inputs,
      ).toEqual({
        organization: "acme",
        project: "multicloud-deploy",
        stack,
        scheduleCron: "0 6 * * *",
        autoRemediate: false,
      });
      // A drift run diffs what it read against the recorded inputs with their ignoreChanges: traffic the
      // release steps moved is not drift. The outputs-only diff would report it (tests/e2e/release.test.ts
      // runs both).
      expect(settingsOf(stack).operationContext.environmentVariables).toMatchObject({
        PULUMI_ENABLE_LEGACY_REFRESH_DIFF: "false",
      });
      expect(settingsOf(stack).cacheOptions).toEqual({ enable: true });
      // Pulumi-hosted runners by default: no agent pool in the stack file.
      expect(settingsOf(stack).agentPoolId).toBeUndefined();
      const tags = ofType("pulumiservice:index:StackTag").filter((r) => r.inputs.stack === stack);
      expect(Object.fromEntries(tags.map((t) => [t.inputs.name, t.inputs.value]))).toEqual({
        owner: "platform-team",
        repository: "acme/multicloud-deploy",
        stage: stack,
      });
    }
    const parsed = settingsConfigSchema.parse({
      ...(stackFile.config["multicloud-deploy-deployments:settings"] as object),
      agentPoolId: "0f6d2c3e-8a1b-4c5d-9e7f-1a2b3c4d5e6f",
    });
    expect(deploymentSettingsFor("prod", parsed).agentPoolId).toBe("0f6d2c3e-8a1b-4c5d-9e7f-1a2b3c4d5e6f");
    const bad = settingsConfigSchema.safeParse({
      ...(stackFile.config["multicloud-deploy-deployments:settings"] as object),
      agentPoolId: "my-pool",
      driftSchedule: "daily",
    });
    expect(bad.success || bad.error.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["agentPoolId", "expected the agent pool's id (a UUID, from Settings → Deployments → Agent pools)"],
      ["driftSchedule", 'expected a five-field cron expression like "0 6 * * *"'],
    ]);
  });

  it("defines each stack's ESC environment as code: OIDC to both clouds as the deployments' own identities, no stored key", () => {
    const envs = ofType("pulumiservice:index:Environment");
    expect(envs.map((r) => [r.inputs.organization, r.inputs.project, r.inputs.name])).toEqual([
      ["acme", "multicloud-deploy", "staging"],
      ["acme", "multicloud-deploy", "prod"],
    ]);
    const config = settingsConfigSchema.parse(stackFile.config["multicloud-deploy-deployments:settings"]);
    for (const stack of ["staging", "prod"] as const) {
      const env = escEnvironmentFor(stack, config);
      const oidc = deploymentSettingsFor(stack, config).operationContext.oidc;
      // What the program registers is this definition, and YAML reads it as written.
      const registered = envs.find((r) => r.inputs.name === stack)!.inputs.yaml;
      expect(YAML.parse(env.yaml)).toEqual(env.definition);
      // Registered as an asset (the provider's `yaml` input), built from env.yaml in deployments/index.ts.
      expect(registered).toMatchObject({ __pulumiAsset: true });
      const v = env.definition.values;
      expect(v.aws.login["fn::open::aws-login"].oidc.roleArn).toBe(oidc.aws.roleARN);
      const gcp = v.gcp.login["fn::open::gcp-login"];
      // gcp-login takes the project number, as a number.
      expect(gcp.project).toBe(Number(oidc.gcp.projectId));
      expect(gcp.oidc).toEqual({
        workloadPoolId: oidc.gcp.workloadPoolId,
        providerId: oidc.gcp.providerId,
        serviceAccount: oidc.gcp.serviceAccount,
      });
      expect(Object.keys(v.environmentVariables).sort()).toEqual([
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
      ]);
      expect(env.yaml).not.toMatch(/secretAccessKey"\s*:\s*"[^$]/);
    }
  });

  it("leaves the stack files without an environment: a self-managed backend could not open it (docs/operations.md)", () => {
    for (const stack of ["staging", "prod"]) {
      const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")) as {
        environment?: unknown;
      };
      expect(doc.environment).toBeUndefined();
    }
  });

  it("deploys only for changes to what is built or deployed, each stack on its own stack file", () => {
    expect(settingsOf("prod").vcs.paths).toEqual(DEPLOY_PATHS.map((p) => p.replace("{stack}", "prod")));
    expect(settingsOf("staging").vcs.paths).toContain("Pulumi.staging.yaml");
    expect(settingsOf("staging").vcs.paths).not.toContain("README.md");
  });

  it("authenticates to both clouds with OIDC, one identity per stack, and stores no keys", () => {
    const prod = settingsOf("prod").operationContext;
    expect(prod.oidc.aws).toEqual({
      roleARN: "arn:aws:iam::222222222222:role/pulumi-deployments-prod",
      sessionName: "pulumi-deployments-prod",
      duration: "1h0m0s",
    });
    expect(prod.oidc.gcp).toMatchObject({
      projectId: "210987654321",
      workloadPoolId: "pulumi-deployments",
      providerId: "pulumi",
      serviceAccount: "deployer@acme-apps-prod.iam.gserviceaccount.com",
    });
    expect(settingsOf("staging").operationContext.oidc.aws.roleARN).toContain("111111111111");
    const text = JSON.stringify(registered);
    expect(text).not.toMatch(/AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|GOOGLE_CREDENTIALS|private_key/);
  });

  it("enforces the published policy pack on each stack with that stack's pack config", () => {
    const groups = ofType("pulumiservice:index:PolicyGroup");
    expect(groups.map((g) => g.name).sort()).toEqual(["prod-policy", "staging-policy"]);
    const prod = groups.find((g) => g.name === "prod-policy")!.inputs;
    expect(prod).toMatchObject({
      mode: "preventative",
      stacks: [{ name: "prod", routingProject: "multicloud-deploy" }],
    });
    expect(prod.policyPacks[0].name).toBe("multicloud-deploy");
    expect(prod.policyPacks[0].config["public-exposure-requires-opt-in"].enforcementLevel).toBe("mandatory");
  });

  it("pins the pack to the version it is published as, never the CLI-only keyword latest (issue 21)", () => {
    const version = JSON.parse(
      fs.readFileSync(path.join(PROJECT_DIR, "policy/package.json"), "utf8"),
    ).version;
    for (const g of ofType("pulumiservice:index:PolicyGroup")) {
      expect(g.inputs.policyPacks.map((p: any) => p.versionTag)).toEqual([version]);
    }
  });

  it("sends each policy's enforcement level as an object, the form the API stores (the CLI's shorthand expanded)", () => {
    const prod = ofType("pulumiservice:index:PolicyGroup").find((g) => g.name === "prod-policy")!.inputs;
    const file = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "policy/config.prod.json"), "utf8"));
    expect(file.all).toBe("mandatory");
    expect(prod.policyPacks[0].config.all).toEqual({ enforcementLevel: "mandatory" });
    expect(prod.policyPacks[0].config["lambda-traffic-through-alias"]).toEqual({
      enforcementLevel: "mandatory",
    });
    for (const value of Object.values(prod.policyPacks[0].config)) expect(typeof value).toBe("object");
    expect(Object.keys(prod.policyPacks[0].config).sort()).toEqual(Object.keys(file).sort());
  });

  it("rejects settings that would fall back to long-lived keys or the wrong GCP project form", () => {
    const bad = structuredClone(stackFile.config[`${PROJECT}:settings`]) as any;
    bad.stacks.prod.gcp.projectNumber = "acme-apps-prod";
    delete bad.stacks.staging.aws;
    const result = settingsConfigSchema.safeParse(bad);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).sort()).toEqual([
      "stacks.prod.gcp.projectNumber: expected a project number (digits), not a project id",
      "stacks.staging.aws: Invalid input: expected object, received undefined",
    ]);
  });
});

describe("a remote builder for Pulumi-hosted deployments (issue 21)", () => {
  const withBuilder = () => {
    const cfg = structuredClone(stackFile.config[`${PROJECT}:settings`]) as any;
    cfg.builder = {
      name: "remote-buildkit",
      nodes: [
        { endpoint: "tcp://buildkit-amd64.internal:1234", platforms: ["linux/amd64"] },
        { endpoint: "tcp://buildkit-arm64.internal:1234", platforms: ["linux/arm64"] },
      ],
    };
    return settingsConfigSchema.parse(cfg);
  };

  it("has no pre-run commands when no builder is configured", () => {
    expect(settingsOf("staging").operationContext).not.toHaveProperty("preRunCommands");
  });

  it("registers the builder with its TLS files before the update, as buildx stores a remote builder", () => {
    const commands = deploymentSettingsFor("staging", withBuilder()).operationContext.preRunCommands!;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "prerun-"));
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      BUILDKIT_CA_PEM: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----",
      BUILDKIT_CERT_PEM: "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----",
      BUILDKIT_KEY_PEM: "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----",
    };
    // Each pre-run command runs in its own shell.
    for (const c of commands) {
      const r = spawnSync("bash", ["-c", c], { env, encoding: "utf8" });
      expect(r.status, `${c}\n${r.stderr}`).toBe(0);
    }
    const certs = path.join(home, ".docker/buildx/certs/remote-buildkit");
    expect(fs.readFileSync(path.join(certs, "cacert.pem"), "utf8")).toBe(`${env.BUILDKIT_CA_PEM}\n`);
    expect(fs.readFileSync(path.join(certs, "key.pem"), "utf8")).toBe(`${env.BUILDKIT_KEY_PEM}\n`);
    expect(fs.statSync(path.join(certs, "key.pem")).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(
      fs.readFileSync(path.join(home, ".docker/buildx/instances/remote-buildkit"), "utf8"),
    );
    const tls = { cacert: `${certs}/cacert.pem`, cert: `${certs}/cert.pem`, key: `${certs}/key.pem` };
    expect(stored).toEqual(
      buildxRemoteBuilder("remote-buildkit", [
        { endpoint: "tcp://buildkit-amd64.internal:1234", platforms: ["linux/amd64"], tls },
        { endpoint: "tcp://buildkit-arm64.internal:1234", platforms: ["linux/arm64"], tls },
      ]),
    );
    expect(stored.Nodes[1].Platforms).toEqual([{ architecture: "arm64", os: "linux" }]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("stops, naming the variable, when a TLS file's environment variable is not set", () => {
    const commands = deploymentSettingsFor("staging", withBuilder()).operationContext.preRunCommands!;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "prerun-"));
    const r = spawnSync("bash", ["-c", commands[1]!], {
      env: { PATH: process.env.PATH, HOME: home },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      "BUILDKIT_CA_PEM: is not set: the builder TLS files come from it (docs/hosted-deployments.md)",
    );
    expect(fs.existsSync(path.join(home, ".docker/buildx/certs"))).toBe(false);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("refuses a builder endpoint that is not tcp://host:port", () => {
    const cfg = structuredClone(stackFile.config[`${PROJECT}:settings`]) as any;
    cfg.builder = {
      name: "b",
      nodes: [{ endpoint: "unix:///run/buildkit.sock", platforms: ["linux/amd64"] }],
    };
    const r = settingsConfigSchema.safeParse(cfg);
    expect(r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      "builder.nodes.0.endpoint: expected tcp://<host>:<port>",
    ]);
  });
});
