/**
 * The offline plan: runs the real program on the test harness (mocked providers, no cloud account, no
 * Pulumi CLI) with a stack's configuration and prints what `pulumi up` would create.
 *
 *   npm run plan [-- --stack prod] [--json | --markdown]
 *
 * Exit 0: planned. Exit 1: the stack's config is invalid (every problem is printed). Exit 2: usage.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, Option } from "commander";
import {
  PROJECT_DIR,
  loadStackConfig,
  runProgram,
  type ProgramRun,
  type RecordedResource,
} from "../tests/harness/run";
import { PROJECT } from "../lib/config/schema";

/** The few inputs a reviewer needs per resource type: images, platforms, identities, exposure. */
function summarize(r: RecordedResource): string {
  const i = r.inputs;
  switch (r.type) {
    case "docker-build:index:Image":
      return `platforms=${JSON.stringify(i.platforms)} tag=${String(i.tags?.[0] ?? "")
        .split(":")
        .pop()} pushByDigest=${i.exports?.[0]?.registry?.pushByDigest === true} exec=${i.exec === true}`;
    case "command:local:Command":
      return String(i.create ?? "").replace(/^node_modules\/\.bin\/tsx /, "");
    case "gcp:cloudrunv2/service:Service": {
      const c = i.template?.containers?.[0] ?? {};
      return `image=${c.image} sa=${i.template?.serviceAccount} ingress=${i.ingress} deletionProtection=${i.deletionProtection}`;
    }
    case "aws:lambda/function:Function":
      return `packageType=${i.packageType} imageUri=${i.imageUri} architectures=${JSON.stringify(i.architectures)}`;
    case "aws:lambda/functionUrl:FunctionUrl":
      return `authorizationType=${i.authorizationType}`;
    case "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
    case "gcp:secretmanager/secretIamMember:SecretIamMember":
    case "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember":
      return `${i.role} → ${i.member}${i.secretId ? ` on ${i.secretId}` : ""}`;
    case "gcp:artifactregistry/repository:Repository":
      return `${i.repositoryId} immutableTags=${i.dockerConfig?.immutableTags}`;
    case "aws:ecr/repository:Repository":
      return `${i.name} ${i.imageTagMutability} scanOnPush=${i.imageScanningConfiguration?.scanOnPush}`;
    case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
      return String(i.policyArn);
    case "aws:cloudwatch/logGroup:LogGroup":
      return `${i.name} retention=${i.retentionInDays}d`;
    case "gcp:serviceaccount/account:Account":
      return String(i.accountId);
    default:
      return "";
  }
}

function flags(r: RecordedResource): string {
  const f = [
    r.protect ? "protected" : "",
    r.retainOnDelete ? "retainOnDelete" : "",
    r.importId ? `import=${r.importId}` : "",
  ];
  return f
    .filter(Boolean)
    .map((x) => `[${x}]`)
    .join(" ");
}

function tree(run: ProgramRun): string[] {
  const lines: string[] = [];
  const children = (urn: string | undefined) => run.resources.filter((r) => r.parent === urn);
  const stack = run.resources.find((r) => r.type === "pulumi:pulumi:Stack");
  const walk = (r: RecordedResource, depth: number) => {
    const detail = [summarize(r), flags(r)].filter(Boolean).join(" ");
    lines.push(`${"  ".repeat(depth)}+ ${r.type} ${r.name}${detail ? `  ${detail}` : ""}`);
    for (const c of children(r.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(c, depth + 1);
  };
  for (const top of children(stack?.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(top, 0);
  return lines;
}

function counts(run: ProgramRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of run.resources) if (r.type !== "pulumi:pulumi:Stack") out[r.type] = (out[r.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}

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
    .option("--markdown", "a summary fit for a pull-request comment")
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const o = program.opts<{ stack: string; json?: boolean; markdown?: boolean }>();
  let run: ProgramRun;
  try {
    run = await plan(o.stack);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  const resources = run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
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
        },
        null,
        2,
      ),
    );
    return 0;
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
    return 0;
  }
  console.log(`OFFLINE PLAN for stack "${o.stack}": the program ran against mocked providers.`);
  console.log("This is not `pulumi preview`: no cloud was contacted, digests and URLs are stand-ins.\n");
  for (const line of tree(run)) console.log(line);
  console.log(`\n${resources.length} resources to create:`);
  for (const [type, n] of Object.entries(counts(run))) console.log(`  ${String(n).padStart(3)}  ${type}`);
  // Seam for the policy pack (issue 6): evaluate its policies over `run.resources` here.
  return 0;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
