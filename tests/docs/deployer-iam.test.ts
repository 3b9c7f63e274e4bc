/**
 * The documented AWS deployer policy (docs/iam/aws-deployer-policy.json) must allow what the program
 * does, on the resources it actually names, and no more than that by accident: adding an AWS resource
 * type, or renaming repositories or log groups, fails here until the policy and docs/iam.md follow.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_DIR, ofType, runProgram, type ProgramRun } from "../../plan/run";

interface Statement {
  Sid: string;
  Effect: "Allow";
  Action: string | string[];
  Resource: string | string[];
}
const policy = JSON.parse(
  fs.readFileSync(path.join(PROJECT_DIR, "docs/iam/aws-deployer-policy.json"), "utf8"),
) as { Statement: Statement[] };
const ACCOUNT = "123456789012"; // any account: the policy says ACCOUNT_ID, the needs below are built with this

const glob = (pattern: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i");
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** Whether some statement allows `action` on `resource` (conditions are not evaluated). */
function allows(action: string, resource: string): boolean {
  return policy.Statement.some(
    (s) =>
      list(s.Action).some((a) => glob(a).test(action)) &&
      list(s.Resource).some((r) => glob(r.replace("ACCOUNT_ID", ACCOUNT)).test(resource)),
  );
}

/** What creating each AWS resource type calls, and on which ARN. */
const NEEDS: Record<string, (inputs: any, run: ProgramRun) => Array<[string, string]>> = {
  "aws:ecr/repository:Repository": (i) => {
    const arn = `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${i.name}`;
    // DescribeImageScanFindings: the scan gate reads its repository's scans by digest (scripts/scan-gate.ts).
    return [
      "CreateRepository",
      "PutImageScanningConfiguration",
      "PutImage",
      "BatchGetImage",
      "DescribeImageScanFindings",
    ].map((a) => [`ecr:${a}`, arn] as [string, string]);
  },
  "aws:ecr/lifecyclePolicy:LifecyclePolicy": (i) => [
    ["ecr:PutLifecyclePolicy", `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${i.repository}`],
  ],
  "aws:ecr/repositoryPolicy:RepositoryPolicy": (i) => [
    ["ecr:SetRepositoryPolicy", `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${i.repository}`],
  ],
  "aws:iam/role:Role": () => [["iam:CreateRole", `arn:aws:iam::${ACCOUNT}:role/worker-role-1a2b3c`]],
  "aws:iam/rolePolicy:RolePolicy": () => [
    ["iam:PutRolePolicy", `arn:aws:iam::${ACCOUNT}:role/worker-role-1a2b3c`],
  ],
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": () => [
    ["iam:AttachRolePolicy", `arn:aws:iam::${ACCOUNT}:role/worker-role-1a2b3c`],
  ],
  "aws:cloudwatch/logGroup:LogGroup": (i) => [
    ["logs:CreateLogGroup", `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${i.name}`],
    ["logs:PutRetentionPolicy", `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${i.name}`],
  ],
  "aws:lambda/function:Function": (i) => [
    ["lambda:CreateFunction", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.name}`],
    ["lambda:PublishVersion", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.name}`],
    ["iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/worker-role-1a2b3c`],
  ],
  // The alias is created here; the release step then reads and moves it, and invokes the new
  // version by its qualified ARN (a `function:*` resource covers both).
  "aws:lambda/alias:Alias": (i) => [
    ["lambda:CreateAlias", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.functionName}`],
    ["lambda:GetAlias", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.functionName}:${i.name}`],
    ["lambda:UpdateAlias", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.functionName}:${i.name}`],
    ["lambda:InvokeFunction", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.functionName}:1`],
    // A rollout's traffic analysis (lib/release/metrics-lambda.ts): no resource-level permission.
    ["cloudwatch:GetMetricData", "*"],
  ],
  "aws:lambda/functionUrl:FunctionUrl": (i) => [
    ["lambda:CreateFunctionUrlConfig", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.functionName}`],
  ],
  "aws:lambda/permission:Permission": (i) => [
    ["lambda:AddPermission", `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${i.function}`],
  ],
};

let runs: ProgramRun[];
beforeAll(async () => {
  const commit = "0".repeat(40);
  runs = [
    await runProgram({ stack: "staging", commit }),
    // The public variant adds the URL permissions.
    await runProgram({
      stack: "staging",
      commit,
      overrides: { services: { worker: { exposure: "public" } } },
    }),
    // The default ECR prefix names repositories `multicloud-deploy/<service>`.
    await runProgram({
      stack: "staging",
      commit,
      overrides: { ecr: { repositoryPrefix: "multicloud-deploy" } },
    }),
  ];
}, 60_000);

describe("the documented AWS deployer policy", () => {
  it("allows creating every AWS resource the program registers, on the names it uses", () => {
    const missing: string[] = [];
    for (const run of runs) {
      for (const r of run.resources.filter((x) => x.type.startsWith("aws:"))) {
        const needs = NEEDS[r.type];
        if (!needs) {
          missing.push(`${r.type}: not in the deployer policy test; add its actions to docs/iam and here`);
          continue;
        }
        for (const [action, arn] of needs(r.inputs, run)) {
          if (!allows(action, arn)) missing.push(`${r.type} ${r.name}: ${action} on ${arn}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(ofType(runs[1]!, "aws:lambda/permission:Permission")).toHaveLength(2);
  });

  it("confines ECR, Lambda, logs and roles to this account, and grants no wildcard service access", () => {
    for (const s of policy.Statement) {
      for (const a of list(s.Action)) expect(a, s.Sid).not.toMatch(/:\*$|^\*$/);
    }
    expect(
      allows("ecr:CreateRepository", `arn:aws:ecr:us-east-1:999999999999:repository/multicloud-deploy-x`),
    ).toBe(false);
    expect(allows("ecr:PutImage", `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/someone-else`)).toBe(false);
    expect(allows("logs:DeleteLogGroup", `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/ecs/app`)).toBe(false);
    expect(
      allows("secretsmanager:GetSecretValue", `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:x`),
    ).toBe(false);
  });

  it("passes roles only to Lambda and attaches only the basic execution policy", () => {
    const pass = policy.Statement.find((s) => list(s.Action).includes("iam:PassRole"));
    expect(pass).toMatchObject({
      Condition: { StringEquals: { "iam:PassedToService": "lambda.amazonaws.com" } },
    });
    const attach = policy.Statement.find((s) => list(s.Action).includes("iam:AttachRolePolicy"));
    expect(attach).toMatchObject({
      Condition: {
        ArnEquals: { "iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" },
      },
    });
  });
});
