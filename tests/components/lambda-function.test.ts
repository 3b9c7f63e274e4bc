/** LambdaFunction: image package by digest, derived architecture, least-privilege role, logs, versions, the live alias, URL. */
import { beforeAll, describe, expect, it } from "vitest";
import { decodeReleaseStep } from "../../lib/release";
import { planNotes } from "../../plan/report";
import { byName, ofType, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

describe("LambdaFunction", () => {
  it("ships an image by digest, never a zip, with the architecture of its image", () => {
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    expect(fn.inputs.packageType).toBe("Image");
    expect(fn.inputs.imageUri).toMatch(
      /^111111111111\.dkr\.ecr\.us-east-1\.amazonaws\.com\/multicloud-deploy-staging\/worker@sha256:[0-9a-f]{64}$/,
    );
    for (const key of ["code", "s3Bucket", "s3Key", "filename"]) expect(fn.inputs).not.toHaveProperty(key);
    expect(fn.inputs.architectures).toEqual(["arm64"]);
    expect(fn.dependencies).toContain(byName(staging, "command:local:Command", "worker-verify").urn);
  });

  it("warns in the plan that a reserved concurrency is refused only after the function exists (issue 21)", () => {
    expect(planNotes(prod).filter((n) => n.includes("reserves"))).toEqual([
      "worker: reserves 50 concurrent executions; Lambda refuses that after creating the function if the account's unreserved concurrency would drop below its minimum (100 on most accounts, less on new ones). Check first: `aws lambda get-account-settings` (AccountLimit.UnreservedConcurrentExecutions must stay at least that minimum after 50 more)",
    ]);
    expect(planNotes(staging).filter((n) => n.includes("reserves"))).toEqual([]);
  });

  it("is created after the repository policy that lets Lambda pull its image (create retries no ECR denial)", () => {
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    const policy = byName(staging, "aws:ecr/repositoryPolicy:RepositoryPolicy", "worker-repo-lambda-pull");
    expect(fn.dependencies).toContain(policy.urn);
  });

  it("lists a secret two env vars read once in its role's policy", async () => {
    const arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf";
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: {
        services: { worker: { secrets: { DB_SECRET_ARN: { secret: arn }, DB_ARN: { secret: arn } } } },
      },
    });
    const policy = JSON.parse(byName(run, "aws:iam/rolePolicy:RolePolicy", "worker-secrets").inputs.policy);
    expect(policy.Statement[0].Resource).toEqual([arn]);
  });

  it("derives x86_64 from a linux/amd64 image", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { worker: { architecture: undefined, platform: "linux/amd64" } } },
    });
    expect(byName(run, "aws:lambda/function:Function", "worker").inputs.architectures).toEqual(["x86_64"]);
    expect(byName(run, "docker-build:index:Image", "worker-image").inputs.platforms).toEqual(["linux/amd64"]);
  });

  it("has a role Lambda can assume with only the basic execution policy and its own secrets", () => {
    const trust = JSON.parse(byName(staging, "aws:iam/role:Role", "worker-role").inputs.assumeRolePolicy);
    expect(trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
    expect(
      ofType(staging, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.policyArn),
    ).toEqual(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]);
    const policy = JSON.parse(
      byName(staging, "aws:iam/rolePolicy:RolePolicy", "worker-secrets").inputs.policy,
    );
    expect(policy.Statement).toEqual([
      {
        Sid: "ReadOwnSecrets",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: ["arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf"],
      },
    ]);
    const vars = byName(staging, "aws:lambda/function:Function", "worker").inputs.environment.variables;
    expect(vars).toMatchObject({
      APP_VERSION: SHA,
      NODE_ENV: "staging",
      DB_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf",
    });
  });

  it("creates its log group first, with the stack's retention and JSON logs", () => {
    const logs = byName(staging, "aws:cloudwatch/logGroup:LogGroup", "worker-logs");
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    expect(logs.inputs).toMatchObject({
      name: "/aws/lambda/multicloud-deploy-staging-worker",
      retentionInDays: 30,
    });
    expect(byName(prod, "aws:cloudwatch/logGroup:LogGroup", "worker-logs").inputs.retentionInDays).toBe(90);
    expect(fn.dependencies).toContain(logs.urn);
    // Both levels stated: left unset, Lambda reports INFO and every update would publish a version.
    expect(fn.inputs.loggingConfig).toEqual({
      logFormat: "JSON",
      logGroup: "/aws/lambda/multicloud-deploy-staging-worker",
      applicationLogLevel: "INFO",
      systemLogLevel: "INFO",
    });
  });

  it("names the function, its log group and its role after the stack, so two stacks share an account", () => {
    const names = (run: ProgramRun) => [
      byName(run, "aws:lambda/function:Function", "worker").inputs.name,
      byName(run, "aws:cloudwatch/logGroup:LogGroup", "worker-logs").inputs.name,
      byName(run, "aws:iam/role:Role", "worker-role").inputs.name,
    ];
    expect(names(staging)).toEqual([
      "multicloud-deploy-staging-worker",
      "/aws/lambda/multicloud-deploy-staging-worker",
      "multicloud-deploy-staging-worker-role",
    ]);
    expect(names(prod)).toEqual([
      "multicloud-deploy-prod-worker",
      "/aws/lambda/multicloud-deploy-prod-worker",
      "multicloud-deploy-prod-worker-role",
    ]);
  });

  it("takes a functionName override from the stack file", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { commitSha: SHA, services: { worker: { functionName: "acme_worker" } } },
    });
    expect(byName(run, "aws:lambda/function:Function", "worker").inputs.name).toBe("acme_worker");
    expect(byName(run, "aws:iam/role:Role", "worker-role").inputs.name).toBe("acme_worker-role");
  });

  it("writes ARNs in the account's partition (aws-cn, aws-us-gov)", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      awsPartition: "aws-cn",
      overrides: { commitSha: SHA },
    });
    const policy = JSON.parse(
      byName(run, "aws:ecr/repositoryPolicy:RepositoryPolicy", "worker-repo-lambda-pull").inputs.policy,
    );
    expect(policy.Statement[0].Condition.StringLike["aws:sourceArn"]).toBe(
      "arn:aws-cn:lambda:us-east-1:111111111111:function:*",
    );
    expect(
      ofType(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.policyArn),
    ).toEqual(["arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]);
  });

  it("uses AWS_IAM URL auth unless the function is public", async () => {
    expect(byName(staging, "aws:lambda/functionUrl:FunctionUrl", "worker-url").inputs.authorizationType).toBe(
      "AWS_IAM",
    );
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { worker: { exposure: "public" } } },
    });
    expect(byName(run, "aws:lambda/functionUrl:FunctionUrl", "worker-url").inputs.authorizationType).toBe(
      "NONE",
    );
  });

  it("publishes each release as a version and gates that version alone before the live alias moves", () => {
    const fn = byName(staging, "aws:lambda/function:Function", "worker");
    expect(fn.inputs.publish).toBe(true);
    const release = byName(staging, "command:local:Command", "worker-release");
    expect(release.dependencies).toContain(fn.urn);
    expect(release.inputs.triggers).toEqual([fn.outputs.version]);
    expect(decodeReleaseStep(release.inputs.create)).toEqual({
      target: "lambda",
      functionArn: fn.outputs.arn,
      version: fn.outputs.version,
      alias: "live",
      healthPath: "/health",
      gate: "invoke",
      // Today's gate, unless the stack says otherwise (LAMBDA_DEFAULTS.healthGateRetry).
      gateRetry: { attempts: 5, intervalSeconds: 3, timeoutSeconds: 60 },
      // Lambda cannot enforce an image signature: the release step checks it, and the scan, itself.
      image: {
        ref: fn.inputs.imageUri,
        scan: { maxCritical: 0, deadlineSeconds: 900, allow: [], allowUnscanned: false },
        signature: {
          commit: SHA,
          stack: "staging",
          reference: fn.inputs.imageUri.split("@")[0],
          key: { cloud: "aws", keyId: "alias/multicloud-deploy-image-signing", region: "us-east-1" },
        },
      },
    });
    const alias = byName(staging, "aws:lambda/alias:Alias", "worker-live");
    expect(alias.inputs).toMatchObject({ name: "live", functionName: fn.outputs.name, functionVersion: "1" });
    // Created after the first version passed its gate; moved only by the release step afterwards.
    expect(alias.dependencies).toContain(release.urn);
    expect(alias.ignoreChanges).toEqual(["functionVersion", "routingConfig"]);
  });

  it("puts the URL and its permissions on the live alias, never the unqualified function", async () => {
    const alias = byName(staging, "aws:lambda/alias:Alias", "worker-live");
    const url = byName(staging, "aws:lambda/functionUrl:FunctionUrl", "worker-url");
    expect(url.inputs.qualifier).toBe("live");
    expect(url.dependencies).toContain(alias.urn);
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { worker: { exposure: "public" } } },
    });
    const permissions = ofType(run, "aws:lambda/permission:Permission");
    expect(permissions.map((p) => [p.name, p.inputs.action, p.inputs.qualifier])).toEqual([
      ["worker-url-public", "lambda:InvokeFunctionUrl", "live"],
      ["worker-url-public-invoke", "lambda:InvokeFunction", "live"],
    ]);
    // No gate that would ask the shared URL after traffic has moved.
    expect(run.resources.find((r) => r.name === "worker-url-health")).toBeUndefined();
    expect(ofType(run, "aws:lambda/invocation:Invocation")).toEqual([]);
  });

  it("moves the alias without a gate when healthGate is false", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { worker: { healthGate: false } } },
    });
    expect(
      decodeReleaseStep(byName(run, "command:local:Command", "worker-release").inputs.create)?.gate,
    ).toBe("none");
  });
});
