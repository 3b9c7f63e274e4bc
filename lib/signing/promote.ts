/**
 * Promotion with signatures: the source stack's signature is checked at the source, copied with the
 * image byte for byte (its `.sig` manifest and blobs, so the digest of the signature image is the same
 * in both registries), and checked again at the destination, where prod's own services will use it
 * (docs/signing.md). Any failed check stops the copy with the name of the check.
 */
import { UserError } from "../errors";
import type { Credentials, RegistryClient } from "../registry/client";
import { copyImage } from "../registry/copy";
import { sha256Digest } from "../registry/manifest-check";
import { OCI_MANIFEST, signatureTag } from "./simple-signing";
import { verifySignature } from "./verify";

export interface SignedCopyOptions {
  from: { client: RegistryClient; host: string; repository: string; credentials?: Credentials };
  to: {
    client: RegistryClient;
    host: string;
    repository: string;
    credentials?: Credentials;
    plainHttp?: boolean;
  };
  digest: string;
  publicKeyPem: string;
  /** The commit the signature must claim. */
  commit: string;
  /** The stack that must have signed it. */
  stack: string;
  /**
   * The repository the signature must name (`docker-reference`, `host/path`): the source's, where it
   * was signed; it names that one in both registries, being copied byte for byte.
   * @default - unchecked (a rollback: its signature, copied by an earlier promotion, names a
   * repository this copy does not know)
   */
  reference?: string;
}

/** Why a promotion was refused: the image, the digest and the check (lib/signing/verify.ts). */
export class SignatureRefused extends UserError {
  constructor(where: string, digest: string, check: string, problem: string) {
    super(`${where}@${digest}: refused, its signature failed the "${check}" check`, [problem]);
    this.name = "SignatureRefused";
  }
}

/** The checks at one end of the copy; a refusal names that end, the digest and the check. */
async function checkAt(
  end: SignedCopyOptions["from"] | SignedCopyOptions["to"],
  o: SignedCopyOptions,
): Promise<Buffer> {
  const { client, host, repository } = end;
  const { digest, publicKeyPem, commit, stack, reference } = o;
  const at = await verifySignature({ client, repository, digest, publicKeyPem, commit, stack, reference });
  if (!at.ok) throw new SignatureRefused(`${host}/${repository}`, digest, at.check, at.problem);
  return at.signatureManifest;
}

/** Checks the signature at the source; returns the `.sig` manifest's bytes. */
export function checkSourceSignature(o: SignedCopyOptions): Promise<Buffer> {
  return checkAt(o.from, o);
}

/** Copies the `.sig` image (by digest, then its tag) and checks the signature where it now is. */
export async function copySignature(o: SignedCopyOptions, signatureManifest: Buffer): Promise<void> {
  const tag = signatureTag(o.digest);
  const sigDigest = sha256Digest(signatureManifest);
  await copyImage({
    source: `${o.from.host}/${o.from.repository}@${sigDigest}`,
    sourceCredentials: o.from.credentials,
    destination: `${o.to.host}/${o.to.repository}`,
    destinationCredentials: o.to.credentials,
    plainHttp: o.to.plainHttp,
  });
  // Immutable tags: a re-run finds the tag on these very bytes and leaves it.
  if ((await o.to.client.headManifest(o.to.repository, tag, OCI_MANIFEST)) !== sigDigest) {
    await o.to.client.putManifest(o.to.repository, tag, signatureManifest, OCI_MANIFEST);
  }
  await checkAt(o.to, o);
}
