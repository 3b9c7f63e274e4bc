/**
 * cosign's legacy signature format, written and read here so that `cosign verify --key` accepts what
 * staging signs and the product accepts what `cosign sign` (legacy format) made (pure):
 *
 * - The payload is "simple signing" JSON (sigstore/sigstore `pkg/signature/payload/payload.go`
 *   `Cosign`/`SimpleContainerImage`): `critical.identity.docker-reference`, `critical.image.docker-manifest-digest`,
 *   `critical.type` "cosign container image signature", and `optional` claims (here the commit and the
 *   stack). What is signed is sha256(payload) (cosign `specs/SIGNATURE_SPEC.md`, "Hashing Algorithms"),
 *   an ECDSA P-256 signature in DER (sigstore `pkg/signature/ecdsa.go`, `VerifyASN1`).
 * - It is the one layer (`application/vnd.dev.cosign.simplesigning.v1+json`, cosign `pkg/types/media.go`)
 *   of an OCI image manifest whose config is `application/vnd.oci.image.config.v1+json`, with the
 *   base64 signature in the layer annotation `dev.cosignproject.cosign/signature`
 *   (`pkg/oci/static/signature.go`), tagged `sha256-<hex>.sig` in the image's own repository
 *   (`pkg/oci/remote/options.go`, `SignatureTagSuffix`).
 * - Verification ignores `docker-reference` (`specs/SIGNATURE_SPEC.md`) and checks that
 *   `docker-manifest-digest` is the image's digest (`pkg/cosign/verifiers.go` `SimpleClaimVerifier`),
 *   so a `.sig` manifest copied byte for byte into prod's registry verifies there too.
 */
import { createHash } from "node:crypto";

export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const COSIGN_TYPE = "cosign container image signature";
/** Bundle-format signatures (cosign v3's default) carry this artifact type, as an OCI 1.1 referrer. */
export const SIGSTORE_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

/** The claims the product writes in `optional` and checks at promotion. */
export interface SigningClaims {
  /** The git commit the image was built at. */
  commit: string;
  /** The stack that verified and signed it. */
  stack: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** `sha256-<hex>.sig`: where cosign keeps the signatures of `digest`. */
export function signatureTag(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return `sha256-${m[1]}.sig`;
}

/** The payload to sign, as cosign writes it (keys sorted, no spaces: Go's encoding/json of a struct in field order). */
export function simpleSigningPayload(repository: string, digest: string, claims: SigningClaims): Buffer {
  // Go marshals struct fields in declaration order: critical{identity, image, type}, optional.
  const payload = {
    critical: {
      identity: { "docker-reference": repository },
      image: { "docker-manifest-digest": digest },
      type: COSIGN_TYPE,
    },
    optional: { commit: claims.commit, stack: claims.stack },
  };
  return Buffer.from(JSON.stringify(payload));
}

export interface ParsedPayload {
  digest: string;
  reference: string;
  optional: Record<string, unknown>;
}

/** Reads a payload; a problem (a sentence) when it is not simple signing of a cosign signature. */
export function parseSimpleSigningPayload(body: Buffer): ParsedPayload | { problem: string } {
  let doc: {
    critical?: {
      identity?: { "docker-reference"?: unknown };
      image?: { "docker-manifest-digest"?: unknown };
      type?: unknown;
    };
    optional?: unknown;
  };
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    return { problem: "its payload is not JSON" };
  }
  const c = doc?.critical;
  if (c?.type !== COSIGN_TYPE)
    return { problem: `its payload's critical.type is ${JSON.stringify(c?.type)}, not "${COSIGN_TYPE}"` };
  const digest = c.image?.["docker-manifest-digest"];
  if (typeof digest !== "string")
    return { problem: "its payload names no critical.image.docker-manifest-digest" };
  const reference = c.identity?.["docker-reference"];
  const optional =
    doc.optional && typeof doc.optional === "object" ? (doc.optional as Record<string, unknown>) : {};
  return { digest, reference: typeof reference === "string" ? reference : "", optional };
}

/** The blobs and manifest of a `.sig` image holding one signature, as cosign would push them. */
export interface SignatureImage {
  config: Buffer;
  configDigest: string;
  payload: Buffer;
  payloadDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

/**
 * The `.sig` image for one signature: the config is what go-containerregistry writes for an image made
 * by appending one layer to `empty.Image` (cosign `pkg/oci/mutate`), its `diff_ids` the payload's digest.
 */
export function signatureImage(
  payload: Buffer,
  signatureDer: Buffer,
  /** More annotations on the layer (lib/binauthz/payload.ts); cosign reads only its own. */
  annotations: Record<string, string> = {},
): SignatureImage {
  const payloadDigest = sha256(payload);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "",
      created: "0001-01-01T00:00:00Z",
      history: [{ created: "0001-01-01T00:00:00Z" }],
      os: "",
      rootfs: { type: "layers", diff_ids: [payloadDigest] },
      config: {},
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
      layers: [
        {
          mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
          size: payload.length,
          digest: payloadDigest,
          annotations: { [SIGNATURE_ANNOTATION]: signatureDer.toString("base64"), ...annotations },
        },
      ],
    }),
  );
  return { config, configDigest, payload, payloadDigest, manifest, manifestDigest: sha256(manifest) };
}

/** A signature layer of a `.sig` manifest: its payload's digest and the signature it carries. */
export interface SignatureLayer {
  digest: string;
  size: number;
  signature: Buffer;
}

/**
 * The signature layers of a `.sig` manifest (every layer of the simple-signing type that carries a
 * signature: cosign appends one per signing); a problem when the manifest holds none.
 */
export function signatureLayers(manifestBody: string): SignatureLayer[] | { problem: string } {
  let doc: {
    mediaType?: string;
    artifactType?: string;
    layers?: Array<{
      mediaType?: string;
      digest?: string;
      size?: number;
      annotations?: Record<string, string>;
    }>;
  };
  try {
    doc = JSON.parse(manifestBody);
  } catch {
    return { problem: "its .sig manifest is not JSON" };
  }
  if (doc.artifactType === SIGSTORE_BUNDLE_MEDIA_TYPE) {
    return {
      problem:
        "it is a Sigstore bundle (cosign v3's default format), which this product does not read; sign with `cosign sign --new-bundle-format=false`",
    };
  }
  const layers = (doc.layers ?? [])
    .filter(
      (l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && l.annotations?.[SIGNATURE_ANNOTATION] && l.digest,
    )
    .map((l) => ({
      digest: l.digest!,
      size: l.size ?? 0,
      signature: Buffer.from(l.annotations![SIGNATURE_ANNOTATION]!, "base64"),
    }));
  return layers.length > 0
    ? layers
    : { problem: "its .sig manifest holds no simple-signing layer with a signature" };
}
