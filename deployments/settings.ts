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
  /** Branch whose pushes deploy the stack (or, with `approval`, that a person deploys from). */
  branch: z.string().regex(/^[\w./-]+$/),
  /**
   * A push does not update the stack: a person who read its preview deploys it, from the stack's
   * Deploy button or `pulumi deployment run update` (docs/operations.md, "Approving prod"). Pulumi
   * Cloud's own guide leaves production "click-to-deploy or API-triggered"; the pinned
   * `@pulumi/pulumiservice` 1.3.0 has no approval for stack updates (its `ApprovalRule` governs ESC
   * environment updates only, `environmentIdentifier` and `targetActionTypes: ["update"]`), and a
   * deployment cannot take an update plan file.
   * @default false
   */
  approval: z.boolean().default(false),
  aws: z.strictObject({ roleArn }),
  gcp: gcpOidc,
});

const builderName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: "expected a buildx builder name, like remote-buildkit" });

/**
 * A remote BuildKit the deployment builds on: Pulumi-hosted runners document no Docker daemon, no
 * buildx plugin and no binfmt/QEMU (docs/hosted-deployments.md), and docker-build's embedded mode
 * builds on any buildx builder of the remote driver. One node per platform: a native arm64 node
 * builds arm64 images with no emulation.
 */
const remoteBuilder = z.strictObject({
  /** The builder's name: the program's `multicloud-deploy:builder` names the same one. */
  name: builderName,
  nodes: z
    .array(
      z.strictObject({
        /** `tcp://host:port` of a buildkitd that requires TLS client certificates. */
        endpoint: z
          .string()
          .regex(/^tcp:\/\/[A-Za-z0-9.-]+:\d+$/, { message: "expected tcp://<host>:<port>" }),
        platforms: z.array(z.enum(["linux/amd64", "linux/arm64"])).min(1),
      }),
    )
    .min(1),
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
  /** Where deployments build images. @default - no builder set up: the runner must provide one */
  builder: remoteBuilder.optional(),
  /**
   * The customer-managed agent pool that runs the deployments (docs/hosted-deployments.md: a runner
   * with a Docker daemon or a BuildKit of its own). @default - Pulumi-hosted runners
   */
  agentPoolId: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
      message: "expected the agent pool's id (a UUID, from Settings → Deployments → Agent pools)",
    })
    .optional(),
  /**
   * When drift detection runs on each stack (cron, UTC): detection only, never remediation.
   * @default "0 6 * * *" (daily at 06:00)
   */
  driftSchedule: z
    .string()
    .regex(/^\S+ \S+ \S+ \S+ \S+$/, { message: 'expected a five-field cron expression like "0 6 * * *"' })
    .default("0 6 * * *"),
  /** Stack tags, on both stacks (each stack also gets `stage: <stack>`). @default {} */
  tags: z.record(z.string().regex(/^[\w.:/-]+$/), z.string().min(1)).default({}),
});
export type SettingsConfig = z.infer<typeof settingsConfigSchema>;

/**
 * Pushes that touch only these paths trigger a deployment; docs, tests and workflow edits do not.
 * They are what the program loads: the import graph of `index.ts` and of the scripts its steps run
 * (lib/scripts.ts), the apps it builds, the stack and project files, the packages and the compiler
 * settings tsx runs them with. tests/deployments/paths.test.ts derives that set from the sources and
 * holds this list to it, both ways: every loaded file matches, and every entry matches a loaded file.
 */
export const DEPLOY_PATHS = [
  "apps/**",
  "components/**",
  "lib/**",
  "scripts/**",
  "targets/**",
  "index.ts",
  "program.ts",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
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
      // Push-to-deploy on the stack's branch, unless a person approves each update; the Pulumi GitHub
      // app comments each PR's preview diff either way.
      deployCommits: !s.approval,
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
      environmentVariables: {
        CI: "true",
        // A drift run diffs what it read against the recorded inputs, with their ignoreChanges, so
        // traffic the release steps moved is not drift (docs/operations.md); the outputs-only diff
        // would report it.
        PULUMI_ENABLE_LEGACY_REFRESH_DIFF: "false",
      },
      ...(config.builder ? { preRunCommands: builderPreRunCommands(config.builder) } : {}),
    },
    cacheOptions: { enable: true },
    ...(config.agentPoolId ? { agentPoolId: config.agentPoolId } : {}),
  };
}

