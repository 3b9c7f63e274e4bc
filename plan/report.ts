/** How the offline plan presents a recorded run: a resource tree, counts, notes and the policy pack's verdict. */
import { decodeSignStep, keyUri } from "../lib/signing/step";
import { decodeScanStep, scannerOf } from "../lib/scan/step";
import { decodeAttestStep } from "../lib/binauthz/step";
import { parseImageRef } from "../lib/image-ref";
import { stillAllowed } from "../lib/scan/gate";
import * as fs from "node:fs";
import * as path from "node:path";
import { PACK_ENFORCEMENT, PACK_NAME, policies } from "../policy/rules";
import { evaluateRun, type PackConfig, type PolicyResult } from "./policy";
import {
  parseHealthCheckCommandLine,
  parsePromoteCommandLine,
  parseVerifyCommandLine,
} from "../lib/verify-step";
import { parseCloudRunService, parseLambdaArn } from "../lib/names";
import {
  CANDIDATE_TAG,
  describeTraffic,
  decodeReleaseStep,
  rolloutPercents,
  stepTiming,
  type ReleaseStep,
} from "../lib/release";

/**
 * How each rollout step is judged and how long it really takes: its wait, then its metrics' delay
 * (lib/release/analysis.ts stepTiming), e.g. `; each step judged by its own traffic (…): 60 s + 180 s`.
 */
