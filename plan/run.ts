/**
 * Runs the real program under `pulumi.runtime.setMocks` with a stack's configuration and returns every
 * registered resource: type, name, inputs, outputs, parent, dependencies and resource options. Used by
 * the tests, the offline plan and the benchmarks.
 *
 * Pitfalls handled here: config is set before the program reads it; outputs are read from the recorded
 * state, not through `.promise()`; with `preview: true` the mocks leave out what only an update can
 * tell, so those values are unknown as in a real `pulumi preview`.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../lib/config/parse";
import type { ProgramChecks } from "../program";
import { PROJECT } from "../lib/config/project";
import { runGit, type GitRunner } from "../lib/commit";
import { UserError } from "../lib/errors";
import { loadStackConfig as loadStackFile } from "./stack-files";
import {
  captureLogs,
  interceptComponentOutputs,
  interceptRegistrations,
  waitForRPCs,
  type RegisterRequest,
  type RegisterResponse,
} from "./sdk-internals";
import { callResult, newResourceState, type MockEnvironment } from "./standins";

export const PROJECT_DIR = path.resolve(__dirname, "..");

/** A registered resource: what the program asked for (type, name, inputs, options, dependencies) and what the stand-ins answered. */
export type RecordedResource = RegisterRequest & RegisterResponse;

export interface ProgramRun {
  stack: string;
  /** The validated stack config the program ran with (unset when a test ran its own program). */
  config?: StackConfig;
  preview: boolean;
  /** Every provider function the program invoked, by token, in call order. */
  invokes: string[];
  /** What the program logged (`pulumi.log`), which `pulumi up` would show as diagnostics. */
  logs: Array<{ severity: "info" | "warning"; message: string }>;
  resources: RecordedResource[];
  outputs: Record<string, any>;
}

/**
 * The offline plan reaches no registry: each promoted image's signature check (program.ts
 * checkPromotedSignatures) is said, not made.
 */
export const OFFLINE_CHECKS: ProgramChecks = {
  async promotedSignatures(config, promoted) {
    for (const [service, image] of Object.entries(promoted).sort()) {
      const cloud = config.services.find((s) => s.name === service)?.target === "cloudrun" ? "gcp" : "aws";
      pulumi.log.info(
        `${service}: before anything is registered, the update checks ${image.repositoryUrl}@${image.digest} for a signature by signatureKeys.${cloud}, for commit ${image.commitSha}`,
      );
    }
  },
};

export interface RunOptions {
  stack: string;
  /** Replace the stack file's config (the `config:` map of Pulumi.<stack>.yaml). */
  config?: Record<string, unknown>;
  /** Deep-merge over the stack file's `multicloud-deploy:*` values, e.g. `{ services: { api: { memory: "lots" } } }`. */
  overrides?: Record<string, unknown>;
  /** Directory holding Pulumi.yaml and the stack files. @default the project */
  projectDir?: string;
  /** Outputs of referenced stacks (promotion), by fully qualified name. */
  stackOutputs?: Record<string, Record<string, unknown>>;
  /** ECR repositories that exist already (see MockEnvironment.ecrRepositories). @default none */
  ecrRepositories?: MockEnvironment["ecrRepositories"];
  /** Cloud Run services that exist already (see MockEnvironment.cloudRunServices). @default none */
  cloudRunServices?: MockEnvironment["cloudRunServices"];
  /** Environment seen by the program (commit detection). @default process.env without GITHUB_SHA */
  env?: Record<string, string | undefined>;
  /**
   * Run as if this commit were checked out in a clean work tree (what `git` tells the program).
   * @default - the repository's real work tree
   */
  commit?: string;
  /** Run as `pulumi preview` does: digests and command outputs are unknown. @default false */
  preview?: boolean;
  /**
   * Run this instead of the project's program (same config, mocks and recording): for tests that
   * register resources the program never would, to see what the mocked providers answer.
   * @default - the project's program
   */
  program?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** The deployer's AWS account. @default - the stack's own (see STACK_IDENTITIES) */
  awsAccountId?: string;
  /** @default "aws" */
  awsPartition?: string;
}

