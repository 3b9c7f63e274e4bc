/** How the offline plan presents a recorded run: a resource tree, counts, notes and the policy pack's verdict. */
import * as fs from "node:fs";
import * as path from "node:path";
import { PACK_ENFORCEMENT, PACK_NAME, policies } from "../policy/rules";
import { evaluateRun, type PackConfig, type PolicyResult } from "./policy";
import {
  parseHealthCheckCommandLine,
  parsePromoteCommandLine,
  parseVerifyCommandLine,
} from "../lib/verify-step";
import { PROJECT_DIR, type ProgramRun, type RecordedResource } from "./run";
import type { Change, ResourceChange } from "./state-diff";

/** IAM policy statements in one line each: `Allow s3:GetObject on arn:… (principal …)`. */
function statements(policy: unknown): string {
  let doc: any = policy;
  if (typeof policy === "string") {
    try {
      doc = JSON.parse(policy);
    } catch {
      return policy;
    }
  }
  const list: any[] = Array.isArray(doc?.Statement) ? doc.Statement : doc?.Statement ? [doc.Statement] : [];
  const words = (v: unknown) =>
    Array.isArray(v) ? v.join(",") : v === undefined ? "" : JSON.stringify(v).replace(/^"|"$/g, "");
  return list
    .map((st) =>
      [
        st.Effect,
        words(st.Action),
        st.Resource !== undefined ? `on ${words(st.Resource)}` : "",
        st.Principal !== undefined
          ? `for ${words(st.Principal.Service ?? st.Principal.AWS ?? st.Principal)}`
          : "",
        st.Condition !== undefined ? `if ${JSON.stringify(st.Condition)}` : "",
      ]
        .filter(Boolean)
        .join(" "),
    )
    .join("; ");
}

