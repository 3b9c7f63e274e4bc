import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { pkixKeyId } from "../lib/binauthz/payload";
import { transform, type Transform } from "../lib/transform";

export const BINARY_AUTHORIZATION_ATTESTOR_TYPE = "multicloud:gcp:BinaryAuthorizationAttestor";

export interface BinaryAuthorizationAttestorArgs {
  /** The project of the attestor, its note and the Cloud Run services it admits images for. */
  project: pulumi.Input<string>;
  /** The attestor's id, which the project's policy names (`projects/<p>/attestors/<id>`); the note's too. */
  attestorId: string;
  /**
   * The source stack's public key (SPKI PEM, ECDSA P-256): the key that signed each image's Binary
   * Authorization payload (lib/binauthz/payload.ts). Its attestor id is RFC 6920's `ni:///sha-256;…`.
   */
  publicKeyPem: string;
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    note?: Transform<gcp.containeranalysis.NoteArgs>;
    attestor?: Transform<gcp.binaryauthorization.AttestorArgs>;
    noteViewer?: Transform<gcp.containeranalysis.NoteIamMemberArgs>;
  };
}

/**
 * The attestor a promoting stack's Binary Authorization policy requires (docs/signing.md, "Binary
 * Authorization"): a Container Analysis `ATTESTATION_AUTHORITY` note, the attestor holding the source
 * stack's public key, and the one grant Binary Authorization needs to read the note's attestations:
 * `roles/containeranalysis.notes.occurrences.viewer` for the attestor's
 * `delegationServiceAccountEmail` ("Attestor administrators must grant this service account the IAM
 * role needed to read attestations from the noteReference": the provider's AttestorAttestationAuthorityNote).
 *
 * The project's policy itself is not this component's: it is one per project and also governs GKE and
 * other deployers, so the platform team sets it once (docs/signing.md gives the commands).
 */
export class BinaryAuthorizationAttestor extends pulumi.ComponentResource {
  /** `projects/<p>/attestors/<id>`: what the attest steps and the policy name. */
  readonly attestorName: pulumi.Output<string>;
  readonly note: gcp.containeranalysis.Note;
  readonly attestor: gcp.binaryauthorization.Attestor;
  readonly noteViewer: gcp.containeranalysis.NoteIamMember;

  constructor(name: string, args: BinaryAuthorizationAttestorArgs, opts?: pulumi.ComponentResourceOptions) {
    super(BINARY_AUTHORIZATION_ATTESTOR_TYPE, name, {}, opts);
    this.note = new gcp.containeranalysis.Note(
      ...transform(
        args.transform?.note,
        `${name}-note`,
        {
          project: args.project,
          name: args.attestorId,
          attestationAuthority: { hint: { humanReadableName: `multicloud-deploy: ${args.attestorId}` } },
        },
        // The project's policy names the attestor, and the attestor its note: deleting them from this
        // program (removing binaryAuthorization, a destroy) must not pull them from under the policy.
        { parent: this, retainOnDelete: true },
      ),
    );
    this.attestor = new gcp.binaryauthorization.Attestor(
      ...transform(
        args.transform?.attestor,
        name,
        {
          project: args.project,
          name: args.attestorId,
          description:
            "Images the source stack verified, scanned and signed, attested once this stack's gates passed",
          attestationAuthorityNote: {
            noteReference: this.note.id,
            publicKeys: [
              {
                id: pkixKeyId(args.publicKeyPem),
                comment: "the source stack's signing key (multicloud-deploy:signatureKeys.gcp)",
                pkixPublicKey: { publicKeyPem: args.publicKeyPem, signatureAlgorithm: "ECDSA_P256_SHA256" },
              },
            ],
          },
        },
        { parent: this, retainOnDelete: true },
      ),
    );
    this.noteViewer = new gcp.containeranalysis.NoteIamMember(
      ...transform(
        args.transform?.noteViewer,
        `${name}-note-viewer`,
        {
          project: args.project,
          note: this.note.name,
          role: "roles/containeranalysis.notes.occurrences.viewer",
          member: this.attestor.attestationAuthorityNote.apply(
            (n) => `serviceAccount:${n.delegationServiceAccountEmail}`,
          ),
        },
        // Without it Binary Authorization reads no attestation, and the policy denies every image.
        { parent: this, retainOnDelete: true },
      ),
    );
    // Through the grant's URN too: an attestation is written, and a revision checked, only once Binary
    // Authorization may read the note.
    this.attestorName = pulumi
      .all([this.attestor.project, this.attestor.name, this.noteViewer.urn])
      .apply(([project, id]) => `projects/${project}/attestors/${id}`);
    this.registerOutputs({ attestorName: this.attestorName });
  }
}
