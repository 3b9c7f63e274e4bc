/**
 * Binary Authorization and the Container Analysis notes and attestations it reads, as the attest step
 * (lib/binauthz/attest.ts), the gcp provider stand-in and Cloud Run's admission meet them, by their
 * real host names (binaryauthorization.googleapis.com, containeranalysis.googleapis.com):
 *
 * - `POST /v1/projects/{p}/notes?noteId={n}` (Container Analysis `projects.notes.create`, what the
 *   provider's Note create calls): an `ATTESTATION_AUTHORITY` note; the body's `attestation.hint`
 *   (the provider sends `attestation`, "Field was renamed in GA API": resource_container_analysis_note.go).
 *   An existing id is 409 `ALREADY_EXISTS`.
 * - `POST /v1/projects/{p}/attestors?attestorId={a}` and `GET /v1/projects/{p}/attestors/{a}`
 *   (`projects.attestors.create`/`get`, resources.proto `Attestor`): `userOwnedGrafeasNote` with
 *   `noteReference`, `publicKeys[{ id, pkixPublicKey{ publicKeyPem, signatureAlgorithm } }]` and
 *   the Computed `delegationServiceAccountEmail`. A PKIX key's `id` "MUST be a valid RFC3986 URI";
 *   left blank it is computed from the DER key's digest (resources.proto `AttestorPublicKey.id`; the
 *   `ni:///sha-256;…` form of Google's sample responses). A note that does not exist is 400.
 * - `GET /v1/projects/{p}/policy` (`projects.getPolicy`): the project's policy, the default
 *   ALWAYS_ALLOW one until it is set; `binaryauthorization.policy.get` needed.
 * - `PUT /v1/projects/{p}/policy` (`projects.updatePolicy`, what `gcloud container binauthz policy
 *   import` sends): `defaultAdmissionRule{ evaluationMode, enforcementMode, requireAttestationsBy }`;
 *   "Each attestor must exist before a policy can reference it" (resources.proto `AdmissionRule`).
 * - `POST /v1/projects/{p}/attestors/{a}:validateAttestationOccurrence` (service.proto): `result`
 *   `VERIFIED` or `ATTESTATION_NOT_VERIFIABLE` with `denialReason`; the caller needs
 *   `binaryauthorization.attestors.verifyImageAttested` (the API reference).
 * - `POST /v1/projects/{p}/occurrences` (grafeas.proto `CreateOccurrence`): an `ATTESTATION`
 *   occurrence (`resourceUri`, `noteName`, `attestation.serializedPayload`, `attestation.signatures[{
 *   publicKeyId, signature }]`, base64: attestation.proto, common.proto). Attaching to a note needs
 *   `containeranalysis.notes.attachOccurrence` on it (the `notes.attacher` role, "Making attestations");
 *   a missing note answers as a denial does. Listed by scans.ts with the scan's occurrences.
 * - `POST /v1/{note}:getIamPolicy` and `:setIamPolicy` (Container Analysis notes IAM, what the
 *   provider's NoteIamMember reads and writes): the note's bindings.
 * - Admission (what Cloud Run asks of a revision with `binaryAuthorization.useDefault`): the project's
 *   policy; under `REQUIRE_ATTESTATION` every attestor in `requireAttestationsBy` needs an attestation
 *   on its note that one of its keys verifies, whose payload names the image's digest, read as the
 *   attestor's service account, which needs `containeranalysis.notes.occurrences.viewer` on the note. "Binary
 *   Authorization uses the digest to look up attestations", and "only the IMAGE_DIGEST is used at deploy
 *   time" (Binary Authorization, multi-project setup and getting started): the occurrence's own
 *   `resourceUri` and the payload's `docker-reference` are not compared. An image by tag is refused.
 *   `DRYRUN_AUDIT_LOG_ONLY` admits. The denial text is GKE's documented form ("Image … denied by
 *   attestor …: No attestations found that were valid and signed by a key trusted by the attestor");
 *   Cloud Run's own wording is not published.
 *
 * Signatures are checked for real (ECDSA P-256, SHA-256, DER), with the attestor's PEM. Callers outside
 * the project are refused as IAM refuses them (auth.ts).
 */
