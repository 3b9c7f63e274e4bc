/**
 * The offline plan against the last deployment: `pulumi stack export` of the stack, compared by URN
 * with what the program registers now. A URN only in the plan is a create, only in the export a
 * delete (a renamed resource shows both), in both an update when an input the program sets differs.
 */
import stringify from "safe-stable-stringify";
import { UserError } from "../lib/errors";
import { secretManagerSecret } from "../lib/names";
import type { RecordedResource } from "./run";

export type Change = "create" | "update" | "replace" | "delete" | "same";

export interface ResourceChange {
  change: Change;
  urn: string;
  type: string;
  name: string;
  /** Inputs that differ (update, replace), top-level names. */
  changed: string[];
  /** The URN in the export this resource was found under, through its `aliases` (a rename). */
  renamedFrom?: string;
  /**
   * For a deleted IAM member grant: the binding it holds, which a resource in the plan holds too.
   * Google's delete removes the member from the binding whatever else holds it, so the delete would
   * revoke the access the kept grant stands for; `pulumi state delete` it first.
   */
  revokes?: string;
  /**
   * A delete of a resource the export marks `retainOnDelete`: the engine drops it from the state and
   * never calls the provider (Pulumi's resource option: "the resource will not be deleted from the
   * cloud provider"), so it revokes nothing.
   */
  retained?: true;
}

/**
 * Inputs whose change replaces the resource: the providers mark them ForceNew (e.g.
 * terraform-provider-aws internal/service/lambda/function.go: `function_name` and `package_type` are
 * `ForceNew: true`; Pulumi calls `function_name` `name`; terraform-provider-google
 * google/services/artifactregistry/resource_artifact_registry_repository.go: `location` is
 * `ForceNew: true`). Only these are known here: any other change
 * shows as an update, which the provider may still turn into a replacement.
 */
const REPLACED_BY: Record<string, readonly string[]> = {
  "aws:lambda/function:Function": ["name", "packageType"],
  "aws:iam/role:Role": ["name"],
  // internal/service/ecr/repository.go: `encryption_configuration` is ForceNew too; on this fixed name
  // the program refuses the change before it registers anything (lib/fixed-names.ts).
  "aws:ecr/repository:Repository": ["name", "encryptionConfigurations"],
  "aws:cloudwatch/logGroup:LogGroup": ["name"],
  "gcp:cloudrunv2/service:Service": ["name", "location", "project"],
  "gcp:artifactregistry/repository:Repository": ["repositoryId", "location", "project", "format"],
  "gcp:serviceaccount/account:Account": ["accountId", "project"],
  "gcp:secretmanager/secretIamMember:SecretIamMember": ["secretId", "role", "member", "project"],
  "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ["name", "location", "role", "member", "project"],
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": [
    "repository",
    "location",
    "role",
    "member",
    "project",
  ],
  // resource_container_analysis_note.go: `name`, `project` ForceNew.
  "gcp:containeranalysis/note:Note": ["name", "project"],
  // resource_binary_authorization_attestor.go: `name`, `project` ForceNew (and the nested
  // `attestation_authority_note.note_reference`, which the program derives from the note's name).
  "gcp:binaryauthorization/attestor:Attestor": ["name", "project"],
  "gcp:containeranalysis/noteIamMember:NoteIamMember": ["note", "role", "member", "project"],
};

/**
 * Inputs the provider stores as something other than what was sent, so its diff compares the new
 * input with the prior state, not the prior input. Each entry: how to read the value on both sides.
 * SecretIamMember: a full `secret_id`'s project is stored as `project`, and `secret_id` is compared
 * by its last segment (terraform-provider-google iam_secret_manager_secret.go, schema
 * `DiffSuppressFunc: tpgresource.CompareSelfLinkOrResourceName`).
 */
export const STORED_AS: Record<string, Record<string, (value: unknown) => unknown>> = {
  "gcp:secretmanager/secretIamMember:SecretIamMember": {
    project: (v) => v,
    secretId: (v) => String(v).split("/").pop(),
  },
  // `attestation_authority_note.delegation_service_account_email` is Computed only: the provider reads
  // it back into the block, and its diff never compares it with an input
  // (resource_binary_authorization_attestor.go).
  "gcp:binaryauthorization/attestor:Attestor": {
    attestationAuthorityNote: (v) => {
      const { delegationServiceAccountEmail: _computed, ...sent } = (v ?? {}) as Record<string, unknown>;
      return stringify(sent);
    },
  },
};

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const DIGEST = /sha256:[a-f0-9]{64}/g;

/**
 * Makes a value comparable across the plan and an export: secrets become one marker (their values
 * are not in an export without --show-secrets), and image digests one placeholder (the plan's are
 * stand-ins: only BuildKit knows the real ones).
 */
function comparable(value: unknown): unknown {
  if (typeof value === "string") return value.replace(DIGEST, "sha256:<digest>");
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === "object") {
    if (SECRET_SIG in value) return "[secret]";
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== "__defaults")
        .map(([k, v]) => [k, comparable(v)]),
    );
  }
  return value;
}

