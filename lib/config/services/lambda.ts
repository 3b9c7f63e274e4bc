/**
 * Lambda functions: the keys a `target: lambda` service takes, and the rules Lambda, IAM and this
 * program put on them. The component wiring is targets/lambda.ts.
 */
import { z } from "zod";
import { describeValue } from "../../errors";
import { IAM_ROLE_NAME_MAX, LAMBDA_FUNCTION_NAME_MAX, lambdaFunctionName, lambdaRoleName } from "../../names";
import {
  architectureForPlatform,
  LAMBDA_ARCHITECTURES,
  PLATFORMS,
  platformForArchitecture,
} from "../../platform";
import { LAMBDA_DEFAULTS } from "../../service-defaults";
import { AWS_REGION_PATTERN } from "../cloud-ids";
import { e, KMS_KEY_ARN, wholeNumber } from "../fields";
import { PROJECT } from "../project";
import { AWS_SDK_CORE_VERSION, isPublishedAwsRegion } from "../regions";
import { commonService, defineTarget, healthPath, secretsMap } from "./common";

/** Reserved by the Lambda runtime (plus every `AWS_*` name). */
const LAMBDA_RESERVED_ENV = [
  "_HANDLER",
  "_X_AMZN_TRACE_ID",
  "LAMBDA_TASK_ROOT",
  "LAMBDA_RUNTIME_DIR",
  "TZ",
] as const;

const SECRETS_MANAGER_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const SECRETS_MANAGER_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Values CloudWatch Logs accepts for retention. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** A CloudWatch Logs retention: a function's own, or the stack's default for all of them. */
export const logRetention = z
  .number(e("expected a CloudWatch Logs retention in days"))
  .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
    message: `expected a CloudWatch Logs retention in days, one of ${LOG_RETENTION_DAYS.join(", ")}`,
  });

const lambdaSecret = z.strictObject(
  {
    /** Secrets Manager secret ARN, or its name (the ARN is then looked up at deploy time). */
    secret: z
      .string(e("expected a Secrets Manager secret ARN or name"))
      .refine((s) => SECRETS_MANAGER_ARN.test(s) || (!s.startsWith("arn:") && SECRETS_MANAGER_NAME.test(s)), {
        message:
          'expected a Secrets Manager secret ARN ("arn:aws:secretsmanager:<region>:<account>:secret:<name>") or name',
      }),
  },
  e('expected { secret: "<Secrets Manager ARN or name>" }'),
);

/**
 * A Lambda function's architecture when neither `architecture` nor `platform` is given (arm64 costs
 * less per GB-second). When one is given the other is derived from it, below.
 */
const DEFAULT_LAMBDA_ARCHITECTURE = "arm64" satisfies (typeof LAMBDA_ARCHITECTURES)[number];