import { createPublicKey, randomUUID, verify } from "node:crypto";
import { bearerToken, googleDenied, ofProject } from "./auth";
import { googleError } from "./cloud-run";
import type { JsonBody, Reply } from "./http";

export interface FakeAttestor {
  name: string;
  userOwnedGrafeasNote: {
    noteReference: string;
    publicKeys: { id: string; pkixPublicKey?: { publicKeyPem?: string; signatureAlgorithm?: string } }[];
    delegationServiceAccountEmail: string;
  };
}

export interface FakeAttestation {
  name: string;
  kind: "ATTESTATION";
  resourceUri: string;
  noteName: string;
  attestation: { serializedPayload: string; signatures: { publicKeyId: string; signature: string }[] };
}

export type Admission = { admitted: true } | { admitted: false; reason: string };

export class BinauthzApi {
  readonly notes = new Set<string>();
  /** Each note's IAM policy bindings: role → members (`:getIamPolicy` / `:setIamPolicy`). */
  readonly noteBindings = new Map<string, Map<string, Set<string>>>();
  readonly attestors = new Map<string, FakeAttestor>();
  readonly policies = new Map<string, JsonBody>();
  readonly attestations: FakeAttestation[] = [];
  /** Every call, in order: what the suites assert the product asked. */
  readonly calls: { op: string; name: string }[] = [];

  constructor(
    private readonly googlePrincipal: (token: string) => string | undefined,
    private readonly projectNumber: (project: string) => string = () => "123456789012",
  ) {}