export function describeAnalysis(step: Pick<ReleaseStep, "rollout" | "analysis" | "target">): string {
  const a = step.analysis;
  if (!step.rollout || !a) return "";
  const wait = step.rollout.waitSeconds;
  if (a === "off") return `; steps judged by the gate alone (analysis: false), ${wait} s each`;
  const t = stepTiming(wait, a);
  const errors = step.target === "cloudrun" ? "5xx" : "function errors";
  const few =
    a.tooFewRequests === "hold"
      ? `with fewer held up to ${a.maxHoldSeconds} s, then returned`
      : "with fewer passed unjudged";
  return (
    `; each step judged by its own traffic (${errors} <= ${Number((a.maxErrorRate * 100).toPrecision(12))}%, p99 <= ${a.maxP99LatencyMs} ms, ` +
    `at least ${a.minRequests} requests, ${few}), read ${a.delaySeconds} s late: each step takes ${wait} s + ${a.delaySeconds} s = ${t.least} s` +
    (t.most > t.least ? ` (up to ${t.most} s held)` : "")
  );
}
import { PROJECT_DIR, type ProgramRun, type RecordedResource } from "./run";
import type { Change, ExportedResource, ResourceChange } from "./state-diff";

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
          ? `rollback: ${promote.source} must still be in this registry (nothing is copied)${
              promote.signedFor
                ? `, with its signature for commit ${promote.signedFor} checked by signatureKeys`
                : ""
            }`
          : `copy ${promote.source} -> ${promote.destination}${
              promote.signedFor
                ? ` with its signature, checked at both ends by signatureKeys for commit ${promote.signedFor}`
                : ""
            }`;
      }
      const sign = decodeSignStep(text);
      if (sign)
        return `sign ${sign.ref} with ${keyUri(sign.key)} (cosign format; commit ${sign.commit}, stack ${sign.stack})`;
      const attest = decodeAttestStep(text);
      if (attest)
        return `attest ${attest.ref} for ${attest.attestor} with staging's signed Binary Authorization payload (commit ${attest.commit}, stack ${attest.stack}; validated, then written; signs nothing)`;
      const scan = decodeScanStep(text);
      if (scan) {
        const g = scan.gate;
        const image = parseImageRef(scan.ref);
        const by = scannerOf(`${image.registry}/${image.repository}`);
        const api =
          "problem" in by
            ? "the registry's scan"
            : by.registry === "ecr"
              ? "ECR's scan"
              : "Container Analysis";
        const limits = [
          `critical <= ${g.maxCritical}`,
          ...(g.maxHigh === undefined ? [] : [`high <= ${g.maxHigh}`]),
          ...(g.maxMedium === undefined ? [] : [`medium <= ${g.maxMedium}`]),
        ];
        return `scan gate ${scan.ref}: wait up to ${g.deadlineSeconds} s for ${api}, then ${limits.join(", ")}${
          g.allow.length ? `; allowed: ${g.allow.map((a) => `${a.id} until ${a.expires}`).join(", ")}` : ""
        }${g.allowUnscanned ? "; an unscanned image PASSES (allowUnscanned)" : ""}`;
      }
      const release = decodeReleaseStep(text);
      if (release) {
        const what =
          release.target === "cloudrun" ? `revision ${release.revision}` : `version ${release.version}`;
        const gate =
          release.gate === "none"
            ? "no gate"
            : release.target === "cloudrun"
              ? `gate GET <tag ${CANDIDATE_TAG} URL>${release.healthPath}${typeof release.gate === "object" ? ` as ${release.gate.idTokenFor}` : ""}`
              : `gate: invoke version ${release.version} alone`;
        const tries = release.gateRetry
          ? ` (up to ${release.gateRetry.attempts} tries, ${release.gateRetry.intervalSeconds} s apart and growing, ${release.gateRetry.timeoutSeconds} s each; ${release.target === "cloudrun" ? "its own 500 twice" : "a function error"} ends it early)`
          : "";
        const steps = rolloutPercents(release.rollout).join("% -> ");
        const wait = release.rollout ? `, ${release.rollout.waitSeconds}s and the gate after each step` : "";
        const img = release.image;
        const rechecks = [
          ...(img?.signature
            ? [
                `its signature (commit ${img.signature.commit}, stack ${img.signature.stack}, ${img.signature.key ? keyUri(img.signature.key) : "the pinned signatureKeys"})`,
              ]
            : []),
          ...(img?.scan
            ? [
                `its scan (critical <= ${img.scan.maxCritical}${img.scan.maxHigh === undefined ? "" : `, high <= ${img.scan.maxHigh}`})`,
              ]
            : []),
        ];
        const first = rechecks.length ? `re-check ${rechecks.join(" and ")}, then ` : "";
        return `release ${what}: ${first}${gate}${tries}, then ${steps}%${wait}${describeAnalysis(release)}`;
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
        `revision=${t.revision}`,
        ...(i.binaryAuthorization?.useDefault ? ["binaryAuthorization=project policy"] : []),
      ].join(" ");
    }
    case "aws:lambda/alias:Alias":
      return `${i.name} (created at version ${i.functionVersion}; moved only by the release step)`;
    case "aws:lambda/function:Function":
      return [
        `packageType=${i.packageType} imageUri=${i.imageUri} architectures=${JSON.stringify(i.architectures)}`,
        `memory=${i.memorySize}MB timeout=${i.timeout}s ephemeralStorage=${i.ephemeralStorage?.size}MB`,
        `reservedConcurrency=${i.reservedConcurrentExecutions ?? "unreserved"}`,
      ].join(" ");
    case "aws:lambda/functionUrl:FunctionUrl":
      return `on ${i.qualifier ?? "$LATEST"} authorizationType=${i.authorizationType}${i.authorizationType === "NONE" ? " (anyone on the internet)" : ""}`;
    case "aws:lambda/permission:Permission":
      return `${i.action} for ${i.principal} on ${i.qualifier ?? "the unqualified function"}${i.functionUrlAuthType ? ` (function URL auth ${i.functionUrlAuthType})` : ""}`;
    case "gcp:binaryauthorization/attestor:Attestor": {
      const keys = (i.attestationAuthorityNote?.publicKeys ?? []) as { id?: string }[];
      return `${i.name} (note ${i.attestationAuthorityNote?.noteReference}) trusts ${keys.map((k) => k.id).join(", ")}`;
    }
    case "gcp:containeranalysis/note:Note":
      return `${i.name} (ATTESTATION_AUTHORITY)`;
    case "gcp:containeranalysis/noteIamMember:NoteIamMember":
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
export function planNotes(run: ProgramRun, state?: readonly ExportedResource[]): string[] {
  const notes: string[] = [...releaseNotes(run, state)];
  for (const c of run.resources.filter((r) => !r.custom && r.outputs.healthGate === false)) {
    notes.push(
      c.type === "multicloud:gcp:CloudRunService"
        ? `${c.name}: no health gate (private without healthGateServiceAccount, or healthGate: false); traffic moves to each new revision once it is ready, which Cloud Run's startup probe still decides`
        : `${c.name}: no health gate (healthGate: false); the live alias moves to each new version once Lambda has published it`,
    );
  }
  const config = run.config;
  if (config?.scanGate.allowUnscanned)
    notes.push(
      "scanGate.allowUnscanned is true: an image whose scan is missing, failed or unsupported takes traffic unscanned; set it back to false once the registry scans these images (docs/scanning.md)",
    );
  for (const a of config?.scanGate.allow ?? [])
    if (!stillAllowed(a, new Date()))
      notes.push(
        `scanGate.allow: ${a.id} expired on ${a.expires}; it counts again: remove the entry, or renew it with a reason`,
      );
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
  for (const s of config?.services ?? []) {
    if (s.target !== "lambda" || s.reservedConcurrency === undefined) continue;
    // PutFunctionConcurrency runs after CreateFunction (function.go resourceFunctionCreate), and
    // Lambda refuses a reservation that leaves the account under its unreserved minimum; no data
    // source reads the account's limits (hashicorp/terraform-provider-aws#32376), so a preview cannot.
    notes.push(
      `${s.name}: reserves ${s.reservedConcurrency} concurrent executions; Lambda refuses that after creating the function if the account's unreserved concurrency would drop below its minimum (100 on most accounts, less on new ones). Check first: \`aws lambda get-account-settings\` (AccountLimit.UnreservedConcurrentExecutions must stay at least that minimum after ${s.reservedConcurrency} more)`,
    );
  }
  return notes;
}

