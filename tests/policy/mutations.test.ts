/**
 * Mutation tests: the real staging and prod programs (as the engine serializes them, so every
 * property has the name the SDK sends), one property at a time turned into a violation; exactly the
 * named rule must fire, and nothing else. A rule that reads a name the engine never sends (`env` where
 * the schema says `envs`) stays silent here and fails its case.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { policies } from "../../policy/rules";
import { evaluateRun, type PackConfig } from "../../plan/policy";
import { PROJECT_DIR, byName, type ProgramRun } from "../../plan/run";
import { stacks } from "../harness/stacks";

type Stack = "staging" | "prod";
let runs: Record<Stack, ProgramRun>;
beforeAll(async () => {
  runs = await stacks();
}, 60_000);

const configFor = (stack: Stack) =>
  JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, `policy/config.${stack}.json`), "utf8")) as PackConfig;

/** The run with one resource's serialized inputs and state changed by `change`. */
function mutated(
  run: ProgramRun,
  type: string,
  name: string,
  change: (props: any, deps: Record<string, string[]>) => void,
): ProgramRun {
  const target = byName(run, type, name);
  const copy = (o: unknown) => JSON.parse(JSON.stringify(o));
  return {
    ...run,
    resources: run.resources.map((r) => {
      if (r !== target) return r;
      const rawInputs = copy(r.rawInputs);
      const rawOutputs = copy(r.rawOutputs);
      const propertyDependencies = copy(r.propertyDependencies);
      change(rawInputs, propertyDependencies);
      change(rawOutputs, propertyDependencies);
      return { ...r, rawInputs, rawOutputs, propertyDependencies };
    }),
  };
}

const DIGEST = `sha256:${"c".repeat(64)}`;
const RUN = "gcp:cloudrunv2/service:Service";
const LAMBDA = "aws:lambda/function:Function";
const IMAGE = "docker-build:index:Image";