  handle(
    req: { headers: Record<string, unknown> },
    method: string,
    url: URL,
    body: JsonBody,
    reply: Reply,
  ): boolean {
    const p = url.pathname;
    const caller = this.googlePrincipal(bearerToken(req)) ?? "";
    let m = /^\/v1\/projects\/([^/]+)\/notes$/.exec(p);
    if (m && method === "POST") {
      const name = `projects/${m[1]}/notes/${url.searchParams.get("noteId")}`;
      if (!ofProject(caller, m[1]!))
        return googleDenied(reply, "containeranalysis.notes.create", `projects/${m[1]}`);
      if (this.notes.has(name))
        return (reply(409, googleError(409, `Note ${name} already exists`, "ALREADY_EXISTS")), true);
      this.notes.add(name);
      this.calls.push({ op: "notes.create", name });
      return (reply(200, { ...body, name, kind: "ATTESTATION" }), true);
    }
    m = /^\/v1\/(projects\/([^/]+)\/notes\/[^/:]+):(getIamPolicy|setIamPolicy)$/.exec(p);
    if (m && method === "POST") {
      const [, note, project, op] = m as unknown as [string, string, string, string];
      if (!this.notes.has(note) || !ofProject(caller, project))
        return googleDenied(reply, `containeranalysis.notes.${op}`, note);
      if (op === "setIamPolicy") {
        const bindings = new Map<string, Set<string>>();
        for (const b of (body.policy?.bindings ?? []) as { role: string; members: string[] }[])
          bindings.set(b.role, new Set(b.members));
        this.noteBindings.set(note, bindings);
      }
      const bindings = [...(this.noteBindings.get(note) ?? new Map<string, Set<string>>())].map(
        ([role, members]) => ({
          role,
          members: [...members],
        }),
      );
      return (reply(200, { version: 1, etag: "BwY", bindings }), true);
    }
    m = /^\/v1\/projects\/([^/]+)\/attestors$/.exec(p);
    if (m && method === "POST") {
      const project = m[1]!;
      const name = `projects/${project}/attestors/${url.searchParams.get("attestorId")}`;
      if (!ofProject(caller, project))
        return googleDenied(reply, "binaryauthorization.attestors.create", `projects/${project}`);
      if (this.attestors.has(name))
        return (reply(409, googleError(409, `${name} already exists`, "ALREADY_EXISTS")), true);
      const note = (body.userOwnedGrafeasNote ?? {}) as JsonBody;
      const noteReference = String(note.noteReference ?? "");
      if (!this.notes.has(noteReference))
        return (
          reply(400, googleError(400, `Note ${noteReference} does not exist`, "INVALID_ARGUMENT")),
          true
        );
      const publicKeys = ((note.publicKeys ?? []) as JsonBody[]).map((k) => ({
        ...k,
        id: String(k.id ?? ""),
      }));
      const bad = publicKeys.find((k) => !/^[a-z][a-z0-9+.-]*:/i.test(k.id));
      if (bad)
        return (
          reply(
            400,
            googleError(
              400,
              `Public key id ${JSON.stringify(bad.id)} is not a valid URI`,
              "INVALID_ARGUMENT",
            ),
          ),
          true
        );
      const attestor: FakeAttestor = {
        name,
        userOwnedGrafeasNote: {
          noteReference,
          publicKeys,
          delegationServiceAccountEmail: `service-${this.projectNumber(project)}@gcp-sa-binaryauthorization.iam.gserviceaccount.com`,
        },
      };
      this.attestors.set(name, attestor);
      this.calls.push({ op: "attestors.create", name });
      return (reply(200, attestor), true);
    }
    m = /^\/v1\/(projects\/([^/]+)\/attestors\/[^/:]+)(:validateAttestationOccurrence)?$/.exec(p);
    if (m) {
      const [, name, project, validate] = m as unknown as [string, string, string, string | undefined];
      const attestor = this.attestors.get(name);
      if (!validate && method === "GET") {
        if (!attestor || !ofProject(caller, project))
          return googleDenied(reply, "binaryauthorization.attestors.get", name);
        this.calls.push({ op: "attestors.get", name });
        return (reply(200, attestor), true);
      }
      if (validate && method === "POST") {
        if (!attestor || !ofProject(caller, project))
          return googleDenied(reply, "binaryauthorization.attestors.verifyImageAttested", name);
        this.calls.push({ op: "attestors.validateAttestationOccurrence", name });
        // The payload must name the image the occurrence is for (gcloud's --validate sends both).
        const uriDigest = /@(sha256:[0-9a-f]{64})$/.exec(String(body.occurrenceResourceUri ?? ""))?.[1];
        const named = payloadDigest(String(body.attestation?.serializedPayload ?? ""));
        const problem =
          named !== uriDigest
            ? `the payload names ${named}, not the digest of ${body.occurrenceResourceUri}`
            : this.unverifiable(attestor, String(body.occurrenceNote ?? ""), body.attestation);
        return (
          reply(
            200,
            problem
              ? { result: "ATTESTATION_NOT_VERIFIABLE", denialReason: problem }
              : { result: "VERIFIED" },
          ),
          true
        );
      }
    }
    m = /^\/v1\/projects\/([^/]+)\/policy$/.exec(p);
    if (m && method === "GET") {
      if (!ofProject(caller, m[1]!))
        return googleDenied(reply, "binaryauthorization.policy.get", `projects/${m[1]}/policy`);
      // A project that never set one has the default policy: every image allowed (resources.proto
      // `Policy.default_admission_rule`; "the default policy allows all images", Binary Authorization).
      return (
        reply(200, {
          name: `projects/${m[1]}/policy`,
          globalPolicyEvaluationMode: "ENABLE",
          defaultAdmissionRule: {
            evaluationMode: "ALWAYS_ALLOW",
            enforcementMode: "ENFORCED_BLOCK_AND_AUDIT_LOG",
          },
          ...this.policies.get(m[1]!),
        }),
        true
      );
    }
    if (m && method === "PUT") {
      const required = ((body.defaultAdmissionRule?.requireAttestationsBy ?? []) as string[]).filter(
        (a) => !this.attestors.has(a),
      );
      if (required.length > 0)
        return (
          reply(400, googleError(400, `Attestor ${required[0]} does not exist`, "INVALID_ARGUMENT")),
          true
        );
      this.policies.set(m[1]!, body);
      return (reply(200, { ...body, name: `projects/${m[1]}/policy` }), true);
    }
    m = /^\/v1\/projects\/([^/]+)\/occurrences$/.exec(p);
    if (m && method === "POST") {
      const project = m[1]!;
      if (!ofProject(caller, project))
        return googleDenied(reply, "containeranalysis.occurrences.create", `projects/${project}`);
      const noteName = String(body.noteName ?? "");
      if (!this.notes.has(noteName) || !ofProject(caller, noteName.split("/")[1] ?? ""))
        return googleDenied(reply, "containeranalysis.notes.attachOccurrence", noteName);
      if (!body.attestation || !body.resourceUri)
        return (
          reply(400, googleError(400, "an occurrence needs resourceUri and its details", "INVALID_ARGUMENT")),
          true
        );
      const occurrence: FakeAttestation = {
        name: `projects/${project}/occurrences/${randomUUID()}`,
        kind: "ATTESTATION",
        resourceUri: String(body.resourceUri),
        noteName,
        attestation: body.attestation,
      };
      this.attestations.push(occurrence);
      this.calls.push({ op: "occurrences.create", name: occurrence.name });
      return (reply(200, occurrence), true);
    }
    return false;
  }

