/**
 * Manages the Pulumi Deployments settings and the policy group of the multicloud-deploy stacks.
 * Separate from the program it configures: Pulumi recommends that a stack not manage its own settings
 * (an update that breaks them could not be redeployed by them).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as service from "@pulumi/pulumiservice";
import {
  deploymentSettingsFor,
  driftScheduleFor,
  escEnvironmentFor,
  policyGroupFor,
  settingsConfigSchema,
  stackTagsFor,
  type StackName,
} from "./settings";

const parsed = settingsConfigSchema.safeParse(new pulumi.Config().requireObject("settings"));
if (!parsed.success) {
  const problems = parsed.error.issues.map(
    (i) => `  - deployments:settings.${i.path.join(".")}: ${i.message}`,
  );
  throw new pulumi.RunError(
    `Pulumi.${pulumi.getStack()}.yaml: invalid deployments:settings\n${problems.join("\n")}`,
  );
}
const config = parsed.data;
const packConfig = (stack: StackName) =>
  JSON.parse(fs.readFileSync(path.join(__dirname, "..", "policy", `config.${stack}.json`), "utf8")) as Record<
    string,
    unknown
  >;

// The version `pulumi policy publish` tags the pack with (its package.json), pinned by each group.
const packVersion = (
  JSON.parse(fs.readFileSync(path.join(__dirname, "..", "policy", "package.json"), "utf8")) as {
    version: string;
  }
).version;

export const stacks: Record<string, pulumi.Output<string>> = {};
for (const stack of ["staging", "prod"] as const) {
  const settings = new service.DeploymentSettings(`${stack}-settings`, deploymentSettingsFor(stack, config));
  new service.PolicyGroup(`${stack}-policy`, policyGroupFor(stack, config, packConfig(stack), packVersion));
  const env = escEnvironmentFor(stack, config);
  new service.Environment(`${stack}-environment`, {
    organization: env.organization,
    project: env.project,
    name: env.name,
    yaml: new pulumi.asset.StringAsset(env.yaml),
  });
  new service.DriftSchedule(`${stack}-drift`, driftScheduleFor(stack, config), { dependsOn: settings });
  for (const tag of stackTagsFor(stack, config)) new service.StackTag(`${stack}-tag-${tag.name}`, tag);
  stacks[stack] = settings.stack;
}