/**
 * Each stack deploys with its own identity into its own AWS account and GCP project, as the stack
 * files' secret ARNs and `gcp:project` say; any other stack gets a third account.
 */
export const STACK_IDENTITIES: Record<string, { awsAccountId: string }> = {
  staging: { awsAccountId: "111111111111" },
  prod: { awsAccountId: "222222222222" },
};

/** A stable, project-specific 12-digit GCP project number. */
function projectNumber(project: string): string {
  const n = BigInt(`0x${createHash("sha256").update(project).digest("hex").slice(0, 12)}`);
  return ((n % 900000000000n) + 100000000000n).toString();
}

/** The stack file's config over Pulumi.yaml's defaults (see ./stack-files). */
export function loadStackConfig(stack: string, projectDir = PROJECT_DIR): Record<string, unknown> {
  return loadStackFile(stack, projectDir);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (
    base &&
    over &&
    typeof base === "object" &&
    typeof over === "object" &&
    !Array.isArray(base) &&
    !Array.isArray(over)
  ) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over)) out[k] = v === undefined ? undefined : deepMerge(out[k], v);
    return out;
  }
  return over;
}

/** Pulumi hands config to programs as strings, objects as JSON; `secure:` values stay secret. */
function toRuntimeConfig(config: Record<string, unknown>): {
  values: Record<string, string>;
  secretKeys: string[];
} {
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (value && typeof value === "object" && "secure" in value) {
      values[key] = "[secret]";
      secretKeys.push(key);
    } else {
      values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return { values, secretKeys };
}

/** A clean work tree at `sha`, committed at a fixed time, with no remote. */
function checkedOut(sha: string): GitRunner {
  return (args) => {
    if (args[0] === "rev-parse" && args[1] === "HEAD") return sha;
    if (args[0] === "status") return "";
    if (args[0] === "log") return "1700000000";
    return undefined;
  };
}

let runQueue: Promise<unknown> = Promise.resolve();

/** Runs the program for a stack. Runs are serialised: Pulumi's runtime state is process-wide. */
export function runProgram(options: RunOptions): Promise<ProgramRun> {
  const run = runQueue.then(() => runOnce(options));
  runQueue = run.catch(() => undefined);
  return run;
}

async function runOnce(options: RunOptions): Promise<ProgramRun> {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  let config = options.config ?? loadStackConfig(options.stack, projectDir);
  if (options.overrides) {
    const merged: Record<string, unknown> = { ...config };
    for (const [k, v] of Object.entries(options.overrides))
      merged[`${PROJECT}:${k}`] = deepMerge(config[`${PROJECT}:${k}`], v);
    config = merged;
  }
  const { values, secretKeys } = toRuntimeConfig(config);
  const gcpProject = values["gcp:project"] ?? "mock-project";
  const env: MockEnvironment = {
    awsAccountId: options.awsAccountId ?? STACK_IDENTITIES[options.stack]?.awsAccountId ?? "333333333333",
    awsPartition: options.awsPartition ?? "aws",
    awsRegion: values["aws:region"] ?? "us-east-1",
    gcpProject,
    gcpRegion: values["gcp:region"] ?? "us-central1",
    gcpProjectNumber: projectNumber(gcpProject),
    stackOutputs: options.stackOutputs ?? {},
    ecrRepositories: options.ecrRepositories,
    cloudRunServices: options.cloudRunServices,
    preview: options.preview ?? false,
    options: new Map(),
  };

  const resources: RecordedResource[] = [];
  const invokes: string[] = [];
  const logs: ProgramRun["logs"] = [];
  // A provider refusing a resource fails the update, as in the engine; the SDK also rejects that
  // resource's outputs, which nobody awaits.
  const registrationErrors: Error[] = [];
  pulumi.runtime.setAllConfig(values, secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => newResourceState(args, env),
      call: (args) => {
        invokes.push(args.token);
        return callResult(args, env);
      },
    },
    PROJECT,
    options.stack,
    options.preview ?? false,
  );

  // Record what the mock interface does not pass on: parent, dependencies and resource options.
  interceptRegistrations(
    (req) => env.options!.set(`${req.type}::${req.name}`, req),
    (req, res, err) => {
      if (err)
        registrationErrors.push(new Error(`${req.type} (${req.name}): ${(err as Error).message ?? err}`));
      if (res) resources.push({ ...req, ...res });
    },
  );
  const componentOutputs = new Map<string, Record<string, any>>();
  interceptComponentOutputs((urn, outputs) => componentOutputs.set(urn, outputs));

  const previousEnv = { ...process.env };
  const programEnv = options.env ?? { ...process.env, GITHUB_SHA: undefined };
  const cwd = process.cwd();
  for (const k of Object.keys(process.env)) if (!(k in programEnv)) delete process.env[k];
  for (const [k, v] of Object.entries(programEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.chdir(projectDir);
  // A user error inside the stack (e.g. a promotion problem) rejects the run and, through the Stack
  // resource's own promise, once more unhandled: keep the second from killing the test process.
  const onUnhandled = (reason: unknown) => {
    if (UserError.is(reason)) return;
    if (registrationErrors.length > 0 && String(reason).includes("failed to register new resource")) return;
    throw reason;
  };
  process.on("unhandledRejection", onUnhandled);
  // Without an engine the SDK prints diagnostics to the console; record them instead.
  const restoreLogs = captureLogs((severity, message) => logs.push({ severity, message }));
  try {
    // Import lazily so the program's modules see the mocks.
    // Validate first, as main() does, so a config error rejects before the stack resource exists.
    const { readStackConfig, deploy } = await import("../program");
    let program = options.program;
    let config: StackConfig | undefined;
    if (!program) {
      const parsed = readStackConfig({
        env: process.env,
        git: options.commit === undefined ? runGit : checkedOut(options.commit),
      });
      config = parsed;
      program = () => deploy(parsed, OFFLINE_CHECKS);
    }
    const outputs = (await pulumi.runtime.runInPulumiStack(async () => program())) ?? {};
    await waitForRPCs();
    if (registrationErrors.length > 0) throw registrationErrors[0];
    for (const r of resources) {
      const facts = componentOutputs.get(r.urn);
      if (!r.custom && facts) r.outputs = facts;
    }
    return {
      stack: options.stack,
      config,
      preview: options.preview ?? false,
      invokes,
      logs,
      resources,
      outputs: outputs as Record<string, any>,
    };
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", onUnhandled);
    restoreLogs();
    process.chdir(cwd);
    for (const k of Object.keys(process.env)) if (!(k in previousEnv)) delete process.env[k];
    Object.assign(process.env, previousEnv);
  }
}

// ---------------------------------------------------------------------------------------------
// Queries tests use
// ---------------------------------------------------------------------------------------------

export function ofType(run: ProgramRun, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

export function byName(run: ProgramRun, type: string, name: string): RecordedResource {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  if (!found) {
    const names = ofType(run, type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "none"}`);
  }
  return found;
}

export function byUrn(run: ProgramRun, urn: string): RecordedResource | undefined {
  return run.resources.find((r) => r.urn === urn);
}

/** Whether `resource` waits for `dependency`, directly or through any chain of dependencies or parents' dependencies. */
export function dependsOn(
  run: ProgramRun,
  resource: RecordedResource,
  dependency: RecordedResource,
): boolean {
  const seen = new Set<string>();
  const stack = [...resource.dependencies];
  while (stack.length > 0) {
    const urn = stack.pop()!;
    if (urn === dependency.urn) return true;
    if (seen.has(urn)) continue;
    seen.add(urn);
    const r = byUrn(run, urn);
    if (r) stack.push(...r.dependencies, ...run.resources.filter((c) => c.parent === urn).map((c) => c.urn));
  }
  return false;
}
