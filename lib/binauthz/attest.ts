/**
 * Writes the Binary Authorization attestation of one image in a promoting stack's Artifact Registry,
 * once its gates have passed, so that Cloud Run admits it (docs/signing.md, "Binary Authorization").
 * The payload and its signature are staging's (lib/binauthz/payload.ts); this only attaches them to
 * an occurrence naming prod's image, as `gcloud container binauthz attestations create --validate`
 * does:
 *
 * 1. The attestor (Binary Authorization REST v1 `projects.attestors.get`): its note is
 *    `userOwnedGrafeasNote.noteReference`, and one of its `publicKeys[].id` must be the id the
 *    signature names, or the attestor does not trust staging's key.
 * 2. Idempotent: an `ATTESTATION` occurrence (Container Analysis REST v1 `projects.occurrences.list`,
 *    `filter=kind="ATTESTATION" AND resourceUrl="…"`) on that note, of the image, with this payload
 *    and signature, is kept. A re-run writes nothing.
 * 3. Validated before it is written (`projects.attestors.validateAttestationOccurrence`): `result`
 *    must be `VERIFIED`; otherwise the step stops with `denialReason`, and nothing is written.
 * 4. Written (`projects.occurrences.create`): `resourceUri` is the image URL with `https://`, as
 *    Container Analysis names images, `noteName` the attestor's note, `attestation.serializedPayload`
 *    and `attestation.signatures[{ publicKeyId, signature }]` base64 (grafeas v1 attestation.proto).
 *
 * 5. Whether it matters: the project's policy (`projects.getPolicy`) must require this attestor under
 *    `REQUIRE_ATTESTATION` with `ENFORCED_BLOCK_AND_AUDIT_LOG`, or Cloud Run admits any image. The
 *    policy is the platform team's (docs/signing.md); the step reports what it found, and says so when
 *    it does not enforce.
 *
 * HTTP errors propagate: a refusal (403 without `containeranalysis.notes.attachOccurrence`) is the
 * API's own message.
 */
import type { HttpClient } from "../release/cloud-run";
import { CONTAINER_ANALYSIS, listOccurrences } from "../scan/container-analysis";
import type { BinauthzSignature } from "./payload";

export const BINARY_AUTHORIZATION = "https://binaryauthorization.googleapis.com";
const REQUEST_TIMEOUT_MS = 30_000;

export interface AttestOptions {
  http: HttpClient;
  /** `projects/<p>/attestors/<a>`. */
  attestor: string;
  /** The project whose Container Analysis stores the occurrence (the image's). */
  project: string;
  /** `host/project/repository/image@sha256:…`: the image Cloud Run will run. */
  image: string;
  signed: BinauthzSignature;
  /** The attestor's id of the key that signed (lib/binauthz/payload.ts `pkixKeyId`). */
  publicKeyId: string;
  endpoints?: { binaryAuthorization: string; containerAnalysis: string };
}

/** What the project's policy does with this attestor: only `enforced` makes Cloud Run refuse. */
export type PolicyState = "enforced" | "dry-run" | "not-required" | "unreadable";

export type AttestResult =
  | { outcome: "created" | "kept"; occurrence: string; policy: PolicyState }
  | { outcome: "refused"; check: "attestor-key" | "validation"; problem: string };

interface Attestor {
  userOwnedGrafeasNote?: { noteReference?: string; publicKeys?: { id?: string }[] };
}
interface AttestationOccurrence {
  name?: string;
  noteName?: string;
  resourceUri?: string;
  attestation?: { serializedPayload?: string; signatures?: { publicKeyId?: string; signature?: string }[] };
}

