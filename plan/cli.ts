/**
 * The offline plan's command line (`scripts/plan.ts` runs it): runs the real program with mocked
 * providers (no cloud account, no Pulumi CLI) with a stack's configuration and prints what `pulumi up`
 * would do.
 *
 *   npm run plan [-- --stack prod] [--json | --markdown] [--state <pulumi stack export file>] [--dir <project>]
 *
 * Exit 0: planned. Exit 1: the stack's config (or a file given) is invalid; every problem is printed
 * (with --json, as a JSON error object on stdout). Exit 2: usage. Exit 3: the policy pack (policy/)
 * reports a mandatory violation, as `pulumi preview --policy-pack` would.
 */
import * as fs from "node:fs";
import { Command, Option } from "commander";
import { closest } from "fastest-levenshtein";
import { PROJECT } from "../lib/config/project";
import { UserError } from "../lib/errors";
import { formatCloudRunService } from "../lib/names";
import { liveRevisionsOf } from "../lib/release/revision";
import { parseOrExit } from "../scripts/cli";
import { checkPolicies, counts, planNotes, tree } from "./report";
import { PROJECT_DIR, loadStackConfig, runProgram, type ProgramRun } from "./run";
import type { MockEnvironment } from "./standins";
import { diffAgainstState, parseStackExport, type ExportedResource, type ResourceChange } from "./state-diff";
import { listStacks } from "./stack-files";

/**
 * A promoting stack reads its source stack's `images` output: the offline plan plans that stack first,
 * from its own file in this project. Anything else is an error naming the file and key.
 */
async function sourceOutputs(stack: string, dir: string): Promise<Record<string, Record<string, unknown>>> {
  const promoteFrom = loadStackConfig(stack, dir)[`${PROJECT}:promoteFrom`];
  if (typeof promoteFrom !== "string") return {};
  const parts = promoteFrom.split("/");
  // A malformed name or a self-promotion is reported by config validation, with the other problems.
  if (parts.length !== 3 || parts[2] === stack) return {};
  const [, project, source] = parts as [string, string, string];
  const where = `Pulumi.${stack}.yaml: ${PROJECT}:promoteFrom`;
  if (project !== PROJECT) {
    throw new UserError(`${where}: ${promoteFrom} is a stack of project "${project}", not ${PROJECT}`, [
      `the offline plan reads only this project's stack files, so it cannot know that stack's images; run \`pulumi preview --stack ${stack}\` to plan against it`,
    ]);
  }
  const stacks = listStacks(dir).filter((s) => s !== stack);
  if (!stacks.includes(source)) {
    const hint = stacks.length > 0 ? `did you mean "${closest(source, stacks)}"? ` : "";
    throw new UserError(`${where}: the stack "${source}" does not exist here`, [
      `no Pulumi.${source}.yaml; ${hint}Stacks with a file: ${stacks.join(", ") || "none"}. Fix the name in promoteFrom`,
    ]);
  }
  let planned: ProgramRun;
  try {
    planned = await runProgram({ stack: source, projectDir: dir, env: process.env });
  } catch (err) {
    throw new UserError(`${where}: the source stack "${source}" does not plan, so its images are unknown`, [
      err instanceof Error ? err.message : String(err),
    ]);
  }
  if (planned.outputs.images === undefined) {
    throw new UserError(`${where}: the stack "${source}" has no images output`, [
      `it exports ${Object.keys(planned.outputs).join(", ") || "nothing"}; promote from a stack that builds images`,
    ]);
  }
  return { [promoteFrom]: planned.outputs };
}

interface Options {
  stack: string;
  dir: string;
  json?: boolean;
  markdown?: boolean;
  state?: string;
}

/** Where the plan writes: stdout lines and stderr lines. */
export interface PlanOutput {
  out(line: string): void;
  err(line: string): void;
}