/** Where a release takes traffic: from where it is now (known from a `--state` export) to the new revision or version. */
function releaseNotes(run: ProgramRun, state?: readonly ExportedResource[]): string[] {
  const notes: string[] = [];
  const steps = run.resources
    .filter((x) => x.type === "command:local:Command")
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const r of steps) {
    const step = decodeReleaseStep(String(r.inputs.create ?? ""));
    if (!step) continue;
    const service = run.resources.find((x) => x.urn === r.parent)?.name ?? r.name;
    const candidate = step.target === "cloudrun" ? step.revision : `version ${step.version}`;
    const now = state ? liveTraffic(step, state) : undefined;
    const from =
      now === undefined
        ? state
          ? "nothing serves yet (first release: it takes all traffic once its gate passes)"
          : "where it is now (pass --state to see it)"
        : describeTraffic(
            now.map((t) => ({ ...t, target: step.target === "lambda" ? `version ${t.target}` : t.target })),
          );
    const unchanged =
      now?.length === 1 && now[0]!.target === (step.target === "cloudrun" ? step.revision : step.version);
    notes.push(
      unchanged
        ? `${service}: ${candidate} already serves 100%; nothing to release`
        : `${service}: release moves traffic from ${from} to ${candidate}, ` +
            (step.rollout
              ? `in steps of ${rolloutPercents(step.rollout).join("%, ")}% (${step.rollout.waitSeconds}s and the gate after each${describeAnalysis(step)})`
              : "all at once") +
            (step.gate === "none" ? ", with no gate" : ", after its own health gate passes") +
            "; a failed gate leaves or returns all traffic to what served before",
    );
  }
  return notes;
}

/** Traffic in an export: a Cloud Run service's `traffics` output, a Lambda alias's version and weights. */
function liveTraffic(
  step: NonNullable<ReturnType<typeof decodeReleaseStep>>,
  state: readonly ExportedResource[],
): { target: string; percent: number }[] | undefined {
  if (step.target === "cloudrun") {
    const name = parseCloudRunService(step.service)?.service;
    const svc = state.find(
      (x) => x.type === "gcp:cloudrunv2/service:Service" && (x.outputs?.name ?? x.inputs?.name) === name,
    );
    const traffics = svc?.outputs?.traffics as { revision?: string; percent?: number }[] | undefined;
    return traffics
      ?.filter((t) => (t.percent ?? 0) > 0)
      .map((t) => ({ target: String(t.revision), percent: t.percent ?? 0 }));
  }
  const fn = parseLambdaArn(step.functionArn)?.functionName;
  const alias = state.find((x) => x.type === "aws:lambda/alias:Alias" && x.outputs?.functionName === fn);
  if (!alias) return undefined;
  const weights = (
    alias.outputs?.routingConfig as { additionalVersionWeights?: Record<string, number> } | undefined
  )?.additionalVersionWeights;
  const extra = Object.entries(weights ?? {}).map(([v, w]) => ({ target: v, percent: Math.round(w * 100) }));
  const rest = 100 - extra.reduce((n, t) => n + t.percent, 0);
  return [{ target: String(alias.outputs?.functionVersion), percent: rest }, ...extra];
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
    const renamed = change?.renamedFrom
      ? `(was ${change.renamedFrom.slice(change.renamedFrom.lastIndexOf("::") + 2)}, an alias)`
      : "";
    const detail = [summarize(r), flags(r), changed, renamed].filter(Boolean).join(" ");
    lines.push(`${"  ".repeat(depth)}${mark} ${r.type} ${r.name}${detail ? `  ${detail}` : ""}`);
    for (const c of children(r.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(c, depth + 1);
  };
  for (const top of children(stack?.urn).sort((a, b) => a.name.localeCompare(b.name))) walk(top, 0);
  for (const d of changes?.filter((c) => c.change === "delete") ?? []) {
    lines.push(
      `- ${d.type} ${d.name}${
        d.revokes
          ? "  REVOKES a binding another grant holds (see the warning)"
          : d.retained
            ? "  (retained: dropped from the state, no cloud call)"
            : ""
      }`,
    );
  }
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
