/**
 * The deployments/ program (Pulumi Deployments settings as code) under mocks: what it registers for
 * each stack, from its own stack file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import YAML from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { DEPLOY_PATHS, settingsConfigSchema } from "../../deployments/settings";
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
  it("deploys staging on push to main and prod on push to release, previewing every pull request", () => {
    for (const [stack, branch] of [
      ["staging", "main"],
      ["prod", "release"],
    ] as const) {
      const s = settingsOf(stack);
      expect(s).toMatchObject({ organization: "acme", project: "multicloud-deploy", stack });
      expect(s.sourceContext.git.branch).toBe(`refs/heads/${branch}`);
      expect(s.vcs).toMatchObject({
        provider: "github",
        repository: "acme/multicloud-deploy",
        deployCommits: true,
        previewPullRequests: true,
      });
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