const lambdaServiceSchema = z.strictObject({
  target: z.literal("lambda"),
  ...commonService,
  /** Image platform; the function's architecture is derived from it. Give this or `architecture`. */
  platform: z.enum(PLATFORMS, e(`expected one of ${PLATFORMS.map((p) => `"${p}"`).join(", ")}`)).optional(),
  /**
   * Physical function name; the log group is `/aws/lambda/<name>` and the execution role `<name>-role`.
   * Defaults to `multicloud-deploy-<stack>-<service>`, so two stacks in one account never collide.
   */
  functionName: z
    .string(e('expected a Lambda function name like "acme-staging-worker"'))
    .regex(/^[A-Za-z0-9_-]+$/, e('expected a Lambda function name: letters, digits, "-" and "_" only'))
    .optional(),
  /** Lambda architecture; the image platform is derived from it. Give this or `platform`. */
  architecture: z
    .enum(LAMBDA_ARCHITECTURES, e('expected Lambda architecture "arm64" or "x86_64"'))
    .optional(),
  /** Env var name → Secrets Manager secret; the function receives the ARN, never the value. */
  secrets: secretsMap("DB_SECRET_ARN", lambdaSecret),
  /** A customer-managed KMS key the secrets are encrypted with (adds kms:Decrypt on that key only). */
  secretsKmsKeyArn: z
    .string(e("expected a KMS key ARN"))
    .regex(KMS_KEY_ARN, e('expected a KMS key ARN like "arn:aws:kms:us-east-1:123456789012:key/<id>"'))
    .optional(),
  memory: wholeNumber("expected Lambda memory in MB, 128-10240", 128, 10240).default(
    LAMBDA_DEFAULTS.memorySize,
  ),
  timeoutSeconds: wholeNumber("expected a Lambda timeout in seconds, 1-900", 1, 900).default(
    LAMBDA_DEFAULTS.timeout,
  ),
  ephemeralStorageMb: wholeNumber("expected /tmp size in MB, 512-10240", 512, 10240).default(
    LAMBDA_DEFAULTS.ephemeralStorageMb,
  ),
  /** Reserved concurrency; unset means the function shares the account's unreserved pool. */
  reservedConcurrency: wholeNumber("expected a whole number, 0 or more", 0).optional(),
  imageConfig: z
    .strictObject(
      {
        command: z.array(z.string(), e("expected a list of strings")).min(1).optional(),
        entryPoint: z.array(z.string(), e("expected a list of strings")).min(1).optional(),
        workingDirectory: z
          .string(e("expected an absolute path"))
          .regex(/^\//, e("expected an absolute path"))
          .optional(),
      },
      e("expected { command?, entryPoint?, workingDirectory? }"),
    )
    .optional(),
  /** Give the function an HTTPS URL (auth AWS_IAM, or NONE when exposure is public). */
  functionUrl: z.boolean(e("expected true or false")).default(LAMBDA_DEFAULTS.functionUrl),
  logRetentionDays: logRetention.optional(),
  /** Adopt an ECR repository that already exists under this function's repository name. */
  adoptExistingRepository: z.boolean(e("expected true or false")).default(false),
  healthPath,
});

export type LambdaServiceConfig = Omit<
  z.output<typeof lambdaServiceSchema>,
  "platform" | "architecture" | "functionName" | "logRetentionDays"
> & {
  name: string;
  /** Always set after parsing: `multicloud-deploy-<stack>-<service>` unless overridden. */
  functionName: string;
  /** Always set after parsing: derived from `architecture` when not given. */
  platform: (typeof PLATFORMS)[number];
  architecture: (typeof LAMBDA_ARCHITECTURES)[number];
  /** Always set after parsing: the stack's `logRetentionDays` unless the function sets its own. */
  logRetentionDays: number;
};

export const lambdaTarget = defineTarget<LambdaServiceConfig, z.output<typeof lambdaServiceSchema>>({
  target: "lambda",
  runtime: "Lambda",
  services: "the Lambda functions",
  secretReference: "a Secrets Manager ARN or name",
  schema: lambdaServiceSchema,
  providers: [
    {
      key: "aws:region",
      example: "us-east-1",
      pattern: AWS_REGION_PATTERN,
      expected: 'expected an AWS region like "us-east-1"',
      // The shape is right but no partition lists it (Google's lists are the APIs': program.ts).
      check: (value) =>
        isPublishedAwsRegion(value)
          ? undefined
          : `${describeValue(value)} is not a region the AWS SDK's partition table lists; check the spelling, e.g. "us-east-1" (a region launched after @aws-sdk/core ${AWS_SDK_CORE_VERSION} needs a newer one: npm update @aws-sdk/core)`,
    },
  ],
  isReservedEnv: (k) => (LAMBDA_RESERVED_ENV as readonly string[]).includes(k) || k.startsWith("AWS_"),

  toService(name, data, { stack, where, at, stackValues }) {
    // Names derive from the stack, so staging and prod can share an account; AWS's limits are
    // checked here, on the name that would be created.
    const functionName = data.functionName ?? lambdaFunctionName(PROJECT, stack, name);
    const roleName = lambdaRoleName(functionName);
    const nameKey = data.functionName === undefined ? where : [...where, "functionName"];
    if (functionName.length > LAMBDA_FUNCTION_NAME_MAX) {
      at(
        nameKey,
        `the function name ${JSON.stringify(functionName)} has ${functionName.length} characters; Lambda allows ${LAMBDA_FUNCTION_NAME_MAX}. ` +
          `Set a shorter functionName`,
      );
      return undefined;
    }
    if (roleName.length > IAM_ROLE_NAME_MAX) {
      at(
        nameKey,
        `the execution role name ${JSON.stringify(roleName)} has ${roleName.length} characters; IAM allows ${IAM_ROLE_NAME_MAX}. ` +
          `Set a functionName of at most ${IAM_ROLE_NAME_MAX - (roleName.length - functionName.length)} characters`,
      );
      return undefined;
    }
    // One of platform/architecture is derived from the other; given both, they must agree.
    const architecture =
      data.architecture ??
      (data.platform ? architectureForPlatform(data.platform) : DEFAULT_LAMBDA_ARCHITECTURE);
    const platform = data.platform ?? platformForArchitecture(architecture);
    if (architectureForPlatform(platform) !== architecture) {
      at(
        where,
        `platform "${platform}" builds ${architectureForPlatform(platform)} images but architecture is "${architecture}"; ` +
          `set only one of them (the other is derived), e.g. architecture: "${architecture}"`,
      );
      return undefined;
    }
    return {
      ...data,
      name,
      functionName,
      platform,
      architecture,
      // The stack's own default is missing only when it is invalid, which is reported anyway.
      logRetentionDays:
        data.logRetentionDays ?? stackValues.logRetentionDays ?? LAMBDA_DEFAULTS.logRetentionDays,
    };
  },

  ungatedReason: () => undefined,

  check(s, { where, at }) {
    if (s.exposure === "public" && !s.functionUrl) {
      at(
        [...where, "exposure"],
        `a public Lambda needs a function URL to be reached; set functionUrl: true or exposure: private`,
      );
    }
  },

  // Physical names must be unique: two functions with one name would fail in AWS after the first.
  checkStack(services, at) {
    const byFunctionName = new Map<string, string>();
    for (const fn of services) {
      const other = byFunctionName.get(fn.functionName);
      if (other !== undefined) {
        at(
          ["services", fn.name, "functionName"],
          `${fn.name} and ${other} would both be the Lambda function ${JSON.stringify(fn.functionName)}; give each its own functionName`,
        );
      }
      byFunctionName.set(fn.functionName, fn.name);
    }
  },
});
