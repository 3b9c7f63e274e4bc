/** How the offline plan presents a recorded run: a resource tree, counts, notes and the policy pack's verdict. */
import * as fs from "node:fs";
import * as path from "node:path";
import { PACK_ENFORCEMENT, PACK_NAME, policies } from "../policy/rules";
import { evaluateRun, type PackConfig, type PolicyResult } from "./policy";
import { PROJECT_DIR, type ProgramRun, type RecordedResource } from "./run";

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

/** What the plan cannot show as a resource but a reviewer should know: checks that will not run. */
export function planNotes(run: ProgramRun): string[] {
  const notes: string[] = [];
  for (const svc of run.resources.filter((r) => r.type === "multicloud:gcp:CloudRunService")) {
    const gate = run.resources.find((r) => r.parent === svc.urn && r.name === `${svc.name}-health`);
    if (!gate) {
      notes.push(
        `Cloud Run service ${svc.name}: no health gate (private without healthGateServiceAccount, or healthGate: false); ` +
          `Cloud Run's startup probe still guards each revision`,
      );
    }
  }
  return notes;
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

export function tree(run: ProgramRun): string[] {
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

export function counts(run: ProgramRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of run.resources) if (r.type !== "pulumi:pulumi:Stack") out[r.type] = (out[r.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}

export interface PolicyCheck {
  result: PolicyResult;
  /** The pack config file used, relative to the project, if one exists for the stack. */
  configFile?: string;
  lines: string[];
  /** A mandatory violation: `pulumi preview` with the pack would fail. */
  failed: boolean;
}

/** Runs the policy pack over a planned stack with `policy/config.<stack>.json`, as CI's preview would. */
export async function checkPolicies(run: ProgramRun): Promise<PolicyCheck> {
  const configFile = `policy/config.${run.stack}.json`;
  const configPath = path.join(PROJECT_DIR, configFile);
  const exists = fs.existsSync(configPath);
  const config = exists ? (JSON.parse(fs.readFileSync(configPath, "utf8")) as PackConfig) : undefined;
  const result = await evaluateRun(run, { policies, config, packEnforcementLevel: PACK_ENFORCEMENT });
  const lines = [
    `Policy pack ${PACK_NAME} (${policies.length} policies${exists ? `, ${configFile}` : ""}): ` +
      `${result.mandatory.length} mandatory, ${result.diagnostics.length - result.mandatory.length} advisory`,
    ...result.diagnostics.map(
      (d) =>
        `  [${d.enforcementLevel}] ${d.policyName}${d.resourceName ? ` (${d.resourceName})` : ""}: ${d.message}`,
    ),
  ];
  return { result, configFile: exists ? configFile : undefined, lines, failed: result.mandatory.length > 0 };
}