/**
 * The drift detection schedule of one stack: detection only (`autoRemediate: false`), so a change
 * made by hand is reported, never overwritten by a run nobody reviewed.
 */
export function driftScheduleFor(stack: StackName, config: SettingsConfig) {
  return {
    organization: config.organization,
    project: config.project,
    stack,
    scheduleCron: config.driftSchedule,
    autoRemediate: false,
  };
}

/**
 * The stack's Pulumi ESC environment, `<project>/<stack>`: short-lived credentials for both clouds by
 * OIDC, as the same identities the deployments use (docs/iam.md), for a person or a CI job that runs
 * the Pulumi CLI against Pulumi Cloud (`pulumi env run`, or `environment:` in the stack file). The
 * definition follows the ESC providers' reference (esc/providers/login/aws-login, gcp-login):
 * `fn::open::aws-login` with `oidc.roleArn` and `sessionName`, giving `accessKeyId`,
 * `secretAccessKey`, `sessionToken`; `fn::open::gcp-login` with the project *number* and `oidc`
 * (`workloadPoolId`, `providerId`, `serviceAccount`), giving `accessToken`. YAML is a superset of
 * JSON, so the definition is written as JSON.
 */
export function escEnvironmentFor(stack: StackName, config: SettingsConfig) {
  const s = config.stacks[stack];
  const definition = {
    values: {
      aws: {
        login: {
          "fn::open::aws-login": {
            oidc: { roleArn: s.aws.roleArn, sessionName: `pulumi-esc-${stack}`, duration: "1h" },
          },
        },
      },
      gcp: {
        login: {
          "fn::open::gcp-login": {
            project: Number(s.gcp.projectNumber),
            oidc: {
              workloadPoolId: s.gcp.workloadPoolId,
              providerId: s.gcp.providerId,
              serviceAccount: s.gcp.serviceAccount,
            },
          },
        },
      },
      environmentVariables: {
        AWS_ACCESS_KEY_ID: "${aws.login.accessKeyId}",
        AWS_SECRET_ACCESS_KEY: "${aws.login.secretAccessKey}",
        AWS_SESSION_TOKEN: "${aws.login.sessionToken}",
        // The Pulumi Google Cloud provider reads the access token from here (gcp-login's reference).
        GOOGLE_OAUTH_ACCESS_TOKEN: "${gcp.login.accessToken}",
      },
    },
  };
  return {
    organization: config.organization,
    project: config.project,
    name: stack,
    definition,
    yaml: JSON.stringify(definition, null, 2),
  };
}

/** The StackTag inputs of one stack: the configured tags and its stage. */
export function stackTagsFor(stack: StackName, config: SettingsConfig) {
  return Object.entries({ ...config.tags, stage: stack }).map(([name, value]) => ({
    organization: config.organization,
    project: config.project,
    stack,
    name,
    value,
  }));
}

/** The TLS client files of a remote builder's node, read by buildx's remote driver. */
export interface BuildxNodeTls {
  cacert: string;
  cert: string;
  key: string;
}

/**
 * A buildx builder of the remote driver as buildx stores it (`$DOCKER_CONFIG/buildx/instances/<name>`,
 * docker/buildx store/nodegroup.go `NodeGroup`, and the remote driver's `cacert`, `cert` and `key`
 * options, driver/remote/factory.go). docker-build's embedded mode reads this store; the e2e suite
 * registers its BuildKit with this same function.
 */
export function buildxRemoteBuilder(
  name: string,
  nodes: ReadonlyArray<{ endpoint: string; platforms?: readonly string[]; tls?: BuildxNodeTls }>,
) {
  return {
    Name: name,
    Driver: "remote",
    Nodes: nodes.map((n, i) => ({
      Name: `${name}${i}`,
      Endpoint: n.endpoint,
      Platforms: n.platforms
        ? n.platforms.map((p) => ({ architecture: p.split("/")[1], os: p.split("/")[0] }))
        : null,
      DriverOpts: n.tls ? { ...n.tls } : {},
      Flags: null,
      Files: null,
    })),
    Dynamic: false,
  };
}

/** Environment variables (secrets of the deployment settings or its ESC environment) with the TLS files. */
export const BUILDER_TLS_ENV = {
  cacert: "BUILDKIT_CA_PEM",
  cert: "BUILDKIT_CERT_PEM",
  key: "BUILDKIT_KEY_PEM",
} as const;