export async function attestImage(o: AttestOptions): Promise<AttestResult> {
  const ep = o.endpoints ?? {
    binaryAuthorization: BINARY_AUTHORIZATION,
    containerAnalysis: CONTAINER_ANALYSIS,
  };
  const get = async <T>(url: string) => (await o.http.request<T>({ url, timeout: REQUEST_TIMEOUT_MS })).data;
  const post = async <T>(url: string, data: unknown) =>
    (await o.http.request<T>({ url, method: "POST", data, timeout: REQUEST_TIMEOUT_MS })).data;

  const attestor = await get<Attestor>(`${ep.binaryAuthorization}/v1/${o.attestor}`);
  const note = attestor.userOwnedGrafeasNote?.noteReference ?? "";
  const ids = (attestor.userOwnedGrafeasNote?.publicKeys ?? []).map((k) => k.id);
  if (!ids.includes(o.publicKeyId)) {
    return {
      outcome: "refused",
      check: "attestor-key",
      problem: `attestor ${o.attestor} holds no key ${o.publicKeyId} (it has ${ids.join(", ") || "none"}): it does not trust the key that signed`,
    };
  }
  const resourceUri = `https://${o.image}`;
  const attestation = {
    serializedPayload: o.signed.payload.toString("base64"),
    signatures: [{ publicKeyId: o.publicKeyId, signature: o.signed.signature.toString("base64") }],
  };

  const existing = await listOccurrences<AttestationOccurrence>(o.http, {
    project: o.project,
    kind: "ATTESTATION",
    resourceUrl: resourceUri,
    endpoint: ep.containerAnalysis,
  });
  const same = existing.find(
    (x) =>
      x.noteName === note &&
      x.attestation?.serializedPayload === attestation.serializedPayload &&
      x.attestation?.signatures?.some(
        (s) => s.publicKeyId === o.publicKeyId && s.signature === attestation.signatures[0]!.signature,
      ),
  );
  if (same?.name) return { outcome: "kept", occurrence: same.name, policy: await policyState() };

  const verdict = await post<{ result?: string; denialReason?: string }>(
    `${ep.binaryAuthorization}/v1/${o.attestor}:validateAttestationOccurrence`,
    { attestation, occurrenceNote: note, occurrenceResourceUri: resourceUri },
  );
  if (verdict.result !== "VERIFIED") {
    return {
      outcome: "refused",
      check: "validation",
      problem: `Binary Authorization answered ${verdict.result ?? "no result"}${verdict.denialReason ? `: ${verdict.denialReason}` : ""}`,
    };
  }
  const made = await post<AttestationOccurrence>(
    `${ep.containerAnalysis}/v1/projects/${o.project}/occurrences`,
    {
      resourceUri,
      noteName: note,
      attestation,
    },
  );
  return { outcome: "created", occurrence: made.name ?? "", policy: await policyState() };

  async function policyState(): Promise<PolicyState> {
    const project = o.attestor.split("/")[1];
    let rule:
      { evaluationMode?: string; enforcementMode?: string; requireAttestationsBy?: string[] } | undefined;
    try {
      rule = (
        await get<{ defaultAdmissionRule?: typeof rule }>(
          `${ep.binaryAuthorization}/v1/projects/${project}/policy`,
        )
      ).defaultAdmissionRule;
    } catch {
      // Without binaryauthorization.policy.get: the attestation is written; only the report is lost.
      return "unreadable";
    }
    if (rule?.evaluationMode !== "REQUIRE_ATTESTATION" || !rule.requireAttestationsBy?.includes(o.attestor))
      return "not-required";
    return rule.enforcementMode === "DRYRUN_AUDIT_LOG_ONLY" ? "dry-run" : "enforced";
  }
}

/** What to tell the user about a policy that does not enforce this attestor; undefined when it does. */
export function policyWarning(state: PolicyState, attestor: string): string | undefined {
  const project = attestor.split("/")[1];
  switch (state) {
    case "enforced":
      return undefined;
    case "dry-run":
      return `the Binary Authorization policy of ${project} requires ${attestor} in dry run only: Cloud Run logs unattested images and still runs them`;
    case "not-required":
      return `the Binary Authorization policy of ${project} does not require ${attestor}: Cloud Run admits any image until it does (docs/signing.md, "The project's policy is yours")`;
    case "unreadable":
      return `could not read the Binary Authorization policy of ${project} (binaryauthorization.policy.get, docs/iam.md): whether Cloud Run enforces the attestation is unknown`;
  }
}
