/**
 * The whole program (the repository's own Pulumi.yaml, Pulumi.staging.yaml and Pulumi.prod.yaml) on
 * the real engine: `pulumi preview` as a pull request's comment shows it, with the policy pack run by
 * the engine's analyzer over every resource. The gcp and aws plugins are stand-ins answering as the
 * unit tests' mocks do (tests/e2e/standins/cloud.ts); docker-build and the engine are real. Previews only:
 * an update would push to Artifact Registry and ECR hosts that are not on this machine.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, startEnvironment, type CliResult, type E2eEnvironment } from "./env";

const SHA = "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40";
let e: E2eEnvironment;

/** Each stack's deployment identity, as the stand-ins report it: its own account and project. */
const IDENTITY = {
  staging: {
    awsAccountId: "111111111111",
    gcpProject: "acme-apps-staging",
    gcpProjectNumber: "123456789012",
  },
  prod: { awsAccountId: "222222222222", gcpProject: "acme-apps-prod", gcpProjectNumber: "210987654321" },
} as const;

const run = (stack: keyof typeof IDENTITY, args: string[]) =>
  e.pulumi(
    ["--stack", stack, ...args],
    {
      GITHUB_SHA: SHA,
      E2E_STANDIN_ENVIRONMENT: JSON.stringify({
        ...IDENTITY[stack],
        awsPartition: "aws",
        awsRegion: "us-east-1",
        gcpRegion: "us-central1",
        stackOutputs: {},
      }),
    },
    e.programDir,
  );
const pack = () => [
  "--policy-pack",
  e.policyPack,
  "--policy-pack-config",
  path.join(REPO, "policy/config.staging.json"),
];
const text = (r: CliResult) => r.stdout + r.stderr;

beforeAll(async () => {
  e = await startEnvironment();
  for (const stack of ["staging", "prod"]) {
    const r = await e.pulumi(["stack", "init", stack], {}, e.programDir);
    expect(r.code, text(r)).toBe(0);
  }
}, 40 * 60_000);
afterAll(() => e?.stop());

describe("the staging and prod stacks on the real engine", () => {
  it("staging previews every resource of both clouds, and the policy pack passes it", async () => {
    const r = await run("staging", ["preview", "--diff", ...pack()]);
    fs.writeFileSync(path.join(REPO, "bench/e2e-staging-preview.txt"), r.stdout);
    expect(r.code, text(r)).toBe(0);
    // `--diff` lists the packs that ran; a violation would fail the preview and be listed with it.
    expect(r.stdout).toMatch(/Policy Packs run:\s+Name\s+Version\s+multicloud-deploy\|local\|\S+\s+0\.1\.0/);
    expect(text(r)).not.toMatch(/mandatory|advisory/);
    expect(r.stdout).toMatch(/Resources:\s+\+ \d+ to create/);
    for (const type of [
      "gcp:artifactregistry/repository:Repository",
      "gcp:cloudrunv2/service:Service",
      "aws:ecr/repository:Repository",
      "aws:lambda/function:Function",
      "docker-build:index:Image",
      "command:local:Command",
    ]) {
      expect(r.stdout, type).toContain(`+ ${type}: (create)`);
    }
    // Names carry the stack, and the ECR pull policy its partition and account.
    expect(r.stdout).toMatch(/\bname\s+: "multicloud-deploy-staging-worker"/);
    expect(r.stdout).toContain("arn:aws:lambda:us-east-1:111111111111:function:*");
  });

  it("prod refuses to promote from a staging stack that has deployed nothing, naming the stack and output", async () => {
    const r = await run("prod", ["preview"]);
    fs.writeFileSync(path.join(REPO, "bench/e2e-prod-preview.txt"), text(r));
    expect(r.code).not.toBe(0);
    expect(text(r)).toContain("organization/multicloud-deploy/staging");
    expect(text(r)).toMatch(/images/);
  });
});
