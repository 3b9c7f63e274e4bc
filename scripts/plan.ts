/**
 * The offline plan: runs the real program on the test harness (mocked providers, no cloud account, no
 * Pulumi CLI) with a stack's configuration and prints what `pulumi up` would create.
 *
 *   npm run plan [-- --stack prod] [--json | --markdown]
 *
 * Exit 0: planned. Exit 1: the stack's config is invalid (every problem is printed). Exit 2: usage.
 * Exit 3: the policy pack (policy/) reports a mandatory violation, as `pulumi preview --policy-pack` would.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, Option } from "commander";
import { PROJECT_DIR, loadStackConfig, runProgram, type ProgramRun } from "../plan/run";
import { parseOrExit, run } from "./cli";
import { checkPolicies, counts, planNotes, tree } from "../plan/report";
import { PROJECT } from "../lib/config/schema";

async function plan(stack: string): Promise<ProgramRun> {
  // A promoting stack reads its source stack's outputs: plan that stack first, from its local file.
  const config = loadStackConfig(stack);
  const promoteFrom = config[`${PROJECT}:promoteFrom`];
  const stackOutputs: Record<string, Record<string, unknown>> = {};
  if (typeof promoteFrom === "string") {
    const source = promoteFrom.split("/").pop()!;
    if (fs.existsSync(path.join(PROJECT_DIR, `Pulumi.${source}.yaml`))) {
      stackOutputs[promoteFrom] = (await runProgram({ stack: source })).outputs;
    }
  }
  return runProgram({ stack, stackOutputs });
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("plan")
    .description("Offline plan: what `pulumi up` would create for a stack, computed with mocked providers.")
    .option("-s, --stack <name>", "stack whose Pulumi.<stack>.yaml to plan", "staging")
    .addOption(new Option("--json", "machine-readable output").conflicts("markdown"))
    .option("--markdown", "a summary fit for a pull-request comment");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const o = program.opts<{ stack: string; json?: boolean; markdown?: boolean }>();
  let run: ProgramRun;
  try {
    run = await plan(o.stack);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  const resources = run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const policy = await checkPolicies(run);
  const exitCode = policy.failed ? 3 : 0;
  if (o.json) {
    console.log(
      JSON.stringify(
        {
          kind: "offline-plan",
          stack: o.stack,
          resources: resources.map((r) => ({
            type: r.type,
            name: r.name,
            parent: r.parent,
            inputs: r.inputs,
            protect: r.protect,
            retainOnDelete: r.retainOnDelete,
            importId: r.importId,
          })),
          counts: counts(run),
          outputs: run.outputs,
          notes: planNotes(run),
          policy: { configFile: policy.configFile, diagnostics: policy.result.diagnostics },
        },
        null,
        2,
      ),
    );
    return exitCode;
  }
  if (o.markdown) {
    console.log(`### Offline plan for \`${o.stack}\` (mocked providers; not \`pulumi preview\`)\n`);
    console.log("| service | image | platform | tag |\n| --- | --- | --- | --- |");
    for (const [name, img] of Object.entries((run.outputs.images ?? {}) as Record<string, any>)) {
      console.log(
        `| ${name} | \`${img.repositoryUrl}@${String(img.digest).slice(0, 19)}…\` | ${img.platform} | \`${img.tag}\` |`,
      );
    }
    console.log(
      `\n${resources.length} resources: ${Object.entries(counts(run))
        .map(([t, n]) => `${n}× \`${t}\``)
        .join(", ")}`,
    );
    console.log(`\n${policy.lines.map((l, i) => (i === 0 ? `**${l}**` : `- ${l.trim()}`)).join("\n")}`);
    return exitCode;
  }
  console.log(`OFFLINE PLAN for stack "${o.stack}": the program ran against mocked providers.`);
  console.log("This is not `pulumi preview`: no cloud was contacted, digests and URLs are stand-ins.\n");
  for (const line of tree(run)) console.log(line);
  console.log(`\n${resources.length} resources to create:`);
  for (const [type, n] of Object.entries(counts(run))) console.log(`  ${String(n).padStart(3)}  ${type}`);
  for (const l of run.logs.filter((x) => x.severity === "warning")) console.log(`\nwarning: ${l.message}`);
  const notes = planNotes(run);
  if (notes.length > 0) {
    console.log("\nNotes:");
    for (const n of notes) console.log(`  - ${n}`);
  }
  console.log("");
  for (const line of policy.lines) console.log(line);
  return exitCode;
}

run("plan", () => main(process.argv));