/**
 * Pre-run commands that register the remote builder before `pulumi up`: each runs in its own shell
 * (docs/hosted-deployments.md). First what the runner has (for the deployment log), then the TLS
 * files from the environment, then the builder entry.
 */
export function builderPreRunCommands(builder: z.infer<typeof remoteBuilder>): string[] {
  // buildx's store is under $DOCKER_CONFIG, else ~/.docker (docker/cli config.Dir).
  const store = "${DOCKER_CONFIG:-$HOME/.docker}/buildx";
  const certs = `"${store}/certs/${builder.name}"`;
  const tls = Object.fromEntries(
    Object.keys(BUILDER_TLS_ENV).map((k) => [k, `${store}/certs/${builder.name}/${k}.pem`]),
  ) as unknown as BuildxNodeTls;
  const entry = buildxRemoteBuilder(
    builder.name,
    builder.nodes.map((n) => ({ endpoint: n.endpoint, platforms: n.platforms, tls })),
  );
  // The names and endpoints are validated (letters, digits, `.`, `-`, `_`, `:`, `/`): the JSON has no
  // `$`, backquote, backslash or `"` but its own quotes, which the double-quoted string escapes.
  return [
    "uname -m; docker info --format 'docker daemon {{.ServerVersion}}' 2>/dev/null || echo 'no Docker daemon: images build on the remote builder'",
    [
      "umask 077",
      ...Object.values(BUILDER_TLS_ENV).map(
        (env) =>
          `: "\${${env}:?is not set: the builder TLS files come from it (docs/hosted-deployments.md)}"`,
      ),
      `mkdir -p ${certs} "${store}/instances"`,
      ...Object.entries(BUILDER_TLS_ENV).map(
        ([file, env]) => `printf '%s\\n' "$${env}" > ${certs}/${file}.pem`,
      ),
    ].join(" && "),
    `printf '%s' "${JSON.stringify(entry).replace(/"/g, '\\"')}" > "${store}/instances/${builder.name}"`,
  ];
}

/**
 * A pack config as the Pulumi Cloud API takes it. The CLI's `--config` file may give a policy's
 * enforcement level as a bare string (`"all": "mandatory"`); the CLI turns each into
 * `{ "enforcementLevel": … }` before it sends the config (pulumi/pulumi pkg/resource/analyzer
 * config.go `parsePolicyPackConfig`, then `marshalAnalyzerPolicyConfig`), and reads the service's
 * config back as objects only (`ParsePolicyPackConfigFromAPI` unmarshals each into a map). The
 * pulumiservice provider sends `config` as given (provider/pkg/resources/policy_group.go
 * `convertInterfaceArrayToPolicyPacks`), and its example uses the object form
 * (examples/yaml-policy-groups), so the object form is what this sends.
 */
export function policyGroupPackConfig(packConfig: Record<string, unknown>): Record<string, object> {
  return Object.fromEntries(
    Object.entries(packConfig).map(([policy, value]) => [
      policy,
      typeof value === "string" ? { enforcementLevel: value } : (value as object),
    ]),
  );
}

/**
 * The policy group that enforces the published pack on one stack, with that stack's pack config.
 *
 * @param packVersion The version the pack is published as: `pulumi policy publish` tags a Node pack
 *   with its package.json `version` (pulumi-policy sdk/nodejs/policy/policy.ts; pulumi/pulumi
 *   httpstate `cloudPolicyPack.Publish` sends it as `versionTag`). The provider sends `versionTag`
 *   as given (policy_group.go), and `latest` is only a CLI keyword that is never sent as a tag
 *   (pulumi/pulumi pkg/cmd/pulumi/policy/policy_enable.go `latestKeyword`): a group must name the
 *   published version.
 */
export function policyGroupFor(
  stack: StackName,
  config: SettingsConfig,
  packConfig: Record<string, unknown>,
  packVersion: string,
) {
  return {
    name: `${config.project}-${stack}`,
    organizationName: config.organization,
    entityType: "stacks",
    mode: "preventative",
    stacks: [{ name: stack, routingProject: config.project }],
    policyPacks: [
      { name: "multicloud-deploy", versionTag: packVersion, config: policyGroupPackConfig(packConfig) },
    ],
  };
}
