/**
 * Checks staging's signature of one digest in a registry, as `cosign verify --key` does for the legacy
 * format (lib/signing/simple-signing.ts), plus the claims the product writes: every check is named, so
 * a refusal says which one failed.
 *
 * 1. `unsigned`: no `sha256-<hex>.sig` manifest in the image's repository.
 * 2. `format`: a `.sig` that is not cosign's simple signing (a Sigstore bundle is said so).
 * 3. `key`: no signature layer verifies against the pinned public key (signed by another key).
 * 4. `digest`: a signature by this key, but of another digest (a `.sig` copied from another image).
 * 5. `commit`: a signature by this key of this digest, but made for another commit.
 * 6. `claims`: made by another stack (the `stack` claim), or as another repository's image
 *    (`docker-reference`): an image of another service or stack signed with a shared key.
 *
 * A registry answer other than 200 or 404 is thrown, never taken for "unsigned".
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { RegistryError, type RegistryClient } from "../registry/client";
import { sha256Digest } from "../registry/manifest-check";
import {
  OCI_MANIFEST,
  parseSimpleSigningPayload,
  signatureLayers,
  signatureTag,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  type SignatureLayer,
} from "./simple-signing";

export type SignatureCheckName = "unsigned" | "format" | "key" | "digest" | "commit" | "claims";

export type SignatureCheck =
  | { ok: true; claims: Record<string, unknown>; signatureManifest: Buffer }
  | { ok: false; check: SignatureCheckName; problem: string };

export interface VerifySignatureOptions {
  client: RegistryClient;
  repository: string;
  digest: string;
  /** The signer's public key (SPKI PEM), pinned in the verifying stack's config. */
  publicKeyPem: string;
  /** The commit the signature must have been made for; unchecked when undefined. */
  commit?: string;
  /** The stack that must have signed it (the `stack` claim); unchecked when undefined. */
  stack?: string;
  /** The repository it must have been signed in (`docker-reference`, `host/path`); unchecked when undefined. */
  reference?: string;
}

/** Whether `signature` (DER ECDSA) is a signature of sha256(payload) by `key`. */
export function verifiesWith(key: KeyObject, payload: Buffer, signature: Buffer): boolean {
  try {
    return cryptoVerify("sha256", payload, { key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

export async function verifySignature(o: VerifySignatureOptions): Promise<SignatureCheck> {
  const key = createPublicKey(o.publicKeyPem);
  const tag = signatureTag(o.digest);
  const fetched = await o.client.getManifest(o.repository, tag, OCI_MANIFEST);
  if (fetched.status === 404) {
    // cosign v3 signs as a Sigstore bundle by default, an OCI referrer rather than a `.sig` tag
    // (cosign cmd/cosign/cli/options/sign.go; verify looks for bundles first, then the tag).
    const referrers = await o.client.getReferrers(o.repository, o.digest);
    if (referrers?.some((r) => r.artifactType === SIGSTORE_BUNDLE_MEDIA_TYPE)) {
      return {
        ok: false,
        check: "format",
        problem: `${o.repository}@${o.digest} carries a Sigstore bundle (cosign v3's default format, an OCI referrer), not a .sig signature; this product reads cosign's legacy format only: sign with \`cosign sign --new-bundle-format=false\`, or let the source stack's signing step sign it`,
      };
    }
    return { ok: false, check: "unsigned", problem: `no signature: ${o.repository}:${tag} does not exist` };
  }
  // Anything else (401, 403, 5xx) says nothing about the signature: an error, never "unsigned", so a
  // signing step never signs on an answer it could not read.
  if (fetched.status !== 200)
    throw new RegistryError(`reading ${o.repository}:${tag} answered ${fetched.status}`, fetched.status);
  const layers = signatureLayers(fetched.body.toString("utf8"));
  if ("problem" in layers)
    return { ok: false, check: "format", problem: `${o.repository}:${tag}: ${layers.problem}` };

  const byKey: Array<{ layer: SignatureLayer; payload: Buffer }> = [];
  for (const layer of layers) {
    const blob = await o.client.getBlob(o.repository, layer.digest);
    // The payload is what the digest names, or it proves nothing.
    if (blob.status !== 200 || sha256Digest(blob.body) !== layer.digest) continue;
    if (verifiesWith(key, blob.body, layer.signature)) byKey.push({ layer, payload: blob.body });
  }
  if (byKey.length === 0) {
    return {
      ok: false,
      check: "key",
      problem: `${o.repository}:${tag} holds no signature by the pinned key (signed by another key)`,
    };
  }
  const parsed = byKey.map((s) => parseSimpleSigningPayload(s.payload));
  const unreadable = parsed.find((p): p is { problem: string } => "problem" in p);
  if (unreadable && parsed.every((p) => "problem" in p)) {
    return {
      ok: false,
      check: "format",
      problem: `${o.repository}:${tag}: signed by the key, but ${unreadable.problem}`,
    };
  }
  const ofDigest = parsed.filter(
    (p): p is Exclude<typeof p, { problem: string }> => !("problem" in p) && p.digest === o.digest,
  );
  if (ofDigest.length === 0) {
    const other = parsed.find((p) => !("problem" in p));
    return {
      ok: false,
      check: "digest",
      problem: `the signature in ${o.repository}:${tag} is of ${other && !("problem" in other) ? other.digest : "no digest"}, not ${o.digest} (a .sig copied from another image)`,
    };
  }
  const match = o.commit === undefined ? ofDigest[0] : ofDigest.find((p) => p.optional.commit === o.commit);
  if (!match) {
    return {
      ok: false,
      check: "commit",
      problem: `${o.digest} was signed for commit ${String(ofDigest[0]!.optional.commit ?? "none")}, not ${o.commit}`,
    };
  }
  // Who signed it for which image: the signing stack, and the repository it was signed in (cosign itself
  // ignores docker-reference; prod does not, so an image of another service or stack is refused).
  if (o.stack !== undefined && match.optional.stack !== o.stack) {
    return {
      ok: false,
      check: "claims",
      problem: `${o.digest} was signed by stack ${String(match.optional.stack ?? "none")}, not ${o.stack}`,
    };
  }
  if (o.reference !== undefined && match.reference !== o.reference) {
    return {
      ok: false,
      check: "claims",
      problem: `${o.digest} was signed as ${match.reference || "no image"}, not ${o.reference}`,
    };
  }
  return { ok: true, claims: match.optional, signatureManifest: fetched.body };
}