/** Runs the offline plan for `argv` (as process.argv) and returns the exit code. */
export async function planMain(
  argv: string[],
  io: PlanOutput = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const console = { log: io.out, error: io.err };
  const program = new Command()
    .name("plan")
    .description("Offline plan: what `pulumi up` would do for a stack, computed with mocked providers.")
    .option("-s, --stack <name>", "stack whose Pulumi.<stack>.yaml to plan", "staging")
    .addOption(new Option("--json", "machine-readable output").conflicts("markdown"))
    .option("--markdown", "a summary fit for a pull-request comment")
    .option("--state <file>", "`pulumi stack export` of the last deployment, to show what changes")
    .option("--dir <path>", "project directory holding Pulumi.yaml and the stack files", PROJECT_DIR);
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const o = program.opts<Options>();
  let planned: ProgramRun;
  let changes: ResourceChange[] | undefined;
  let state: ExportedResource[] | undefined;
  try {
    if (o.state !== undefined && !fs.existsSync(o.state)) {
      throw new UserError(`--state ${o.state}: no such file`, [
        "pass the output of `pulumi stack export --stack <stack> --file <file>`",
      ]);
    }
    state = o.state === undefined ? undefined : parseStackExport(o.state, fs.readFileSync(o.state, "utf8"));
    // URNs start `urn:pulumi:<stack>::<project>::`: an export of another stack would show everything replaced.
    const exported = [...new Set(state?.map((r) => /^urn:pulumi:([^:]+)::/.exec(r.urn)?.[1]))].filter(
      (x): x is string => x !== undefined,
    );
    if (exported.length > 0 && !exported.includes(o.stack)) {
      throw new UserError(`--state ${o.state}: an export of stack ${exported.join(", ")}, not ${o.stack}`, [
        `export this stack: \`pulumi stack export --stack ${o.stack} --file <file>\`, or plan --stack ${exported[0]}`,
      ]);
    }
    planned = await runProgram({
      stack: o.stack,
      projectDir: o.dir,
      env: process.env,
      stackOutputs: await sourceOutputs(o.stack, o.dir),
      // What exists, for the checks of settings a cloud cannot change (lib/fixed-names.ts).
      ecrRepositories: state && ecrRepositoriesIn(state),
      // Which revision each service serves, so a re-run names the ready one (lib/release/revision.ts).
      cloudRunServices: state && cloudRunServicesIn(state),
    });
    changes = state && diffAgainstState(planned.resources, state);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (o.json) {
      const problems = UserError.is(err) ? err.problems : [];
      const header = UserError.is(err) ? message.split("\n")[0] : message;
      console.log(
        JSON.stringify({ kind: "offline-plan-error", stack: o.stack, error: header, problems }, null, 2),
      );
    } else {
      console.error(message);
    }
    return 1;
  }
  const policy = await checkPolicies(planned);
  const report = {
    kind: "offline-plan",
    stack: o.stack,
    commit: planned.config?.commit.sha,
    resources: planned.resources
      .filter((r) => r.type !== "pulumi:pulumi:Stack")
      .map((r) => ({
        type: r.type,
        name: r.name,
        parent: r.parent,
        component: !r.custom,
        inputs: r.inputs,
        protect: r.protect,
        retainOnDelete: r.retainOnDelete,
        importId: r.importId,
      })),
    counts: counts(planned),
    components: planned.resources.filter((r) => !r.custom && r.type !== "pulumi:pulumi:Stack").length,
    changes: changes ?? null,
    outputs: planned.outputs,
    warnings: [
      ...planned.logs.filter((l) => l.severity === "warning").map((l) => l.message),
      ...revokingDeletes(changes),
    ],
    notes: planNotes(planned, state),
    policy: { configFile: policy.configFile, diagnostics: policy.result.diagnostics },
  };
  const exitCode = policy.failed ? 3 : 0;
  const cloudResources = Object.values(report.counts).reduce((a, b) => a + b, 0);
  const tally = changes
    ? (["create", "update", "replace", "delete", "same"] as const)
        .map(
          (c) =>
            `${changes!.filter((x) => x.change === c).length} to ${c === "same" ? "leave unchanged" : c}`,
        )
        .join(", ")
    : `${cloudResources} cloud resources to create, as if nothing existed (without --state the plan cannot know what exists; pass a \`pulumi stack export\`)`;
  if (o.json) {
    console.log(JSON.stringify(report, null, 2));
    return exitCode;
  }
  if (o.markdown) {
    console.log(`### Offline plan for \`${o.stack}\` (mocked providers; not \`pulumi preview\`)\n`);
    console.log("| service | image | platform | tag |\n| --- | --- | --- | --- |");
    for (const [name, img] of Object.entries((planned.outputs.images ?? {}) as Record<string, any>)) {
      console.log(
        `| ${name} | \`${img.repositoryUrl}@${String(img.digest).slice(0, 19)}…\` | ${img.platform} | \`${img.tag}\` |`,
      );
    }
    console.log(`\n${tally}; ${report.components} components.`);
    console.log(
      `\n${Object.entries(report.counts)
        .map(([t, n]) => `${n}× \`${t}\``)
        .join(", ")}`,
    );
    for (const w of report.warnings) console.log(`\n> [!WARNING]\n> ${w}`);
    if (report.notes.length > 0) console.log(`\n**Notes**\n${report.notes.map((n) => `- ${n}`).join("\n")}`);
    console.log(`\n${policy.lines.map((l, i) => (i === 0 ? `**${l}**` : `- ${l.trim()}`)).join("\n")}`);
    return exitCode;
  }
  console.log(`OFFLINE PLAN for stack "${o.stack}": the program ran against mocked providers.`);
  console.log("This is not `pulumi preview`: no cloud was contacted, digests and URLs are stand-ins.\n");
  for (const line of tree(planned, changes)) console.log(line);
  console.log(`\n${tally}; ${report.components} components (which create nothing themselves).`);
  for (const [type, n] of Object.entries(report.counts)) console.log(`  ${String(n).padStart(3)}  ${type}`);
  for (const w of report.warnings) console.log(`\nwarning: ${w}`);
  if (report.notes.length > 0) {
    console.log("\nNotes:");
    for (const n of report.notes) console.log(`  - ${n}`);
  }
  console.log("");
  for (const line of policy.lines) console.log(line);
  return exitCode;
}

/**
 * A grant whose delete would revoke access the plan keeps: a deleted grant whose binding another
 * resource holds (`pulumi up` deletes it last, and Google's delete takes the member out of the
 * binding), or a replaced grant of the same binding (created first, then the old one deleted).
 */
function revokingDeletes(changes: readonly ResourceChange[] | undefined): string[] {
  return (changes ?? [])
    .filter((c) => c.revokes !== undefined)
    .map((c) =>
      c.change === "replace"
        ? `${c.name}: replacing it would revoke ${c.revokes} (the new grant is created first, then the old one's ` +
          "delete removes the member from the binding); change the setting that replaces it back, or expect to " +
          "re-run `pulumi up` once: refresh then finds the grant gone and creates it again"
        : `${c.name}: deleting it would revoke ${c.revokes}, which another grant in this plan holds ` +
          "(a Google IAM member delete removes the member from the binding, whatever else holds it); " +
          "keep it in the program for one update with `retainOnDelete: true`, so that removing it later only drops it from the state" +
          (/-(image-reader|health-invoker)$/.test(c.name)
            ? "; for this program's own grants from before issue 21, set `multicloud-deploy:keepRetainedGrants: true` (docs/upgrading.md)"
            : ""),
    );
}

