/**
 * Pulumi Deployments settings for the multicloud-deploy stacks, as plain data built from this
 * program's config: which branch deploys each stack, pull-request previews, path filters, OIDC to
 * both clouds (no long-lived keys) and the policy pack. Pure; the program (index.ts) only registers it.
 */
import { z } from "zod";

const roleArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, { message: "expected an IAM role ARN" });
const gcpOidc = z.strictObject({
  /** The project *number* that holds the workload identity pool. */
  projectNumber: z
    .string()
    .regex(/^\d+$/, { message: "expected a project number (digits), not a project id" }),
  workloadPoolId: z.string().min(1),
  providerId: z.string().min(1),
  serviceAccount: z
    .string()
    .regex(/^[^@]+@[^@]+\.iam\.gserviceaccount\.com$/, { message: "expected a service account email" }),
});
const stackSettings = z.strictObject({
  /** Branch whose pushes deploy the stack. */
  branch: z.string().regex(/^[\w./-]+$/),
  aws: z.strictObject({ roleArn }),
  gcp: gcpOidc,
});

export const settingsConfigSchema = z.strictObject({
  organization: z.string().min(1),
  /** The program's project name. */
  project: z.string().min(1).default("multicloud-deploy"),
  /** `owner/repo` on GitHub. */
  repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, { message: "expected owner/repo" }),
  /** The program's directory in the repository. */
  repoDir: z.string().default("."),
  stacks: z.strictObject({ staging: stackSettings, prod: stackSettings }),
});
export type SettingsConfig = z.infer<typeof settingsConfigSchema>;

/**
 * Pushes that touch only these paths trigger a deployment; docs and workflow edits do not. Everything
 * that changes what is built or deployed is listed.
 */
export const DEPLOY_PATHS = [
  "apps/**",
  "components/**",
  "lib/**",
  "scripts/**",
  "index.ts",
  "program.ts",
  "package.json",
  "package-lock.json",
  "Pulumi.yaml",
  "Pulumi.{stack}.yaml",
] as const;

export type StackName = keyof SettingsConfig["stacks"];

/** The DeploymentSettings inputs for one stack. */
export function deploymentSettingsFor(stack: StackName, config: SettingsConfig) {
  const s = config.stacks[stack];
  return {
    organization: config.organization,
    project: config.project,
    stack,
    sourceContext: { git: { branch: `refs/heads/${s.branch}`, repoDir: config.repoDir } },
    vcs: {
      provider: "github",
      repository: config.repository,
      // Push-to-deploy on the stack's branch; the Pulumi GitHub app comments each PR's preview diff.
      deployCommits: true,
      previewPullRequests: true,
      pullRequestTemplate: false,
      paths: DEPLOY_PATHS.map((p) =>
        (config.repoDir === "." ? p : `${config.repoDir}/${p}`).replace("{stack}", stack),
      ),
    },
    operationContext: {
      // Short-lived credentials per deployment: OIDC, never stored keys.
      oidc: {
        aws: { roleARN: s.aws.roleArn, sessionName: `pulumi-deployments-${stack}`, duration: "1h0m0s" },
        gcp: {
          projectId: s.gcp.projectNumber,
          workloadPoolId: s.gcp.workloadPoolId,
          providerId: s.gcp.providerId,
          serviceAccount: s.gcp.serviceAccount,
          tokenLifetime: "3600s",
        },
      },
      options: { skipIntermediateDeployments: true },
      environmentVariables: { CI: "true" },
    },
  };
}

/** The policy group that enforces the published pack on one stack, with that stack's pack config. */
export function policyGroupFor(
  stack: StackName,
  config: SettingsConfig,
  packConfig: Record<string, unknown>,
) {
  return {
    name: `${config.project}-${stack}`,
    organizationName: config.organization,
    entityType: "stacks",
    mode: "preventative",
    stacks: [{ name: stack, routingProject: config.project }],
    policyPacks: [{ name: "multicloud-deploy", versionTag: "latest", config: packConfig }],
  };
}
