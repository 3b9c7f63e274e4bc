import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ComponentArgError } from "../lib/errors";
import { transform, type Transform } from "../lib/transform";
import {
  LAMBDA_LIVE_ALIAS,
  encodeReleaseStep,
  type GateRetry,
  resolveAnalysis,
  rolloutAnalysisProblems,
  type RolloutSettings,
} from "../lib/release";
import { STEP_MARKER, STEPS } from "../lib/verify-step";
import {
  IAM_ROLE_NAME_MAX,
  LAMBDA_FUNCTION_NAME_MAX,
  lambdaLogGroupName,
  lambdaRoleName,
} from "../lib/names";
import { architectureForPlatform, type LambdaArchitecture } from "../lib/platform";
import { LAMBDA_DEFAULTS as D } from "../lib/service-defaults";
import type { ContainerImage } from "./container-image";

export const LAMBDA_FUNCTION_TYPE = "multicloud:aws:LambdaFunction";

/** The only managed policy a function's role gets: write its own logs. */
export const BASIC_EXECUTION_POLICY = "service-role/AWSLambdaBasicExecutionRole";

export interface LambdaFunctionArgs {
  /** Function name (1-64 of `[A-Za-z0-9_-]`). @default - the component name */
  functionName?: string;
  /** Execution role name (1-64 characters). @default - `<functionName>-role` */
  roleName?: string;
  /**
   * The verified image: the function runs its `imageRef` (`repo@sha256:…`), depends on its
   * verification step, and takes its architecture from the image's one platform (one source of truth).
   */
  image: ContainerImage;
  /**
   * What lets Lambda pull the image (the ECR repository policy that grants it): the function is
   * created after these. Lambda's create retries IAM-role and KMS errors only, not an ECR access
   * denial (terraform-provider-aws internal/service/lambda/function.go, retryFunctionOp), so a
   * function created before its repository's policy fails.
   * @default []
   */
  imageAccess?: pulumi.Resource[];
  /**
   * The AWS partition (`aws`, `aws-cn`, `aws-us-gov`) for the managed policy's ARN. Pass it when
   * creating many functions, so the lookup happens once per stack, not once per function.
   * @default - looked up with `aws.getPartition`
   */
  partition?: pulumi.Input<string>;
  /** Commit SHA, given to the function as APP_VERSION. */
  appVersion: pulumi.Input<string>;
  /** Given to the function as NODE_ENV. */
  nodeEnv: pulumi.Input<string>;
  /** @default {} */
  env?: Record<string, pulumi.Input<string>>;
  /**
   * Env var name → Secrets Manager secret ARN. The function receives the ARN and reads the value at
   * run time; the role may read exactly these secrets. Plain keys: they shape the policy.
   * @default {}
   */
  secretArns?: Record<string, pulumi.Input<string>>;
  /** KMS key the secrets are encrypted with; adds `kms:Decrypt` on it only. @default - no KMS grant */
  secretsKmsKeyArn?: pulumi.Input<string>;
  /** @default 512 */
  memorySize?: number;
  /** Seconds. @default 30 */
  timeout?: number;
  /** /tmp size in MB. @default 512 */
  ephemeralStorageMb?: number;
  /** @default - unreserved */
  reservedConcurrency?: number;
  /** @default - the image's CMD, ENTRYPOINT and WORKDIR */
  imageConfig?: { command?: string[]; entryPoint?: string[]; workingDirectory?: string };
  /** Days. @default 30 */
  logRetentionDays?: number;
  /**
   * Create an HTTPS function URL. Plain: it decides children.
   * @default false
   */
  functionUrl?: boolean;
  /**
   * `public` makes the URL's auth `NONE`; otherwise `AWS_IAM`. Plain: it decides children.
   * @default "private"
   */
  exposure?: "public" | "private";
  /**
   * Before a new version takes any traffic, invoke it (its qualified ARN) with
   * `{"healthCheck": true, "path": <healthPath>}`; a function error leaves the `live` alias on the
   * previous version and fails the update. With false, the alias moves without a gate.
   * @default true
   */
  healthGate?: boolean;
  /**
   * How hard the health gate tries (lib/release/step.ts GateRetry); a function error ends it at once.
   * Each key defaults separately.
   * @default {"attempts":5,"intervalSeconds":3,"timeoutSeconds":60}
   */
  healthGateRetry?: Partial<GateRetry>;
  /**
   * Move the `live` alias to a new version in steps (percentages by alias routing weight, then 100),
   * waiting and gating at each; a failure at any step returns all traffic to the previous version.
   * @default - all at once, after the gate passes
   */
  rollout?: RolloutSettings;
  /** @default "/health" */
  healthPath?: string;
  tags?: Record<string, string>;
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    role?: Transform<aws.iam.RoleArgs>;
    basicExecution?: Transform<aws.iam.RolePolicyAttachmentArgs>;
    secretsPolicy?: Transform<aws.iam.RolePolicyArgs>;
    logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
    function?: Transform<aws.lambda.FunctionArgs>;
    functionUrl?: Transform<aws.lambda.FunctionUrlArgs>;
    urlPermission?: Transform<aws.lambda.PermissionArgs>;
    release?: Transform<command.local.CommandArgs>;
    alias?: Transform<aws.lambda.AliasArgs>;
  };
}