/** The Cloud Run services of an export: the revision each last asked for, and the newest ready one. */
function cloudRunServicesIn(state: readonly ExportedResource[]): MockEnvironment["cloudRunServices"] {
  const out: NonNullable<MockEnvironment["cloudRunServices"]> = {};
  for (const r of state.filter((x) => x.type === "gcp:cloudrunv2/service:Service")) {
    const o = (r.outputs ?? {}) as {
      name?: string;
      project?: string;
      location?: string;
      template?: { revision?: string };
      latestReadyRevision?: string;
      trafficStatuses?: Array<{ revision?: string; percent?: number }>;
    };
    // Read as the program reads the live service (lib/release/revision.ts liveRevisionsOf).
    const { asked, ...live } = liveRevisionsOf({ ...o, templates: [o.template ?? {}] });
    if (o.name && o.project && o.location && asked) {
      out[formatCloudRunService({ project: o.project, location: o.location, service: o.name })] = {
        asked,
        ...live,
      };
    }
  }
  return out;
}

/** The ECR repositories of an export, with the encryption their last refresh or update recorded. */
function ecrRepositoriesIn(state: readonly ExportedResource[]): MockEnvironment["ecrRepositories"] {
  const out: NonNullable<MockEnvironment["ecrRepositories"]> = {};
  for (const r of state.filter((x) => x.type === "aws:ecr/repository:Repository")) {
    const o = (r.outputs ?? r.inputs ?? {}) as {
      name?: string;
      encryptionConfigurations?: Array<{ encryptionType?: string; kmsKey?: string }>;
    };
    const e = o.encryptionConfigurations?.[0];
    if (o.name)
      out[o.name] = { encryptionType: e?.encryptionType ?? "AES256", kmsKey: e?.kmsKey || undefined };
  }
  return out;
}