/** The inputs a reviewer changes or must see, per resource type: images, scaling, identities, exposure, IAM. */
function summarize(r: RecordedResource): string {
  const i = r.inputs;
  switch (r.type) {
    case "docker-build:index:Image":
      return `platforms=${JSON.stringify(i.platforms)} exec=${i.exec === true} exports=${(i.exports ?? [])
        .map((e: any) => e.raw ?? JSON.stringify(e))
        .join(" ")}`;
    case "command:local:Command": {
      const text = String(i.create ?? "");
      const verify = parseVerifyCommandLine(text);
      if (verify)
        return `verify ${verify.ref} platform=${verify.platform}${verify.tag ? ` then tag ${verify.tag}` : ""}`;
      const promote = parsePromoteCommandLine(text);
      if (promote) {
        const repo = promote.source.split("@")[0];
        return repo === promote.destination
          ? `rollback: ${promote.source} must still be in this registry (nothing is copied)`
          : `copy ${promote.source} -> ${promote.destination}`;
      }
      const health = parseHealthCheckCommandLine(text);
      if (health)
        return `health gate: GET ${health.url} until it answers ${health.expect} (${health.attempts} attempts)`;
      return text.replace(/^node_modules\/\.bin\/tsx /, "");
    }
    case "gcp:cloudrunv2/service:Service": {
      const t = i.template ?? {};
      const c = t.containers?.[0] ?? {};
      const limits = c.resources?.limits ?? {};
      const scaling = t.scaling ?? {};
      return [
        `image=${c.image}`,
        `cpu=${limits.cpu} memory=${limits.memory} cpuIdle=${c.resources?.cpuIdle}`,
        `instances=${scaling.minInstanceCount ?? 0}..${scaling.maxInstanceCount}`,
        `concurrency=${t.maxInstanceRequestConcurrency} timeout=${t.timeout}`,
        `sa=${t.serviceAccount} ingress=${i.ingress} deletionProtection=${i.deletionProtection}`,
      ].join(" ");
    }
    case "aws:lambda/function:Function":
      return [
        `packageType=${i.packageType} imageUri=${i.imageUri} architectures=${JSON.stringify(i.architectures)}`,
        `memory=${i.memorySize}MB timeout=${i.timeout}s ephemeralStorage=${i.ephemeralStorage?.size}MB`,
        `reservedConcurrency=${i.reservedConcurrentExecutions ?? "unreserved"}`,
      ].join(" ");
    case "aws:lambda/functionUrl:FunctionUrl":
      return `authorizationType=${i.authorizationType}${i.authorizationType === "NONE" ? " (anyone on the internet)" : ""}`;
    case "aws:lambda/permission:Permission":
      return `${i.action} for ${i.principal}${i.functionUrlAuthType ? ` (function URL auth ${i.functionUrlAuthType})` : ""}`;
    case "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
    case "gcp:secretmanager/secretIamMember:SecretIamMember":
    case "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember":
    case "gcp:serviceaccount/iAMMember:IAMMember":
      return `${i.role} -> ${i.member}${i.secretId ? ` on ${i.secretId}` : ""}`;
    case "gcp:artifactregistry/repository:Repository":
      return `${i.repositoryId} immutableTags=${i.dockerConfig?.immutableTags}`;
    case "aws:ecr/repository:Repository":
      return `${i.name} ${i.imageTagMutability} scanOnPush=${i.imageScanningConfiguration?.scanOnPush}`;
    case "aws:iam/role:Role":
      return `${i.name} trust: ${statements(i.assumeRolePolicy)}`;
    case "aws:iam/rolePolicy:RolePolicy":
    case "aws:ecr/repositoryPolicy:RepositoryPolicy":
      return statements(i.policy);
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

/**
 * What a reviewer should know that no single resource shows: checks that will not run, services
 * deployed from an old image, what a secret env var holds. Read from the config the program ran
 * with and the facts components record (`registerOutputs`), never from child names.
 */
export function planNotes(run: ProgramRun): string[] {
  const notes: string[] = [];
  for (const c of run.resources.filter((r) => !r.custom && r.outputs.healthGate === false)) {
    notes.push(
      c.type === "multicloud:gcp:CloudRunService"
        ? `${c.name}: no health gate (private without healthGateServiceAccount, or healthGate: false); Cloud Run's startup probe still guards each revision`
        : `${c.name}: no health gate (private without a function URL, or healthGate: false); the update counts as done once Lambda reports the function active`,
    );
  }
  const config = run.config;
  for (const [service, r] of Object.entries(config?.rollback ?? {})) {
    notes.push(
      `${service}: ROLLED BACK to commit ${r.commitSha} (${r.digest}, tag ${r.tag}) from this stack's own registry; nothing is built or promoted for it`,
    );
  }
  for (const s of config?.services ?? []) {
    const names = Object.keys(s.secrets);
    if (names.length === 0) continue;
    notes.push(
      s.target === "lambda"
        ? `${s.name}: ${names.join(", ")} hold${names.length === 1 ? "s" : ""} a Secrets Manager ARN, not the value; the function reads the value at run time (its role may read only these secrets)`
        : `${s.name}: ${names.join(", ")} hold${names.length === 1 ? "s" : ""} the secret's value, which Cloud Run resolves from Secret Manager when an instance starts (version ${Object.values(
            s.secrets,
          )
            .map((x) => x.version)
            .join(", ")})`,
    );
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

const MARK: Record<Change, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " " };

export function tree(run: ProgramRun, changes?: readonly ResourceChange[]): string[] {
  const lines: string[] = [];
  const byUrn = new Map(changes?.map((c) => [c.urn, c]));
  const children = (urn: string | undefined) => run.resources.filter((r) => r.parent === urn);
  const stack = run.resources.find((r) => r.type === "pulumi:pulumi:Stack");
  const walk = (r: RecordedResource, depth: number) => {
    const change = byUrn.get(r.urn);
    const mark = change ? MARK[change.change] : "+";
    const changed = change && change.changed.length > 0 ? `changed: ${change.changed.join(", ")}` : "";
    const detail = [summarize(r), flags(r), changed].filter(Boolean).join(" ");
    lines.push(`${"  ".repeat(depth)}${mark} ${r.type} ${r.name}${detail ? `  ${detail}` : ""}`);
    for (const c of children(r.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(c, depth + 1);
  };
  for (const top of children(stack?.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(top, 0);
  for (const d of changes?.filter((c) => c.change === "delete") ?? []) lines.push(`- ${d.type} ${d.name}`);
  return lines;
}

/** Cloud resources by type; components (which create nothing themselves) are counted apart. */
export function counts(run: ProgramRun): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of run.resources) if (r.custom) out[r.type] = (out[r.type] ?? 0) + 1;
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