/**
 * A Lambda function from a verified container image, by digest, with an execution role that can write
 * its logs and read exactly its own secrets, an explicit log group with retention, and an optional URL.
 * Each release publishes a version; the `live` alias, which the URL and its permissions target, moves
 * to it only after the release step has invoked the new version itself and found it healthy.
 */
export class LambdaFunction extends pulumi.ComponentResource {
  readonly functionName: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  /** `repo@sha256:…` the function runs, as Lambda reports it (the same name as CloudRunService.imageRef). */
  readonly imageRef: pulumi.Output<string>;
  readonly architecture: LambdaArchitecture;
  readonly url: pulumi.Output<string> | undefined;
  /** The permissions that open a public function URL to everyone; empty unless public. */
  readonly urlPermissions: aws.lambda.Permission[] = [];
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly secretsPolicy: aws.iam.RolePolicy | undefined;
  readonly function: aws.lambda.Function;
  readonly functionUrl: aws.lambda.FunctionUrl | undefined;
  /** The version this release published. */
  readonly version: pulumi.Output<string>;
  /** The release step: gates the new version, then moves the alias to it (or back). */
  readonly release: command.local.Command;
  /** `live`: what the URL, its permissions and every invoker call. */
  readonly alias: aws.lambda.Alias;

  constructor(name: string, args: LambdaFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super(LAMBDA_FUNCTION_TYPE, name, {}, opts);
    const a = normalizeLambdaArgs(name, args);
    this.architecture = architectureForPlatform(a.image.platform);
    const partition = a.partition ?? aws.getPartitionOutput({}, { parent: this }).partition;
    this.role = this.executionRole(name, a);
    const basicExecution = this.basicExecution(name, a, partition);
    this.secretsPolicy = this.secretsAccess(name, a);
    this.logGroup = this.logs(name, a);
    this.function = this.lambda(name, a, basicExecution);
    this.version = this.function.version;
    this.release = this.releaseStep(name, a);
    this.alias = this.liveAlias(name, a);
    this.functionUrl = this.publicUrl(name, a);
    this.url = this.functionUrl?.functionUrl;
    this.functionName = this.function.name;
    this.arn = this.function.arn;
    this.imageRef = this.function.imageUri.apply((u) => u ?? "");
    this.registerOutputs({
      functionName: this.functionName,
      arn: this.arn,
      imageRef: this.imageRef,
      architecture: this.architecture,
      url: this.url,
      version: this.version,
      alias: LAMBDA_LIVE_ALIAS,
      // Structured facts for the offline plan (which says when a function has no gate, and shows the release).
      healthGate: a.healthGate,
      rollout: a.rollout,
    });
  }

  /** The function's own execution role, trusted by Lambda only. */
  private executionRole(name: string, a: Normalized): aws.iam.Role {
    return new aws.iam.Role(
      ...transform(
        a.transform?.role,
        `${name}-role`,
        {
          // Named, not auto-named: an autoname adds 8 characters to a name that may already be near IAM's 64.
          name: a.roleName,
          description: `Execution role of the ${a.functionName} function (managed by multicloud-deploy)`,
          assumeRolePolicy: JSON.stringify(lambdaTrustPolicy()),
          tags: a.tags,
        },
        { parent: this },
      ),
    );
  }