  /** The ATTESTATION occurrences of an image in a project, for scans.ts's `occurrences.list`. */
  occurrencesOf(project: string, resourceUrl: string): FakeAttestation[] {
    return this.attestations.filter(
      (o) => o.name.startsWith(`projects/${project}/`) && o.resourceUri === resourceUrl,
    );
  }

  /** Whether the project's policy admits `image` (`host/path@sha256:…`), as Cloud Run asks of a revision. */
  admits(project: string, image: string): Admission {
    const rule = this.policies.get(project)?.defaultAdmissionRule as JsonBody | undefined;
    if (!rule || rule.evaluationMode === "ALWAYS_ALLOW") return { admitted: true };
    const enforced = rule.enforcementMode !== "DRYRUN_AUDIT_LOG_ONLY";
    const deny = (reason: string): Admission => (enforced ? { admitted: false, reason } : { admitted: true });
    if (rule.evaluationMode === "ALWAYS_DENY")
      return deny(`Image ${image} denied by Binary Authorization default admission rule`);
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
    if (!digest)
      return deny(
        `Image ${image} denied by Binary Authorization default admission rule: not deployed by digest`,
      );
    for (const name of (rule.requireAttestationsBy ?? []) as string[]) {
      const attestor = this.attestors.get(name);
      // Binary Authorization reads the note's attestations as the attestor's service account: without
      // `containeranalysis.notes.occurrences.viewer` on the note it finds none (the provider's
      // AttestorAttestationAuthorityNote.delegationServiceAccountEmail).
      const reader = `serviceAccount:${attestor?.userOwnedGrafeasNote.delegationServiceAccountEmail}`;
      const readable = this.noteBindings
        .get(attestor?.userOwnedGrafeasNote.noteReference ?? "")
        ?.get("roles/containeranalysis.notes.occurrences.viewer")
        ?.has(reader);
      const ok =
        attestor &&
        readable &&
        this.attestations.some(
          (o) =>
            o.noteName === attestor.userOwnedGrafeasNote.noteReference &&
            this.unverifiable(attestor, o.noteName, o.attestation) === undefined &&
            payloadDigest(o.attestation.serializedPayload) === digest,
        );
      if (!ok)
        return deny(
          `Image ${image} denied by Binary Authorization default admission rule. Image ${image} denied by attestor ${name}: No attestations found that were valid and signed by a key trusted by the attestor`,
        );
    }
    return { admitted: true };
  }

  /** Why an attestation does not verify against the attestor; undefined when it does. */
  private unverifiable(
    attestor: FakeAttestor,
    note: string,
    attestation: JsonBody | undefined,
  ): string | undefined {
    if (note !== attestor.userOwnedGrafeasNote.noteReference)
      return `the occurrence is on ${note}, not the attestor's note`;
    const payload = Buffer.from(String(attestation?.serializedPayload ?? ""), "base64");
    for (const s of (attestation?.signatures ?? []) as JsonBody[]) {
      const key = attestor.userOwnedGrafeasNote.publicKeys.find((k) => k.id === s.publicKeyId);
      const pem = key?.pkixPublicKey?.publicKeyPem;
      if (!pem) continue;
      try {
        if (
          verify(
            "sha256",
            payload,
            { key: createPublicKey(pem), dsaEncoding: "der" },
            Buffer.from(String(s.signature), "base64"),
          )
        )
          return undefined;
      } catch {
        // a malformed key or signature verifies nothing
      }
    }
    return "No attestations found that were valid and signed by a key trusted by the attestor";
  }
}

function payloadDigest(serialized: string): string | undefined {
  try {
    return JSON.parse(Buffer.from(serialized, "base64").toString("utf8"))?.critical?.image?.[
      "docker-manifest-digest"
    ];
  } catch {
    return undefined;
  }
}
