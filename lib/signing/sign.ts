/**
 * Signs one verified digest in its own repository, unless this key signed it for this commit already
 * (scripts/sign-image.ts runs it; docs/signing.md). Under immutable tags the `.sig` tag is written once:
 * cosign's maintainers answer "verify, else sign" (sigstore/cosign#313, #2775), and so does this.
 */
import { createHash, createPublicKey } from "node:crypto";
import { UserError } from "../errors";
import type { RegistryClient } from "../registry/client";
import type { Signer } from "./kms";
import {
  OCI_MANIFEST,
  signatureImage,
  signatureTag,
  simpleSigningPayload,
  type SigningClaims,
} from "./simple-signing";
import { verifiesWith, verifySignature } from "./verify";
import { binauthzAnnotations, binauthzPayload } from "../binauthz/payload";

export interface SignImageOptions {
  client: RegistryClient;
  /** The repository path in the registry (`project/repo/image`). */
  repository: string;
  /** `host/path`: the `docker-reference` claim. */
  reference: string;
  digest: string;
  signer: Signer;
  claims: SigningClaims;
  /**
   * Also sign Binary Authorization's payload for the digest, carried in the `.sig` layer, so that a
   * promoting stack can attest its copy without a key (lib/binauthz/payload.ts).
   * @default false
   */
  binauthz?: boolean;
}

export type SignResult = { outcome: "signed" | "kept"; tag: string; publicKeyPem: string };

export async function signImage(o: SignImageOptions): Promise<SignResult> {
  const tag = signatureTag(o.digest);
  const publicKeyPem = await o.signer.publicKeyPem();
  const check = () =>
    verifySignature({
      client: o.client,
      repository: o.repository,
      digest: o.digest,
      publicKeyPem,
      commit: o.claims.commit,
    });
  const existing = await check();
  if (existing.ok) return { outcome: "kept", tag, publicKeyPem };
  if (existing.check !== "unsigned") {
    throw new UserError(`${o.reference}@${o.digest} cannot be signed`, [
      `${existing.problem}; the .sig tag exists and tags are immutable, so it cannot be replaced: delete ${o.reference}:${tag} if it is not this stack's, then run the update again`,
    ]);
  }
  const payload = simpleSigningPayload(o.reference, o.digest, o.claims);
  const signature = await o.signer.signDigest(createHash("sha256").update(payload).digest());
  // A KMS answer that its own public key does not verify is never pushed.
  if (!verifiesWith(createPublicKey(publicKeyPem), payload, signature))
    throw new Error(`${o.signer.key} returned a signature its public key does not verify`);
  const image = signatureImage(payload, signature, o.binauthz ? await signBinauthz(o, publicKeyPem) : {});
  for (const [digest, body] of [
    [image.configDigest, image.config],
    [image.payloadDigest, image.payload],
  ] as const) {
    if (!(await o.client.hasBlob(o.repository, digest)))
      await o.client.uploadBlob(o.repository, digest, body);
  }
  await o.client.putManifest(o.repository, tag, image.manifest, OCI_MANIFEST);
  // Read back: what the registry serves now is what prod will check.
  const written = await check();
  if (!written.ok)
    throw new Error(`the signature pushed to ${o.reference}:${tag} does not verify: ${written.problem}`);
  return { outcome: "signed", tag, publicKeyPem };
}

/** Binary Authorization's payload for the digest, signed by the same key and checked like the first. */
async function signBinauthz(o: SignImageOptions, publicKeyPem: string): Promise<Record<string, string>> {
  const payload = binauthzPayload(o.reference, o.digest);
  const signature = await o.signer.signDigest(createHash("sha256").update(payload).digest());
  if (!verifiesWith(createPublicKey(publicKeyPem), payload, signature))
    throw new Error(`${o.signer.key} returned a signature its public key does not verify`);
  return binauthzAnnotations(payload, signature);
}