  private basicExecution(
    name: string,
    a: Normalized,
    partition: pulumi.Input<string>,
  ): aws.iam.RolePolicyAttachment {
    return new aws.iam.RolePolicyAttachment(
      ...transform(
        a.transform?.basicExecution,
        `${name}-basic-execution`,
        {
          role: this.role.name,
          policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/${BASIC_EXECUTION_POLICY}`,
        },
        { parent: this },
      ),
    );
  }

  /** Read access to exactly the function's secrets (and their KMS key). */
  private secretsAccess(name: string, a: Normalized): aws.iam.RolePolicy | undefined {
    const secretNames = Object.keys(a.secretArns).sort();
    return secretNames.length > 0
      ? new aws.iam.RolePolicy(
          ...transform(
            a.transform?.secretsPolicy,
            `${name}-secrets`,
            {
              role: this.role.name,
              // Two env vars may read one secret: it is listed once.
              policy: pulumi
                .all([pulumi.all(secretNames.map((k) => a.secretArns[k])), a.secretsKmsKeyArn])
                .apply(([arns, kms]) => JSON.stringify(secretsReadPolicy([...new Set(arns)], kms))),
            },
            { parent: this },
          ),
        )
      : undefined;
  }

  /** The log group Lambda writes to, created here so its retention is ours. */
  private logs(name: string, a: Normalized): aws.cloudwatch.LogGroup {
    return new aws.cloudwatch.LogGroup(
      ...transform(
        a.transform?.logGroup,
        `${name}-logs`,
        { name: lambdaLogGroupName(a.functionName), retentionInDays: a.logRetentionDays, tags: a.tags },
        { parent: this },
      ),
    );
  }

  private lambda(
    name: string,
    a: Normalized,
    basicExecution: aws.iam.RolePolicyAttachment,
  ): aws.lambda.Function {
    const variables: Record<string, pulumi.Input<string>> = {
      NODE_ENV: a.nodeEnv,
      APP_VERSION: a.appVersion,
      ...a.env,
      // The ARN, never the value: the function reads the secret at run time.
      ...a.secretArns,
    };

    return new aws.lambda.Function(
      ...transform(
        a.transform?.function,
        name,
        {
          name: a.functionName,
          packageType: "Image",
          imageUri: a.image.imageRef,
          // Every release is a version: the alias moves to it after its gate, and older ones stay for
          // rollback (a version is published only when code or config change: function.go Update).
          publish: true,
          architectures: [this.architecture],
          role: this.role.arn,
          memorySize: a.memorySize,
          timeout: a.timeout,
          ephemeralStorage: { size: a.ephemeralStorageMb },
          reservedConcurrentExecutions: a.reservedConcurrency,
          imageConfig: a.imageConfig,
          environment: { variables },
          // JSON logs with both levels stated: Lambda reports INFO for levels left unset, and the
          // provider's diff would then publish a new version on every update
          // (hashicorp/terraform-provider-aws#33383).
          loggingConfig: {
            logFormat: "JSON",
            logGroup: this.logGroup.name,
            applicationLogLevel: "INFO",
            systemLogLevel: "INFO",
          },
          tags: a.tags,
        },
        {
          parent: this,
          dependsOn: [
            a.image.verification,
            ...a.imageAccess,
            this.logGroup,
            basicExecution,
            ...(this.secretsPolicy ? [this.secretsPolicy] : []),
          ],
        },
      ),
    );
  }

  /** The function URL (IAM auth, or none for a public function with the permissions that needs). */
  private publicUrl(name: string, a: Normalized): aws.lambda.FunctionUrl | undefined {
    if (!a.functionUrl) return undefined;
    const authorizationType = a.exposure === "public" ? "NONE" : "AWS_IAM";
    const functionUrl = new aws.lambda.FunctionUrl(
      ...transform(
        a.transform?.functionUrl,
        `${name}-url`,
        // On the alias, never the unqualified function (which would serve $LATEST the moment code changes).
        { functionName: this.function.name, qualifier: LAMBDA_LIVE_ALIAS, authorizationType },
        { parent: this, dependsOn: [this.alias] },
      ),
    );
    if (a.exposure === "public") {
      // A NONE-auth URL still needs a resource policy that lets anyone invoke it through the URL.
      this.urlPermissions.push(
        new aws.lambda.Permission(
          ...transform(
            a.transform?.urlPermission,
            `${name}-url-public`,
            {
              function: this.function.name,
              qualifier: LAMBDA_LIVE_ALIAS,
              action: "lambda:InvokeFunctionUrl",
              principal: "*",
              functionUrlAuthType: "NONE",
            },
            { parent: this, dependsOn: [this.alias] },
          ),
        ),
      );
      this.urlPermissions.push(
        new aws.lambda.Permission(
          ...transform(
            a.transform?.urlPermission,
            `${name}-url-public-invoke`,
            {
              function: this.function.name,
              qualifier: LAMBDA_LIVE_ALIAS,
              action: "lambda:InvokeFunction",
              principal: "*",
              invokedViaFunctionUrl: true,
            },
            { parent: this, dependsOn: [this.alias] },
          ),
        ),
      );
    }
    return functionUrl;
  }

  /**
   * The release step: the one owner of the alias after its creation. It runs for each new version
   * (its trigger): invokes that version alone, then moves the alias, or puts it back.
   */
  private releaseStep(name: string, a: Normalized): command.local.Command {
    return new command.local.Command(
      ...transform(
        a.transform?.release,
        `${name}-release`,
        {
          create: pulumi
            .all([this.function.arn, this.function.version, a.image.releaseChecks])
            .apply(([functionArn, version, image]) =>
              encodeReleaseStep({
                target: "lambda",
                functionArn,
                version,
                alias: LAMBDA_LIVE_ALIAS,
                healthPath: a.healthPath,
                gate: a.healthGate ? "invoke" : "none",
                gateRetry: a.healthGateRetry,
                ...(a.rollout
                  ? { rollout: { steps: a.rollout.steps, waitSeconds: a.rollout.waitSeconds } }
                  : {}),
                ...(a.rollout && a.healthGate ? { analysis: resolveAnalysis(a.rollout) } : {}),
                image,
              }),
            ),
          // A changed rollout or health path alone releases nothing: the version is live already.
          update: "true",
          // Lambda cannot enforce an image signature itself: this step's image checks are the one place.
          environment: a.image.releaseEnvironment.apply((env) => ({ [STEP_MARKER]: STEPS.release, ...env })),
          triggers: [this.function.version],
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: [this.function] },
      ),
    );
  }

  /**
   * `live`, created on the first version once its gate passed. After that the release step moves it:
   * this resource never re-sends `functionVersion` or `routingConfig` (alias.go Update sends both).
   */
  private liveAlias(name: string, a: Normalized): aws.lambda.Alias {
    return new aws.lambda.Alias(
      ...transform(
        a.transform?.alias,
        `${name}-live`,
        {
          name: LAMBDA_LIVE_ALIAS,
          functionName: this.function.name,
          functionVersion: this.function.version,
          description: "What users call; moved by the release step after each new version's health gate",
        },
        { parent: this, dependsOn: [this.release], ignoreChanges: ["functionVersion", "routingConfig"] },
      ),
    );
  }
}

type Normalized = ReturnType<typeof normalizeLambdaArgs>;

export function normalizeLambdaArgs(name: string, args: LambdaFunctionArgs) {
  const functionName = args.functionName ?? name;
  const roleName = args.roleName ?? lambdaRoleName(functionName);
  if (functionName.length > LAMBDA_FUNCTION_NAME_MAX || !/^[A-Za-z0-9_-]+$/.test(functionName)) {
    throw new ComponentArgError(
      "LambdaFunction",
      name,
      "functionName",
      `${JSON.stringify(functionName)} must be 1-${LAMBDA_FUNCTION_NAME_MAX} letters, digits, "-" or "_"`,
    );
  }
  const analysis = rolloutAnalysisProblems(args.rollout);
  if (analysis.length > 0)
    throw new ComponentArgError("LambdaFunction", name, "rollout", analysis.join("; "));
  if (roleName.length > IAM_ROLE_NAME_MAX) {
    throw new ComponentArgError(
      "LambdaFunction",
      name,
      "roleName",
      `${JSON.stringify(roleName)} has ${roleName.length} characters; IAM allows ${IAM_ROLE_NAME_MAX}`,
    );
  }
  return {
    ...args,
    functionName,
    roleName,
    env: args.env ?? {},
    secretArns: args.secretArns ?? {},
    imageAccess: args.imageAccess ?? [],
    memorySize: args.memorySize ?? D.memorySize,
    timeout: args.timeout ?? D.timeout,
    ephemeralStorageMb: args.ephemeralStorageMb ?? D.ephemeralStorageMb,
    logRetentionDays: args.logRetentionDays ?? D.logRetentionDays,
    functionUrl: args.functionUrl ?? D.functionUrl,
    exposure: args.exposure ?? D.exposure,
    healthGate: args.healthGate ?? D.healthGate,
    healthGateRetry: { ...D.healthGateRetry, ...args.healthGateRetry },
    healthPath: args.healthPath ?? D.healthPath,
    // `exposure` is what the policy pack's public-exposure-requires-opt-in reads (see cloud-run-service.ts).
    tags: { "managed-by": "multicloud-deploy", ...args.tags, exposure: args.exposure ?? D.exposure },
  };
}

export function lambdaTrustPolicy() {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ],
  };
}

/** `secretsmanager:GetSecretValue` on exactly these ARNs; `kms:Decrypt` on the one key, if any. */
export function secretsReadPolicy(secretArns: string[], kmsKeyArn?: string) {
  const statements: object[] = [
    { Sid: "ReadOwnSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArns },
  ];
  if (kmsKeyArn) {
    statements.push({
      Sid: "DecryptOwnSecrets",
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: kmsKeyArn,
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}
