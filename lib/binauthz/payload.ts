/**
 * Binary Authorization's signed payload, carried inside cosign's `.sig` manifest (pure).
 *
 * Cloud Run enforces Binary Authorization by reading Container Analysis `ATTESTATION` occurrences,
 * not cosign `.sig` tags (../shared/notes/signing-facts.md). An attestation holds a payload and a PKIX
 * signature of it:
 *
 * - The payload is what `gcloud container binauthz create-signature-payload` prints: keys sorted,
 *   indented by two, a newline at the end, `critical.type` "Google cloud binauthz container signature"
 *   (gcloud `googlecloudsdk/command_lib/container/binauthz/util.py`, `MakeSignaturePayload`).
 * - "While an IMAGE_PATH is required to create the signature payload for the attestation, only the
 *   IMAGE_DIGEST is used at deploy time. This means you can deploy an identical container image from
 *   multiple locations with the same attestation" (Binary Authorization, "Get started using the
 *   Google Cloud CLI (GKE)"). So staging signs one payload naming its own repository, and prod, whose
 *   copy has the same digest, attaches it to an attestation of its own image: prod needs no key.
 * - The signature is ECDSA P-256 over sha256(payload), DER: what Cloud KMS `asymmetricSign` returns
 *   and what `openssl dgst -sha256 -sign` writes in Google's PKIX examples.
 *
 * Staging's signing step signs that payload with the same KMS key as the cosign signature and puts
 * both in two annotations of the `.sig` layer, beside cosign's own. cosign reads only its
 * `dev.cosignproject.cosign/*` and `dev.sigstore.cosign/*` annotations (`pkg/oci/static/signature.go`),
 * and the `.sig` manifest travels to prod byte for byte (lib/signing/promote.ts).
 */
import { createHash, createPublicKey } from "node:crypto";
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE } from "../signing/simple-signing";
import { verifiesWith } from "../signing/verify";

export const BINAUTHZ_TYPE = "Google cloud binauthz container signature";
/** The layer annotations that carry Binary Authorization's payload and signature (base64). */
export const BINAUTHZ_PAYLOAD_ANNOTATION = "dev.multicloud-deploy.binauthz/payload";
export const BINAUTHZ_SIGNATURE_ANNOTATION = "dev.multicloud-deploy.binauthz/signature";

/** The payload gcloud's `create-signature-payload` prints for `reference@digest`. */
export function binauthzPayload(reference: string, digest: string): Buffer {
  // Python's json.dumps(indent=2, separators=(',', ': '), sort_keys=True) + "\n": these keys are
  // already in sorted order, and JSON.stringify with an indent uses ": " and "," the same way.
  const doc = {
    critical: {
      identity: { "docker-reference": reference },
      image: { "docker-manifest-digest": digest },
      type: BINAUTHZ_TYPE,
    },
  };
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}

/** The two annotations for a signed payload. */
export function binauthzAnnotations(payload: Buffer, signatureDer: Buffer): Record<string, string> {
  return {
    [BINAUTHZ_PAYLOAD_ANNOTATION]: payload.toString("base64"),
    [BINAUTHZ_SIGNATURE_ANNOTATION]: signatureDer.toString("base64"),
  };
}

/**
 * The id of a PKIX key in an attestor, which each attestation's signature names: RFC 6920's
 * `ni:///sha-256;<base64url of the SHA-256 of the DER SubjectPublicKeyInfo>`, the form Binary
 * Authorization computes when an attestor's PKIX key is given no id (REST `AttestorPublicKey.id`).
 */
export function pkixKeyId(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return `ni:///sha-256;${createHash("sha256").update(der).digest("base64url")}`;
}

export interface BinauthzSignature {
  payload: Buffer;
  signature: Buffer;
}

/**
 * The Binary Authorization payload and signature in a `.sig` manifest for `digest`, checked: signed by
 * `publicKeyPem`, of the Binary Authorization type, naming `digest`. A problem says which of these failed.
 */
export function binauthzSignatureIn(
  manifestBody: string,
  digest: string,
  publicKeyPem: string,
): BinauthzSignature | { problem: string } {
  let doc: { layers?: Array<{ mediaType?: string; annotations?: Record<string, string> }> };
  try {
    doc = JSON.parse(manifestBody);
  } catch {
    return { problem: "its .sig manifest is not JSON" };
  }
  const carriers = (doc.layers ?? []).filter(
    (l) =>
      l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE &&
      l.annotations?.[SIGNATURE_ANNOTATION] &&
      l.annotations[BINAUTHZ_PAYLOAD_ANNOTATION] &&
      l.annotations[BINAUTHZ_SIGNATURE_ANNOTATION],
  );
  if (carriers.length === 0) {
    return {
      problem:
        "its .sig carries no Binary Authorization payload (signed before the product signed one, or by cosign itself); deploy a new commit through staging",
    };
  }
  const key = createPublicKey(publicKeyPem);
  const problems: string[] = [];
  for (const l of carriers) {
    const payload = Buffer.from(l.annotations![BINAUTHZ_PAYLOAD_ANNOTATION]!, "base64");
    const signature = Buffer.from(l.annotations![BINAUTHZ_SIGNATURE_ANNOTATION]!, "base64");
    if (!verifiesWith(key, payload, signature)) {
      problems.push("its Binary Authorization payload is not signed by the pinned key");
      continue;
    }
    let critical: { type?: unknown; image?: { "docker-manifest-digest"?: unknown } } | undefined;
    try {
      critical = (JSON.parse(payload.toString("utf8")) as { critical?: typeof critical }).critical;
    } catch {
      problems.push("its Binary Authorization payload is not JSON");
      continue;
    }
    if (critical?.type !== BINAUTHZ_TYPE) {
      problems.push(`its Binary Authorization payload's critical.type is ${JSON.stringify(critical?.type)}`);
      continue;
    }
    const named = critical.image?.["docker-manifest-digest"];
    if (named !== digest) {
      problems.push(`its Binary Authorization payload names ${String(named)}, not ${digest}`);
      continue;
    }
    return { payload, signature };
  }
  return { problem: problems.join("; ") };
}