/** [rule, resource type, resource name, mutation, stacks it applies to] */
const CASES: Array<[string, string, string, (p: any, deps: Record<string, string[]>) => void, Stack[]]> = [
  [
    "lambda-traffic-through-alias",
    "aws:lambda/functionUrl:FunctionUrl",
    "worker-url",
    (p) => delete p.qualifier,
    ["staging", "prod"],
  ],
  [
    "cloud-run-no-source-deploy",
    RUN,
    "api",
    (p) => (p.buildConfig = { sourceLocation: "gs://b/src.zip" }),
    ["staging", "prod"],
  ],
  [
    "cloud-run-image-from-artifact-registry",
    RUN,
    "api",
    // An image from elsewhere, pinned by digest, not from the pipeline: no verify step claims it.
    (p, deps) => {
      p.template.containers[0].image = `gcr.io/acme/api@${DIGEST}`;
      deps.template = deps.template!.filter((u) => !u.endsWith("::api-verify"));
    },
    ["staging", "prod"],
  ],
  [
    "cloud-run-image-pinned-by-digest",
    RUN,
    "api",
    (p) =>
      (p.template.containers[0].image = p.template.containers[0].image.replace(/@sha256:[0-9a-f]+$/, ":v1")),
    ["staging", "prod"],
  ],
  ["lambda-image-package-only", LAMBDA, "worker", (p) => (p.packageType = "Zip"), ["staging", "prod"]],
  [
    "lambda-image-pinned-by-digest",
    LAMBDA,
    "worker",
    (p) => (p.imageUri = p.imageUri.replace(/@sha256:[0-9a-f]+$/, ":v1")),
    ["staging", "prod"],
  ],
  [
    "lambda-architecture-matches-image",
    LAMBDA,
    "worker",
    (p) => (p.architectures = ["x86_64"]),
    ["staging", "prod"],
  ],
  [
    "image-build-single-platform",
    IMAGE,
    "api-image",
    (p) => (p.platforms = ["linux/amd64", "linux/arm64"]),
    ["staging"],
  ],
  ["image-build-no-attestations", IMAGE, "api-image", (p) => (p.exec = true), ["staging"]],
  [
    "image-build-commit-sha-tag",
    "command:local:Command",
    "api-verify",
    (p) => (p.create = p.create.replace(/--tag \S+$/, "--tag latest")),
    ["staging"],
  ],
  [
    "registry-immutable-tags",
    "gcp:artifactregistry/repository:Repository",
    "images-repo",
    (p) => (p.dockerConfig = { immutableTags: false }),
    ["staging", "prod"],
  ],
  [
    "registry-immutable-tags",
    "aws:ecr/repository:Repository",
    "worker-repo",
    (p) => (p.imageTagMutability = "MUTABLE"),
    ["staging", "prod"],
  ],
  [
    "image-signed-and-scanned",
    RUN,
    "api",
    // The image no longer waits for its scan gate.
    (_p, deps) => (deps.template = deps.template!.filter((u) => !u.endsWith("::api-scan"))),
    ["staging", "prod"],
  ],
  [
    "image-signed-and-scanned",
    LAMBDA,
    "worker",
    (_p, deps) => (deps.imageUri = deps.imageUri!.filter((u) => !u.endsWith("::worker-scan"))),
    ["staging", "prod"],
  ],
  [
    "image-signed-and-scanned",
    "command:local:Command",
    "api-promote",
    // A promotion that copies without checking staging's signature.
    (p) => (p.create = p.create.replace(/ --signed-for \S+ --signed-by \S+/, "")),
    ["prod"],
  ],
  [
    "image-signed-and-scanned",
    RUN,
    "api",
    // Prod enforces Binary Authorization, but the image no longer waits for its attestation.
    (_p, deps) => (deps.template = deps.template!.filter((u) => !u.endsWith("::api-attest"))),
    ["prod"],
  ],
  [
    "image-signed-and-scanned",
    RUN,
    "api",
    // Staging: the image no longer waits for its signature.
    (_p, deps) => (deps.template = deps.template!.filter((u) => !u.endsWith("::api-sign"))),
    ["staging"],
  ],
  [
    "ecr-scan-on-push",
    "aws:ecr/repository:Repository",
    "worker-repo",
    (p) => (p.imageScanningConfiguration = { scanOnPush: false }),
    ["staging", "prod"],
  ],
  [
    "no-plaintext-secrets-in-env",
    RUN,
    "api",
    (p) => p.template.containers[0].envs.push({ name: "PAYMENT_API_TOKEN", value: "tok_live_123" }),
    ["staging", "prod"],
  ],
  [
    "no-plaintext-secrets-in-env",
    LAMBDA,
    "worker",
    (p) => (p.environment.variables.DB_PASSWORD = "hunter2"),
    ["staging", "prod"],
  ],
  [
    "cloud-run-dedicated-service-account",
    RUN,
    "api",
    (p) => (p.template.serviceAccount = "123456789012-compute@developer.gserviceaccount.com"),
    ["staging", "prod"],
  ],
  [
    "public-exposure-requires-opt-in",
    RUN,
    "api",
    (p) => (p.labels = { ...p.labels, exposure: "private" }),
    ["staging", "prod"],
  ],
];

describe("each rule fires, alone, on the real stacks with one property broken", () => {
  const table = CASES.flatMap(([rule, type, name, change, stacksOf]) =>
    stacksOf.map((stack) => [`${rule} on ${stack} (${name})`, rule, type, name, change, stack] as const),
  );

  it.each(table)("%s", async (_title, rule, type, name, change, stack) => {
    const result = await evaluateRun(mutated(runs[stack], type, name, change), {
      policies,
      config: configFor(stack),
      packEnforcementLevel: "mandatory",
    });
    expect(result.diagnostics.map((d) => d.policyName)).toEqual([rule]);
  });

  it("covers every rule of the pack", () => {
    expect([...new Set(CASES.map(([rule]) => rule))].sort()).toEqual(policies.map((p) => p.name).sort());
  });

  it("starts from stacks that are clean", async () => {
    for (const stack of ["staging", "prod"] as const) {
      const result = await evaluateRun(runs[stack], {
        policies,
        config: configFor(stack),
        packEnforcementLevel: "mandatory",
      });
      expect(result.diagnostics).toEqual([]);
    }
  });
});