export interface ExportedResource {
  urn: string;
  type: string;
  custom?: boolean;
  inputs?: Record<string, unknown>;
  /** What the provider last reported (after a refresh: the live traffic, the alias's version). */
  outputs?: Record<string, unknown>;
  /** The resource option as the last update left it: a delete then only drops it from the state. */
  retainOnDelete?: boolean;
}

/** Reads `pulumi stack export` output; a clear error names the file when it is not one. */
export function parseStackExport(file: string, text: string): ExportedResource[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not JSON (${(err as Error).message})`, [
      "pass the output of `pulumi stack export --stack <stack> --file <file>`",
    ]);
  }
  const resources = (parsed as { deployment?: { resources?: unknown } })?.deployment?.resources;
  if (resources === undefined) {
    // A stack that was never deployed exports a deployment without resources.
    if ((parsed as { deployment?: unknown })?.deployment !== undefined) return [];
    throw new UserError(`${file}: not a stack export (no "deployment")`, [
      "pass the output of `pulumi stack export --stack <stack> --file <file>`",
    ]);
  }
  if (!Array.isArray(resources)) throw new UserError(`${file}: deployment.resources is not a list`, []);
  return resources as ExportedResource[];
}

const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/**
 * The IAM binding a Google `*IamMember` grant adds its member to (resource, role, member), or
 * undefined for any other type. Every one of them shares that binding with whatever else holds it
 * (terraform-provider-google tpgiamresource/resource_iam_member.go). A secret named in full carries
 * its project (iam_secret_manager_secret.go parses it and stores it as `project`).
 */
export function iamBinding(type: string, inputs: Record<string, unknown> | undefined): string | undefined {
  const i = (inputs ?? {}) as Record<string, string | undefined>;
  const key = (...parts: Array<string | undefined>) =>
    [...parts, i.role, String(i.member).toLowerCase()].join(" ");
  switch (type) {
    case "gcp:secretmanager/secretIamMember:SecretIamMember": {
      const s = secretManagerSecret(String(i.secretId));
      return key("secret", s.project ?? i.project, s.secretId);
    }
    case "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
      return key("run-service", i.project, i.location, i.name);
    case "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember":
      return key("repository", i.project, i.location, i.repository);
    default:
      return undefined;
  }
}

/** Compares the planned resources with an export's, by URN. Providers and the stack are left out. */
export function diffAgainstState(
  planned: readonly RecordedResource[],
  state: readonly ExportedResource[],
): ResourceChange[] {
  const relevant = (type: string) => type !== "pulumi:pulumi:Stack" && !type.startsWith("pulumi:providers:");
  const before = new Map(state.filter((r) => relevant(r.type)).map((r) => [r.urn, r]));
  const out: ResourceChange[] = [];
  const kept = planned.filter((x) => relevant(x.type));
  for (const r of kept) {
    // As the engine does: the URN first, then each alias in turn.
    const found = [r.urn, ...(r.aliasUrns ?? [])].find((u) => before.has(u));
    const old = found === undefined ? undefined : before.get(found);
    if (found !== undefined) before.delete(found);
    const renamedFrom = found !== undefined && found !== r.urn ? { renamedFrom: found } : {};
    if (!old) {
      out.push({ change: "create", urn: r.urn, type: r.type, name: r.name, changed: [] });
      continue;
    }
    const differs = (k: string) => {
      const stored = STORED_AS[r.type]?.[k];
      if (stored) return stored(r.rawInputs[k]) !== stored(old.outputs?.[k] ?? old.inputs?.[k]);
      return stringify(comparable(r.rawInputs[k])) !== stringify(comparable(old.inputs?.[k]));
    };
    const changed = r.custom
      ? Object.keys(r.rawInputs)
          .filter((k) => k !== "__defaults")
          .filter(differs)
          .sort()
      : [];
    const replaced = changed.some((k) => REPLACED_BY[r.type]?.includes(k));
    // A replaced grant of the same binding is created, then deleted: the delete revokes it.
    const binding = replaced ? iamBinding(r.type, r.rawInputs) : undefined;
    const revokes =
      binding !== undefined && binding === iamBinding(old.type, old.inputs) ? { revokes: binding } : {};
    out.push({
      change: changed.length === 0 ? "same" : replaced ? "replace" : "update",
      urn: r.urn,
      type: r.type,
      name: r.name,
      changed,
      ...renamedFrom,
      ...revokes,
    });
  }
  const heldByPlan = new Set(kept.map((r) => iamBinding(r.type, r.rawInputs)).filter((b) => b !== undefined));
  for (const old of before.values()) {
    const binding = iamBinding(old.type, old.inputs);
    out.push({
      change: "delete",
      urn: old.urn,
      type: old.type,
      name: nameOf(old.urn),
      changed: [],
      ...(old.retainOnDelete
        ? { retained: true as const }
        : binding !== undefined && heldByPlan.has(binding)
          ? { revokes: binding }
          : {}),
    });
  }
  return out;
}
